/**
 * Starts a private `redis-server` on a free port, for tests, demos and
 * benchmarks, so nothing depends on a shared server and a test can kill and
 * restart it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestCertificates, type TestCertificates } from "./internal/certificates.ts";
import { isFree, pingSocket, randomFreePort } from "./internal/ports.ts";

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

/**
 * A TCP port nobody listens on right now, at random in 10,000–19,999: below
 * the kernel's ephemeral range (32,768–60,999 here), from which every
 * client's own port comes, and below the ports of test clusters
 * (RedisCluster.ts, 20,000–49,999).
 */
export const freePort = (): Promise<number> => randomFreePort(10_000, 10_000);

/** How many ports a server is tried on when another process takes its port first. */
const PORT_TRIES = 5;

/**
 * Starts `redis-server` on a free port (or `opts.port`, to bring a stopped
 * server back where its clients expect it) with persistence off, and waits
 * until it answers PING on its own Unix socket: a server of another test
 * that took the port between {@link freePort} and the start is never taken
 * for this one (the start is tried again on another port).
 *
 * @throws Error when `redis-server` is missing or exits at start (bad
 * arguments, `opts.port` taken), or does not answer within 10 s.
 */
export const startRedisServer = async (
  extraArgs: ReadonlyArray<string> = [],
  opts: { readonly port?: number } = {},
): Promise<RedisServer> => {
  for (let tries = 1; ; tries++) {
    const port = opts.port ?? (await freePort());
    const started = await startOn(port, extraArgs);
    if (started !== "port taken") return started;
    if (opts.port !== undefined || tries === PORT_TRIES)
      throw new Error(`redis-server exited at start: port ${port} is taken`);
  }
};

/** Starts `redis-server` on `port`: the server, or "port taken" when it exited at start because another process listens there. */
const startOn = async (
  port: number,
  extraArgs: ReadonlyArray<string>,
): Promise<RedisServer | "port taken"> => {
  const dir = mkdtempSync(join(tmpdir(), "weft-redis-"));
  // (a test may ask for a socket of its own: it is waited on there)
  const asked = extraArgs.indexOf("--unixsocket");
  const socket = asked >= 0 ? extraArgs[asked + 1]! : join(dir, "redis.sock");
  const proc: ChildProcess = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      ...(asked >= 0 ? [] : ["--unixsocket", socket, "--unixsocketperm", "700"]),
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
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      if (!(await isFree(port))) return "port taken";
      throw new Error(`redis-server exited at start (port ${port})`);
    }
    if (await Promise.race([pingSocket(socket), error])) {
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
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
};

/** A private Redis that also serves TLS, with the CA that signed its certificate. */
export interface TlsRedisServer extends RedisServer {
  readonly tlsPort: number;
  /** `rediss://127.0.0.1:<tlsPort>` */
  readonly tlsUrl: string;
  /** PEM file of the test CA that signed the server's certificate. */
  readonly caFile: string;
  /** The same CA, PEM text. */
  readonly ca: string;
  /** Names the server's certificate carries: `redis.test` and `127.0.0.1`. */
  readonly names: ReadonlyArray<string>;
}

/**
 * Starts `redis-server` with a TLS port beside its plain one: generates (with
 * `openssl`) a throwaway CA and a server certificate for `redis.test` and
 * `127.0.0.1` signed by it. Clients need not present a certificate.
 *
 * @throws Error when `openssl` is missing or `redis-server` was built without TLS.
 */
export const startTlsRedisServer = async (
  extraArgs: ReadonlyArray<string> = [],
): Promise<TlsRedisServer> => {
  const dir = mkdtempSync(join(tmpdir(), "weft-tls-"));
  let certs: TestCertificates;
  try {
    certs = makeTestCertificates(dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const tlsPort = await freePort();
  let server: RedisServer;
  try {
    server = await startRedisServer([
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      certs.certFile,
      "--tls-key-file",
      certs.keyFile,
      "--tls-ca-cert-file",
      certs.caFile,
      "--tls-auth-clients",
      "no",
      ...extraArgs,
    ]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    ...server,
    tlsPort,
    tlsUrl: `rediss://127.0.0.1:${tlsPort}`,
    caFile: certs.caFile,
    ca: certs.ca,
    names: certs.names,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
