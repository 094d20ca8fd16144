/**
 * Opening a Redis connection from a URL (`redis://`, `rediss://`, with an ACL
 * user and a password, TLS with a private CA), with the connection settings
 * that make a command fail fast while Redis is down and the connection come
 * back by itself (see {@link CONNECTION_SETTINGS}), and a clear
 * `StoreUnavailable` instead of a hang when Redis cannot be used.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { StoreUnavailable } from "@weft/core";
import { Redis, type RedisOptions } from "ioredis";
import { storeError } from "./Errors.ts";
import {
  InvalidConnectionOptions,
  parseRedisUrl,
  type RedisUrlParts,
  redactSecrets,
  urlSecrets,
} from "./RedisUrl.ts";

/**
 * TLS settings for a `rediss://` URL, on top of Node's defaults (the system's
 * CAs, the certificate checked against the host name).
 */
export interface RedisTlsOptions {
  /** CA certificate(s) to trust instead of the system's, PEM text (`-----BEGIN CERTIFICATE-----...`). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Path of a PEM file of CA certificate(s) to trust; read when connecting. */
  readonly caFile?: string;
  /** Name the server's certificate must carry, when it differs from the URL's host (an IP address, a tunnel). */
  readonly servername?: string;
  /**
   * `false` accepts any certificate: the connection is encrypted but the
   * server is not authenticated. For tests only. Default `true`.
   */
  readonly rejectUnauthorized?: boolean;
}

/**
 * Longest a blocking read (waiting for work) blocks in one command, ms: well
 * under {@link CONNECTION_SETTINGS}' `commandTimeout`, which it would
 * otherwise trip (a worker with `idleMs` of 30 s simply waits again).
 */
export const BLOCK_MAX_MS = 5_000;

/** Cap on the delay between two reconnection attempts, ms. */
export const RECONNECT_MAX_MS = 1_000;

/**
 * ioredis settings of every connection a store opens from a URL, and why:
 *
 * - `retryStrategy`: reconnect after 100, 200, 400, 800, then every 1 000 ms
 *   (plus up to 100 ms of jitter), forever: the store comes back by itself
 *   within about a second of Redis coming back.
 * - `maxRetriesPerRequest: 1`: a command waiting for a connection fails
 *   after two failed reconnection attempts, so while Redis is down a call
 *   fails within about 2 s (with `StoreUnavailable`) instead of waiting.
 *   A command in flight when the connection drops survives one attempt:
 *   a dropped connection to a live Redis (a killed client, a reset) costs
 *   nothing.
 * - `autoResendUnfulfilledCommands: true` (ioredis's default, kept): a
 *   command sent but unanswered when the connection dropped is sent again
 *   after reconnecting; every Weft script is safe to run twice.
 * - `commandTimeout: 10 000` ms: a command with no answer after that fails
 *   (when a reconnection keeps failing its handshake, ioredis would
 *   otherwise hold a command sent before the drop until it succeeds).
 *   Weft's scripts are bounded to a few ms each; blocking reads (waiting
 *   for work, for a run) block for at most 5 s per command ({@link BLOCK_MAX_MS}).
 * - `connectTimeout`: each connection attempt gives up after
 *   `min(connectTimeoutMs, 2 000)` ms, so an unreachable host does not
 *   hold a reconnection for long.
 */
export const CONNECTION_SETTINGS = {
  retryStrategy: (times: number): number =>
    Math.min(100 * 2 ** Math.max(0, times - 1), RECONNECT_MAX_MS) + Math.floor(Math.random() * 100),
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: true,
  enableOfflineQueue: true,
  commandTimeout: 10_000,
} as const satisfies RedisOptions;

const isPem = (ca: string | Buffer): boolean =>
  /-----BEGIN CERTIFICATE-----/.test(typeof ca === "string" ? ca : ca.toString("latin1"));

const readCa = (file: string): Buffer => {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new InvalidConnectionOptions(
      `cannot read the TLS CA file ${JSON.stringify(file)}: ${(e as Error).message}`,
    );
  }
  if (!isPem(pem)) {
    throw new InvalidConnectionOptions(
      `the TLS CA file ${JSON.stringify(file)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return pem;
};

/** Node's TLS options for a URL and the store's `tls` option, its CA file read and checked. */
const tlsSettings = (
  parts: RedisUrlParts,
  tls: RedisTlsOptions | undefined,
): ConnectionOptions | undefined => {
  if (tls === undefined) return parts.scheme === "rediss" ? {} : undefined;
  if (parts.scheme !== "rediss") {
    throw new InvalidConnectionOptions(
      `TLS options (a CA, a server name) need a rediss:// URL, got ${parts.masked}`,
    );
  }
  const given =
    tls.ca === undefined
      ? []
      : typeof tls.ca === "string" || Buffer.isBuffer(tls.ca)
        ? [tls.ca]
        : [...tls.ca];
  if (!given.every(isPem)) {
    throw new InvalidConnectionOptions(
      "the TLS ca option holds no PEM certificate (-----BEGIN CERTIFICATE-----); to name a file, use caFile",
    );
  }
  const cas = tls.caFile === undefined ? given : [...given, readCa(tls.caFile)];
  return {
    ...(cas.length > 0 ? { ca: cas } : {}),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
  };
};

/** An open connection and what the store needs to describe it safely. */
export interface Connection {
  readonly redis: Redis;
  /** The URL, password masked. */
  readonly url: string;
  /** Every printed form of the password (see `urlSecrets`), to mask in messages. */
  readonly secrets: ReadonlyArray<string>;
}

/**
 * Connects to `url` with {@link CONNECTION_SETTINGS}, waiting until Redis
 * answers a PING, at most `timeoutMs`.
 *
 * @throws InvalidConnectionOptions for a URL that is not a Redis URL, TLS options on a `redis://` URL, or a CA that cannot be read.
 * @throws StoreUnavailable naming the URL (password masked) and what happened: unreachable, authentication failed, TLS handshake failed.
 */
export const connectUrl = async (
  url: string,
  opts: { readonly timeoutMs: number; readonly tls?: RedisTlsOptions },
): Promise<Connection> => {
  // a Unix socket path (`/run/redis.sock`, `?db=2`) goes to ioredis as it is
  const socket = url.startsWith("/");
  const parts: RedisUrlParts = socket
    ? { scheme: "redis", bare: url, masked: url }
    : parseRedisUrl(url);
  if (socket && opts.tls !== undefined) {
    throw new InvalidConnectionOptions(`TLS options do not apply to a Unix socket (${url})`);
  }
  const tls = tlsSettings(parts, opts.tls);
  const secrets = urlSecrets(url);
  const ctx = { url: parts.masked, secrets };
  let redis: Redis;
  try {
    redis = new Redis(parts.bare, {
      ...CONNECTION_SETTINGS,
      lazyConnect: true,
      connectTimeout: Math.min(opts.timeoutMs, 2_000),
      ...(parts.username === undefined ? {} : { username: parts.username }),
      ...(parts.password === undefined ? {} : { password: parts.password }),
      ...(tls === undefined ? {} : { tls }),
    });
  } catch (e) {
    throw storeError(e, ctx);
  }
  let lastError: unknown;
  const onError = (e: unknown) => {
    lastError = e; // the socket's own error (ECONNREFUSED, WRONGPASS, a TLS code) names the cause best
  };
  redis.on("error", onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          const e = new Error(`no answer within ${opts.timeoutMs} ms`);
          (e as { code?: string }).code = "ETIMEDOUT";
          reject(e);
        }, opts.timeoutMs);
      }),
    ]);
    return { redis, url: parts.masked, secrets };
  } catch (e) {
    redis.disconnect();
    redis.on("error", () => undefined); // a late socket error must not be printed as unhandled
    const failure = storeError(lastError ?? e, ctx);
    if (failure instanceof StoreUnavailable) throw failure;
    // connected, but the handshake met something unexpected: the store is still not usable
    throw new StoreUnavailable({
      url: parts.masked,
      reason: redactSecrets((failure as Error).message ?? String(failure), secrets),
      failure: "unreachable",
      cause: failure,
    });
  } finally {
    clearTimeout(timer);
    redis.off("error", onError);
  }
};
