/** The docstring check itself, on small declaration files: it must find what is missing. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { undocumented } from "./surface.ts";

describe("undocumented", () => {
  const dir = mkdtempSync(join(tmpdir(), "weft-surface-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  it("names exported declarations without a /** */ comment, through re-exports", () => {
    write(
      "A.d.ts",
      [
        "/** Documented. */",
        "export declare const good: number;",
        "// a line comment is not a docstring",
        "export declare function bad(): void;",
        "/** Documented class. */",
        "export declare class Good {}",
        "export interface Bare {}",
        "declare const hidden: number;",
        "export { hidden };",
      ].join("\n"),
    );
    write("B.d.ts", "/** B. */\nexport type B = string;\nexport type C = number;\n");
    write(
      "index.d.ts",
      [
        'export { good, bad as renamed, Good, Bare, hidden } from "./A.js";',
        'export * from "./B.ts";',
        'export { Schema } from "effect";',
      ].join("\n"),
    );
    expect(undocumented(join(dir, "index.d.ts"))).toEqual(["Bare", "C", "hidden", "renamed"]);
  });
});
