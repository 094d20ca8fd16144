/**
 * The Lua scripts write some error tags as string literals (a stalled-out
 * node, a skipped dependent, a corrupt record): each must be a tag of core's
 * catalogue (`ErrorTag`, docs/errors.md), so that a tag written in Lua means
 * what the same tag means in TypeScript.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorTag } from "@weft/core";
import { describe, expect, it } from "vitest";

const LUA = fileURLToPath(new URL("../src/lua/", import.meta.url));

/** Every `.lua` file under `dir`, includes too. */
const luaFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? luaFiles(join(dir, e.name))
      : e.name.endsWith(".lua")
        ? [join(dir, e.name)]
        : [],
  );

/**
 * Capitalised words in mixed case (`"Stalled"`, `"CorruptRecord"`): the form
 * of an error tag, never of a Redis command (`"HSET"`), a reply code
 * (`"STALE"`) or a state code (`"X"`).
 */
const TAG_LIKE = /"([A-Z][a-z]+(?:[A-Z][a-z]*)*)"/g;

describe("error tags written by the Lua scripts", () => {
  it("are all tags of the catalogue", () => {
    const catalogue: ReadonlySet<string> = new Set(Object.values(ErrorTag));
    const found = new Map<string, string[]>();
    for (const file of luaFiles(LUA)) {
      const source = readFileSync(file, "utf8").replace(/--[^\n]*/g, ""); // code, not comments
      for (const [, tag] of source.matchAll(TAG_LIKE)) {
        found.set(tag!, [...(found.get(tag!) ?? []), file.slice(LUA.length)]);
      }
    }
    expect(found.size).toBeGreaterThan(0);
    const unknown = [...found].filter(([tag]) => !catalogue.has(tag));
    expect(unknown).toEqual([]);
  });
});
