/**
 * The CLI on a private Redis Cluster (3 primaries with a replica each): every
 * command takes a `redis+cluster://` URL in `--redis` or `REDIS_URL`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { chain, createClient } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { type RedisCluster, startRedisCluster } from "@weft/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { add, double } from "./fixtures/tasks.ts";
import { captureCli as cli } from "./support.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const weft = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

let cluster: RedisCluster;
let store: RedisStore;
let worker: ChildProcess | undefined;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  store = await RedisStore.connect(cluster.url, { prefix: "cli" });
});
afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
  await store?.close();
  await cluster?.stop();
});

it("runs a chain with `weft worker --redis redis+cluster://...`, inspects, lists and cancels runs", async () => {
  let log = "";
  const child = spawn(
    process.execPath,
    [weft, "worker", "test/fixtures/handlers.ts", "--redis", cluster.url, "--prefix", "cli"],
    { cwd: pkgDir, env: { ...process.env, WEFT_LOG_LEVEL: "info" }, stdio: "pipe" },
  );
  worker = child;
  child.stdout.on("data", (d) => {
    log += d;
  });
  child.stderr.on("data", (d) => {
    log += d;
  });
  const exited = once(child, "exit");

  const handle = await createClient(store).submit(
    chain(add.si({ a: 1, b: 2 }), double.s(), double.s()),
  );
  expect(await handle.result({ timeout: 30_000 }), log).toBe(12);
  // runs spread over 16 shards: the run id names its shard
  expect(handle.runId).toMatch(/\.s\d+$/);

  const text = await cli(["inspect", handle.runId, "--redis", cluster.url, "--prefix", "cli"]);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toContain(`run ${handle.runId}  succeeded`);

  child.kill("SIGTERM");
  const [code, signal] = await exited;
  expect({ code, signal }, log).toEqual({ code: 0, signal: null });
  // the worker names the store it ran on
  expect(log).toContain(cluster.url);

  // no worker now: this run stays queued until cancelled
  const queued = await createClient(store).submit(chain(add.si({ a: 1, b: 1 }), double.s()));
  const io = { env: { REDIS_URL: cluster.url } };
  const runs = await cli(["runs", "--prefix", "cli"], io);
  expect(runs.code, runs.stderr).toBe(0);
  expect(runs.stdout).toMatch(
    new RegExp(`^${handle.runId.replace(".", "\\.")} +math\\.add +succeeded +3/3 `, "m"),
  );
  expect(runs.stdout).toContain(queued.runId);
  const cancelled = await cli(["cancel", queued.runId, "--prefix", "cli"], io);
  expect(cancelled).toEqual({ code: 0, stdout: `cancelled run ${queued.runId}\n`, stderr: "" });
});
