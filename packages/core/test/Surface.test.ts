/**
 * The split of @weft/core's public surface (docs/packaging.md): every name a
 * module of src/ exports is exported by exactly one entry point, `@weft/core`
 * (src/index.ts: what an application writes) or `@weft/core/store`
 * (src/store/index.ts: what a store implementer needs); `Store` by both.
 * Modules only the runtime uses stay private. A new export fails this test
 * until it is placed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as app from "../src/index.ts";
import * as store from "../src/store/index.ts";

const src = fileURLToPath(new URL("../src", import.meta.url));

/** Modules the worker runtime uses and nobody else: no entry point exports them. */
const PRIVATE = new Set([
  "HandlerOutput.ts",
  "HookCalls.ts",
  "Leases.ts",
  "Lift.ts",
  "StoreBackoff.ts",
  "Thread.ts",
  "ThreadEntry.ts",
  "WorkerLog.ts",
]);
/** Names in both entry points. */
const BOTH = new Set(["Store"]);

/** The names an entry point re-exports, by the module they come from. */
const entryNames = (file: string): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>();
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"/g)) {
    const names = (m[1] ?? "")
      .split(",")
      .map((n) => n.trim().replace(/^type\s+/, ""))
      .filter((n) => n !== "");
    const module = (m[2] ?? "").replace(/^\.\.?\//, "");
    out.set(module, new Set([...(out.get(module) ?? []), ...names]));
  }
  return out;
};

/** The names a module declares with `export`. */
const moduleNames = (file: string): Set<string> =>
  new Set(
    [
      ...readFileSync(file, "utf8").matchAll(
        /^export (?:declare )?(?:abstract )?(?:const|let|function|class|interface|type|enum) ([\w$]+)/gm,
      ),
    ].map((m) => m[1] ?? ""),
  );

describe("@weft/core's entry points", () => {
  const appNames = entryNames(join(src, "index.ts"));
  const storeNames = entryNames(join(src, "store", "index.ts"));
  const modules = readdirSync(src).filter((f) => f.endsWith(".ts") && f !== "index.ts");

  it("export every name of every public module from exactly one of them (Store from both)", () => {
    const misplaced: string[] = [];
    for (const module of modules) {
      const inApp = appNames.get(module) ?? new Set();
      const inStore = storeNames.get(module) ?? new Set();
      for (const name of moduleNames(join(src, module))) {
        const count = (inApp.has(name) ? 1 : 0) + (inStore.has(name) ? 1 : 0);
        const want = PRIVATE.has(module) ? 0 : BOTH.has(name) ? 2 : 1;
        if (count !== want) misplaced.push(`${module}: ${name} is in ${count} entry points`);
      }
    }
    expect(misplaced).toEqual([]);
  });

  it("keep the state machine, the codec and the compiler out of the application's entry point", () => {
    for (const name of ["createRun", "completeNode", "failNode", "encode", "decode", "compile"]) {
      expect(name in app, name).toBe(false);
      expect(name in store, name).toBe(true);
    }
    for (const name of [
      "task",
      "chain",
      "group",
      "chord",
      "createClient",
      "startWorker",
      "handle",
    ]) {
      expect(name in app, name).toBe(true);
      expect(name in store, name).toBe(false);
    }
  });
});
