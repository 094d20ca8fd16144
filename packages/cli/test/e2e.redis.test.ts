/**
 * End to end on a private Redis: `weft worker` as a child process (through
 * `dist/bin.js`, the built `weft` that package.json's bin names) runs a chain submitted by this process, then
 * `weft inspect`, `runs` and `cancel` read it back, and SIGTERM stops the
 * worker with exit code 0.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chain, createClient, type RunSnapshot, startWorker } from "@weft/core";
import { RedisStore } from "@weft/redis";
import {
  freePort,
  type RedisServer,
  startRedisServer,
  startTlsRedisServer,
  type TlsRedisServer,
} from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handlers } from "./fixtures/handlers.ts";
import { add, double } from "./fixtures/tasks.ts";
import { captureCli } from "./support.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const weft = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
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
    expect(runs.stdout).toMatch(new RegExp(`^${handle.runId} +math\\.add +succeeded +3/3 `, "m"));

    child.kill("SIGTERM");
    const [code, signal] = await exited;
    expect({ code, signal }, workerLog).toEqual({ code: 0, signal: null });
  });

  it("submits a task by name with `weft submit` (prefix from WEFT_PREFIX); a worker runs it and a reader types its result", async () => {
    const submit = () =>
      run(
        process.execPath,
        [
          weft,
          "submit",
          "math.add",
          "--input",
          '{"a":20,"b":22}',
          "-k",
          "answer",
          "--redis",
          redis.url,
        ],
        { cwd: pkgDir, env: { ...process.env, WEFT_PREFIX: "e2e" } },
      );
    const { stdout } = await submit();
    const runId = stdout.trim();
    expect(stdout).toBe(`${runId}\n`);
    expect((await submit()).stdout).toBe(stdout);
    const worker = startWorker({ store, handlers, logger: pino({ level: "silent" }) });
    try {
      const handle = await createClient(store).handle(runId, add);
      expect(await handle.result({ timeout: 30_000 })).toBe(42);
    } finally {
      await worker.stop();
    }
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

describe("weft worker when Redis is not up yet", () => {
  let redis: RedisServer | undefined;
  let worker: ChildProcess | undefined;
  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    await redis?.stop();
  });

  it("waits with backoff, says so, and runs once Redis is up", async () => {
    const password = "st@rt/up:pw#7";
    const port = await freePort();
    const url = `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    const child = spawn(
      process.execPath,
      [weft, "worker", "test/fixtures/handlers.ts", "--redis", url, "--prefix", "late"],
      { cwd: pkgDir, env: { ...process.env, WEFT_LOG_LEVEL: "info" }, stdio: "pipe" },
    );
    worker = child;
    let log = "";
    let onLog: () => void = () => undefined;
    // resolves once the worker has printed `text`; fails if it exits first
    const says = (text: string) =>
      new Promise<void>((resolve, reject) => {
        onLog = () => {
          if (log.includes(text)) resolve();
        };
        onLog();
        child.once("exit", (code) => reject(new Error(`worker exited (${code}):\n${log}`)));
      });
    for (const s of [child.stdout, child.stderr]) {
      s.on("data", (d) => {
        log += d;
        onLog();
      });
    }
    const exited = once(child, "exit");

    await says("retrying in");
    expect(log).toContain(
      `cannot reach the store at redis://:***@127.0.0.1:${port}: connection refused`,
    );
    redis = await startRedisServer(["--requirepass", password], { port });
    await says("worker started");
    const store = await RedisStore.connect(url, { prefix: "late" });
    try {
      const handle = await createClient(store).submit(chain(add.si({ a: 2, b: 2 }), double.s()));
      expect(await handle.result({ timeout: 30_000 }), log).toBe(8);
    } finally {
      await store.close();
    }
    child.kill("SIGTERM");
    const [code] = await exited;
    expect(code, log).toBe(0);
    expect(log).toContain("store reached; starting");
    expect(log).not.toContain(password);
    expect(log).not.toContain(encodeURIComponent(password));
  });
});

describe("weft on Redis over TLS with a private CA", () => {
  let tls: TlsRedisServer;
  beforeAll(async () => {
    tls = await startTlsRedisServer();
  });
  afterAll(async () => {
    await tls?.stop();
  });

  it("connects every command with --tls-ca or REDIS_TLS_CA, and names a TLS failure", async () => {
    const runs = await cli(["runs", "--redis", tls.tlsUrl, "--tls-ca", tls.caFile]);
    expect(runs.code, runs.stderr).toBe(0);
    const viaEnv = await cli(["runs"], {
      env: { REDIS_URL: tls.tlsUrl, REDIS_TLS_CA: tls.caFile },
    });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);

    const store = await RedisStore.connect(tls.tlsUrl, {
      prefix: "tls",
      tls: { caFile: tls.caFile },
    });
    try {
      const stop = new AbortController();
      const worker = cli(
        ["worker", "test/fixtures/handlers.ts", "--prefix", "tls", "--log-level", "silent"],
        {
          cwd: pkgDir,
          env: { REDIS_URL: tls.tlsUrl, REDIS_TLS_CA: tls.caFile },
          signal: stop.signal,
        },
      );
      const handle = await createClient(store).submit(chain(add.si({ a: 1, b: 1 }), double.s()));
      expect(await handle.result({ timeout: 30_000 })).toBe(4);
      const inspect = await cli(["inspect", handle.runId, "--prefix", "tls", "--json"], {
        env: { REDIS_URL: tls.tlsUrl, REDIS_TLS_CA: tls.caFile },
      });
      expect((JSON.parse(inspect.stdout) as RunSnapshot).run.status).toBe("succeeded");
      const cancel = await cli([
        "cancel",
        handle.runId,
        "--prefix",
        "tls",
        "--redis",
        tls.tlsUrl,
        "--tls-ca",
        tls.caFile,
      ]);
      expect(cancel.stdout).toContain("not cancelled: it had already ended (succeeded)");
      stop.abort();
      expect(await worker).toEqual({ code: 0, stdout: "", stderr: "" });
    } finally {
      await store.close();
    }

    const untrusted = await cli(["runs", "--redis", tls.tlsUrl]);
    expect(untrusted).toEqual({
      code: 1,
      stdout: "",
      stderr: `error: TLS handshake with the store at ${tls.tlsUrl} failed: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)\n`,
    });
    const plain = await cli(["runs", "--redis", tls.url, "--tls-ca", tls.caFile]);
    expect(plain.stderr).toBe(
      `error: TLS options (a CA, a server name) need a rediss:// URL, got ${tls.url}\n`,
    );
  });
});
