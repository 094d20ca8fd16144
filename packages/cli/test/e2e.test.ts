/**
 * End to end on a private Redis: `weft worker` as a child process (through
 * the `bin/weft.mjs` launcher) runs a chain submitted by this process, then
 * `weft inspect`, `runs` and `cancel` read it back, and SIGTERM stops the
 * worker with exit code 0.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chain, createClient, type RunSnapshot } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { freePort, type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { add, double } from "./fixtures/tasks.ts";
import { captureCli } from "./support.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const weft = fileURLToPath(new URL("../bin/weft.mjs", import.meta.url));
const run = promisify(execFile);

const cli = captureCli;

describe("weft on a real Redis", () => {
  let redis: RedisServer;
  let store: RedisStore;
  let worker: ChildProcess | undefined;
  let workerLog = "";

  beforeAll(async () => {
    redis = await startRedisServer();
    store = await RedisStore.connect(redis.url, { prefix: "e2e" });
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    await store?.close();
    await redis?.stop();
  });

  it("runs a chain with `weft worker`, inspects it, and stops on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [weft, "worker", "test/fixtures/handlers.ts", "--redis", redis.url, "--prefix", "e2e"],
      { cwd: pkgDir, env: { ...process.env, WEFT_LOG_LEVEL: "warn" }, stdio: "pipe" },
    );
    worker = child;
    child.stdout.on("data", (d) => {
      workerLog += d;
    });
    child.stderr.on("data", (d) => {
      workerLog += d;
    });
    const exited = once(child, "exit");

    const handle = await createClient(store).submit(
      chain(add.si({ a: 1, b: 2 }), double.s(), double.s()),
      { tags: ["e2e"] },
    );
    expect(await handle.result({ timeout: 30_000 }), workerLog).toBe(12);

    const { stdout } = await run(
      process.execPath,
      [weft, "inspect", handle.runId, "--json", "--redis", redis.url, "--prefix", "e2e"],
      { cwd: pkgDir },
    );
    const snap = JSON.parse(stdout) as RunSnapshot;
    expect(snap.run).toMatchObject({ id: handle.runId, status: "succeeded", total: 3, ended: 3 });
    expect(snap.run.tags).toEqual(["e2e"]);
    expect(snap.nodes.map((n) => [n.spec.task, n.state, n.attempts])).toEqual([
      ["math.add", "succeeded", 1],
      ["math.double", "succeeded", 1],
      ["math.double", "succeeded", 1],
    ]);
    expect(snap.nodes.map((n) => n.spec.path)).toEqual([["chain:0"], ["chain:1"], ["chain:2"]]);

    const text = await cli(["inspect", handle.runId, "--redis", redis.url, "--prefix", "e2e"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`run ${handle.runId}  succeeded`);
    expect(text.stdout).toMatch(/└─ #2 math\.double +succeeded +1 attempt/);

    const runs = await cli(["runs", "--redis", redis.url, "--prefix", "e2e"]);
    expect(runs.stdout).toMatch(new RegExp(`^${handle.runId} +succeeded +3/3 `, "m"));

    child.kill("SIGTERM");
    const [code, signal] = await exited;
    expect({ code, signal }, workerLog).toEqual({ code: 0, signal: null });
  });

  it("cancels a queued run that no worker consumes", async () => {
    const handle = await createClient(store).submit(chain(add.si({ a: 1, b: 1 }), double.s()));
    const io = { env: { REDIS_URL: redis.url } };
    const first = await cli(["cancel", handle.runId, "--prefix", "e2e"], io);
    expect(first).toEqual({ code: 0, stdout: `cancelled run ${handle.runId}\n`, stderr: "" });
    const again = await cli(["cancel", handle.runId, "--prefix", "e2e"], io);
    expect(again.stdout).toContain("not cancelled: it had already ended (cancelled)");
    const missing = await cli(["inspect", "nope", "--prefix", "e2e"], io);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("run nope not found");
  });

  it("names an unreachable Redis with its password masked, exit 1", async () => {
    const url = `redis://app:s3cret@127.0.0.1:${await freePort()}`;
    const r = await cli(["runs", "--redis", url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`cannot reach the store at redis://app:***@127.0.0.1:`);
    expect(r.stderr).not.toContain("s3cret");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});
