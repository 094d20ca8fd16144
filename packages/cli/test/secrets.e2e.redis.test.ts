/**
 * A password never shows, end to end: a real Redis with an awkward
 * password, `weft worker` as a child process (log level debug), CLI commands
 * in-process and as child processes, a producer in this process. Then the
 * password changes under them (CONFIG SET requirepass, CLIENT KILL) so every
 * reconnection fails authentication; every byte they print or log is
 * searched for the password, and the failure is named for what it is.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { chain, createClient, StoreUnavailable } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { add, double } from "./fixtures/tasks.ts";
import { captureCli } from "./support.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const weft = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

const PASSWORD = "p@ss/w:rd#1%";
/** Every form the password could be printed in. */
const FORMS = [PASSWORD, encodeURIComponent(PASSWORD), "w:rd#1", "ss/w:rd"];

/** Runs `weft` as a child process and collects everything it prints. */
const weftProcess = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [weft, ...args],
      { cwd: pkgDir, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({
          code: error ? ((error as { code?: number }).code ?? 1) : 0,
          output: stdout + stderr,
        });
      },
    );
  });

describe("secrets", () => {
  let server: RedisServer | undefined;
  let worker: ChildProcess | undefined;
  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    await server?.stop();
  });

  it("never prints the password, and says authentication failed when it changes", async () => {
    server = await startRedisServer(["--requirepass", PASSWORD]);
    const admin = new Redis({ host: "127.0.0.1", port: server.port, password: PASSWORD });
    admin.on("error", () => undefined);
    // written unencoded, the hardest case for masking
    const url = `redis://:${PASSWORD}@127.0.0.1:${server.port}`;
    const masked = `redis://:***@127.0.0.1:${server.port}`;
    const captured: Record<string, string> = {};

    // a worker process, told the URL through the environment
    let workerOutput = "";
    let onOutput: () => void = () => undefined;
    const child = spawn(
      process.execPath,
      [weft, "worker", "test/fixtures/handlers.ts", "--prefix", "sec"],
      {
        cwd: pkgDir,
        env: { ...process.env, REDIS_URL: url, WEFT_LOG_LEVEL: "debug" },
        stdio: "pipe",
      },
    );
    worker = child;
    const collect = (d: Buffer) => {
      workerOutput += d;
      onOutput();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const exited = once(child, "exit");
    // resolves once the worker has printed `text`; fails if it exits first
    const workerSays = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (workerOutput.includes(text)) resolve();
        };
        onOutput = check;
        check();
        child.once("exit", (code) =>
          reject(new Error(`worker exited (${code}):\n${workerOutput}`)),
        );
      });

    // a producer in this process, and CLI commands while all is well
    const store = await RedisStore.connect(url, { prefix: "sec" });
    const client = createClient(store);
    const handle = await client.submit(chain(add.si({ a: 1, b: 2 }), double.s()));
    expect(await handle.result({ timeout: 30_000 }), workerOutput).toBe(6);
    const inspectOk = await captureCli([
      "inspect",
      handle.runId,
      "--redis",
      url,
      "--prefix",
      "sec",
    ]);
    expect(inspectOk.code, inspectOk.stderr).toBe(0);
    captured.inspectOk = JSON.stringify(inspectOk);
    captured.help = JSON.stringify(
      await captureCli(["runs", "--help"], { env: { REDIS_URL: url } }),
    );
    const runsOk = await weftProcess(["runs", "--prefix", "sec"], { REDIS_URL: url });
    expect(runsOk.code, runsOk.output).toBe(0);
    expect(runsOk.output).toContain(handle.runId);
    captured.runsOk = runsOk.output;

    // the password changes; every connection is dropped and reconnects with the old one
    await admin.config("SET", "requirepass", "the-new-passw0rd");
    await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    await workerSays("authentication failed");
    // it keeps retrying, and says so with backoff (not a line per failed call)
    await workerSays("the store is still unavailable after");

    const runsDenied = await captureCli(["runs", "--redis", url, "--prefix", "sec"]);
    expect(runsDenied.code).toBe(1);
    expect(runsDenied.stderr).toMatch(
      new RegExp(
        `^error: authentication failed at the store at ${masked.replace(/[.*]/g, "\\$&")}: WRONGPASS`,
      ),
    );
    expect(runsDenied.stderr.trimEnd().split("\n")).toHaveLength(1);
    captured.runsDenied = JSON.stringify(runsDenied);
    const inspectDenied = await captureCli(["inspect", handle.runId, "--prefix", "sec"], {
      env: { REDIS_URL: url, WEFT_DEBUG: "1" },
    });
    expect(inspectDenied.code).toBe(1);
    expect(inspectDenied.stderr).toContain("authentication failed");
    captured.inspectDenied = JSON.stringify(inspectDenied);
    const workerDenied = await weftProcess(["worker", "test/fixtures/handlers.ts", "--redis", url]);
    expect(workerDenied.code).toBe(1);
    expect(workerDenied.output).toContain("error: authentication failed at the store");
    captured.workerDenied = workerDenied.output;

    const submitDenied = await client.submit(double.si(1)).catch((e: unknown) => e);
    expect(submitDenied).toBeInstanceOf(StoreUnavailable);
    expect((submitDenied as StoreUnavailable).failure).toBe("auth");
    let logged = "";
    const sink = {
      write: (line: string) => {
        logged += line;
      },
    };
    pino({}, sink).error({ err: submitDenied }, "submit failed");
    captured.submitDenied = `${inspect(submitDenied, { depth: 10 })}\n${JSON.stringify(submitDenied)}\n${logged}`;
    await store.close();
    admin.disconnect();

    child.kill("SIGTERM");
    const [code] = await exited;
    expect(code, workerOutput).toBe(0);
    captured.worker = workerOutput;
    expect(workerOutput).toContain(`"store":"${masked}"`);
    expect(workerOutput).toContain("authentication failed at the store");

    for (const [what, text] of Object.entries(captured)) {
      for (const form of FORMS) expect(text, `${what} shows ${form}`).not.toContain(form);
    }
  });
});
