/**
 * The bindings every script's source starts with (Scripts.ts), run on a
 * private Redis: a key, argument or reply code the definition does not name
 * is an error that names it, never another key.
 */
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { type AnyScriptSpec, assembleScript } from "../src/Scripts.ts";

let server: RedisServer;
let raw: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  raw = new Redis(server.url);
});
afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

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

describe("a script's bindings", () => {
  it("an include that needs a key the script was not handed (events, to emit) raises an error naming it", async () => {
    const body = [
      "--@include run",
      "local M = openRun(K, {}, A.runId, A.now)",
      'M.status = "running"',
      "emit(M)",
      "return { R.OK }",
    ].join("\n");
    await expect(run(body, keys, ["r1", 1])).rejects.toThrow(/script probe has no key events/);
    // nothing was written under any other name
    expect(await raw.keys("*")).toEqual([]);
  });

  it("with the key handed, the same include runs", async () => {
    const withEvents: AnyScriptSpec = { ...probe, keys: [...probe.keys, "events"] };
    const body = [
      "--@include run",
      "local M = openRun(K, {}, A.runId, A.now)",
      'M.status = "running"',
      "emit(M)",
      "return { R.OK }",
    ].join("\n");
    const events = shardKeys("probe", 0).events;
    const reply = await raw.eval(
      assembleScript(withEvents, body),
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

  it("an argument, a reply code or a key the definition does not name raises an error naming it", async () => {
    await expect(run("return { R.OK, A.node }", keys, ["r1", 1])).rejects.toThrow(
      /script probe has no argument node/,
    );
    await expect(run("return { R.STALE }", keys, ["r1", 1])).rejects.toThrow(
      /script probe has no reply code STALE/,
    );
    // a key the definition names but the caller did not pass
    await expect(run("return { R.OK, K.shardWork }", keys.slice(0, 5), ["r1", 1])).rejects.toThrow(
      /script probe has no key shardWork/,
    );
    // a number argument that is not a number
    await expect(run("return { R.OK, A.now }", keys, ["r1", "soon"])).rejects.toThrow(
      /script probe has no argument now \(not passed, or not of its kind\)/,
    );
  });
});
