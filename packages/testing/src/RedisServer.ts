/**
 * Starts a private `redis-server` on a free port, for tests, demos and
 * benchmarks, so nothing depends on a shared server and a test can kill and
 * restart it.
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running private Redis. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
}

/** Whether a `redis-server` binary is on PATH. */
export const hasRedisServer = (): boolean => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** A TCP port nobody listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port")),
      );
    });
  });

const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const sock = createConnection({ port, host: "127.0.0.1" });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    // a server started with --requirepass answers NOAUTH: it is up all the same
    sock.once("data", (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
    sock.setTimeout(1_000, () => done(false));
  });

/**
 * Starts `redis-server` on a free port (or `opts.port`, to bring a stopped
 * server back where its clients expect it) with persistence off, and waits
 * until it answers PING.
 *
 * @throws Error when `redis-server` is missing or does not answer within 10 s.
 */
export const startRedisServer = async (
  extraArgs: ReadonlyArray<string> = [],
  opts: { readonly port?: number } = {},
): Promise<RedisServer> => {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), "weft-redis-"));
  const proc: ChildProcess = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      ...extraArgs,
    ],
    { stdio: "ignore" },
  );
  let exited = false;
  proc.once("exit", () => {
    exited = true;
  });
  const error = new Promise<never>((_, reject) => proc.once("error", reject));
  error.catch(() => undefined);
  for (let i = 0; i < 200; i++) {
    if (exited) throw new Error(`redis-server exited at start (port ${port})`);
    if (await Promise.race([ping(port), error])) {
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        stop: async () => {
          if (!exited) {
            const gone = new Promise((r) => proc.once("exit", r));
            proc.kill("SIGTERM");
            await gone;
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
};
