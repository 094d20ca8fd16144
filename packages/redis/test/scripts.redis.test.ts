/**
 * The bindings every script's source starts with (Scripts.ts), run on a
 * private Redis: a key, argument or reply code the definition does not name
 * is an error that names it, never another key.
 */
import { describe, expect, it } from "vitest";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { type AnyScriptSpec, assembleScript } from "../src/Scripts.ts";
import { raw } from "./fixtures/server.ts";

/** A probe script over the run includes, handed the run's hash and work keys but not the shard's events. */
const probe: AnyScriptSpec = {
  name: "probe",
  keys: ["record", "nodes", "specs", "results", "work", "shardWork"],
  perQueue: false,
  argv: { runId: "string", now: "number" },
  codes: ["OK"],
  decode: (code) => code,
};

const run = (body: string, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) =>
  raw.eval(assembleScript(probe, body), keys.length, ...keys, ...args);

const keys = (() => {
  const k = runScriptKeys(shardKeys("probe", 0), "r1");
  return [k.record, k.nodes, k.specs, k.results, k.work, k.shardWork];
})();

const emitBody = [
  "--@include run",
  "local M = openRun(K, {}, A.runId, A.now)",
  'M.status = "running"',
  'emit(M, "run")',
  "return { R.OK }",
].join("\n");

describe("a script's bindings", () => {
  it("an include that needs a key the script was not handed (events, to emit) raises an error naming it", async () => {
    await expect(run(emitBody, keys, ["r1", 1])).rejects.toThrow(
      /script probe was not handed key events/,
    );
    // nothing was written, under any name
    expect(await raw.keys("*")).toEqual([]);
  });

  it("with the key handed, the same include runs", async () => {
    const withEvents: AnyScriptSpec = { ...probe, keys: [...probe.keys, "events"] };
    const events = shardKeys("probe", 0).events;
    const reply = await raw.eval(
      assembleScript(withEvents, emitBody),
      keys.length + 1,
      ...keys,
      events,
      "r1",
      1,
    );
    expect(reply).toEqual(["OK"]);
    expect(await raw.xlen(events)).toBe(1);
    await raw.del(events);
  });

  it("a key its caller did not pass raises an error naming it when an include reads it", async () => {
    const body = [
      "--@include cascade",
      "local M = openRun(K, {}, A.runId, A.now)",
      "return { R.OK, endEarly(M, 1) }",
    ];
    await expect(run(body.join("\n"), keys.slice(0, 5), ["r1", 1])).rejects.toThrow(
      /script probe was not handed key shardWork/,
    );
  });

  it("a key, an argument or a reply code the definition does not list is refused when the source is assembled", () => {
    expect(() => assembleScript(probe, "return { R.STALE }")).toThrow(
      "script probe uses reply code STALE, which its definition does not list",
    );
    expect(() => assembleScript(probe, "return { R.OK, A.node }")).toThrow(
      "script probe uses argument node, which its definition does not list",
    );
    expect(() => assembleScript(probe, 'redis.call("XADD", K.events, "*", "a", 1)')).toThrow(
      "script probe uses key events, which its definition does not list",
    );
    // names in comments and strings are text, not bindings
    expect(assembleScript(probe, '-- R.STALE\nreturn { R.OK, "K.events" }')).toContain(
      'return { "OK", "K.events" }',
    );
  });
});
