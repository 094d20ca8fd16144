/**
 * Opening a Redis connection from a URL (`redis://`, `rediss://`, with an ACL
 * user and a password, TLS with a private CA; `redis+cluster://` for a Redis
 * Cluster), with the connection settings
 * that make a command fail fast while Redis is down and the connection come
 * back by itself (see {@link CONNECTION_SETTINGS}), and a clear
 * `StoreUnavailable` instead of a hang when Redis cannot be used.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { StoreUnavailable } from "@weft/core";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { storeError } from "./Errors.ts";
import {
  InvalidConnectionOptions,
  isClusterUrl,
  parseClusterUrl,
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
 * - `enableAutoPipelining: false`: the store's scripts sent in one tick of
 *   the event loop (a worker's completions and its next claim) still leave
 *   in one write, not one system call each: the store corks the socket
 *   until the end of the tick (Turn.ts), which costs less than the pipeline
 *   ioredis builds for every tick (about 40 µs of CPU per round trip).
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
  enableAutoPipelining: false,
} as const satisfies RedisOptions;

/**
 * ioredis settings of every Redis Cluster client a store opens from a URL
 * (see docs/operations.md, "Running on Redis Cluster"), and why:
 *
 * - `retryDelayOnFailover: 300`, `retryDelayOnClusterDown: 300`,
 *   `retryDelayOnTryAgain: 100`, `maxRedirections: 16`: a command whose
 *   node went away (a killed primary), that met `CLUSTERDOWN` (the cluster
 *   noticed a failed primary and has not promoted its replica yet) or
 *   `TRYAGAIN` (a slot migrating) is sent again after that delay, with the
 *   slot map refreshed, up to 16 times (about 5 s): a failover that ends
 *   within that costs the caller a delay, not an error. `MOVED` and `ASK`
 *   are followed at once. After that the call fails with `StoreUnavailable`,
 *   and a worker retries it later.
 * - `enableOfflineQueue: false`: while the client has lost every node (the
 *   whole cluster unreachable), a call fails at once with `StoreUnavailable`
 *   instead of waiting, without a bound, for the cluster to come back.
 * - `clusterRetryStrategy`: the client reconnects after 100, 200, 400, 800,
 *   then every 1 000 ms, forever, as {@link CONNECTION_SETTINGS}.
 * - `slotsRefreshTimeout: 2 000` ms: a node that does not answer the slot
 *   map query in time is skipped for the next one.
 *
 * Each node connection gets `commandTimeout` (10 s) and the store's
 * `connectTimeout`, as a single Redis does.
 */
export const CLUSTER_SETTINGS = {
  retryDelayOnFailover: 300,
  retryDelayOnClusterDown: 300,
  retryDelayOnTryAgain: 100,
  maxRedirections: 16,
  enableOfflineQueue: false,
  clusterRetryStrategy: CONNECTION_SETTINGS.retryStrategy,
  slotsRefreshTimeout: 2_000,
  redisOptions: { commandTimeout: CONNECTION_SETTINGS.commandTimeout },
} as const satisfies ClusterOptions;

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
  parts: Pick<RedisUrlParts, "scheme" | "masked">,
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
  readonly redis: Redis | Cluster;
  /** The URL, password masked. */
  readonly url: string;
  /** Every printed form of the password (see `urlSecrets`), to mask in messages. */
  readonly secrets: ReadonlyArray<string>;
}

/**
 * Selects the database the URL names (`/3`, `?db=3`) again, this time
 * waiting for the answer: ioredis selects it when the connection is ready
 * but only emits an error when the server refuses (an index past its
 * `databases` setting), and the connection then stays on database 0, where
 * every run would be written.
 *
 * @throws InvalidConnectionOptions naming the database and Redis's answer.
 */
const checkDatabase = async (redis: Redis, masked: string): Promise<void> => {
  const db = redis.options.db ?? 0;
  if (db === 0) return;
  try {
    await redis.select(db);
  } catch (e) {
    throw new InvalidConnectionOptions(
      `${masked} names database ${db}, which the server refuses: ${(e as Error).message}`,
    );
  }
};

/**
 * Connects to `url` with {@link CONNECTION_SETTINGS}, waiting until Redis
 * answers a PING, at most `timeoutMs`.
 *
 * @throws InvalidConnectionOptions for a URL that is not a Redis URL, TLS options on a `redis://` URL, a CA that cannot be read, or a database the server refuses (`/99` on a server of 16).
 * @throws StoreUnavailable naming the URL (password masked) and what happened: unreachable, authentication failed, TLS handshake failed.
 */
export const connectUrl = async (
  url: string,
  opts: {
    readonly timeoutMs: number;
    readonly tls?: RedisTlsOptions;
    readonly cluster?: boolean;
  },
): Promise<Connection> => {
  if (opts.cluster || isClusterUrl(url)) return connectCluster(url, opts);
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
      redis
        .connect()
        .then(() => redis.ping())
        .then(() => checkDatabase(redis, parts.masked)),
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
    if (e instanceof InvalidConnectionOptions) throw e;
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

/**
 * Connects to the Redis Cluster `url` names (`redis+cluster://`, or a
 * `redis://` URL of one node when the store's `cluster` option is set) with
 * {@link CLUSTER_SETTINGS}, the URL's credentials and TLS for every node,
 * waiting until the cluster is ready (its slot map read, `CLUSTER INFO`
 * saying ok) and answers a PING, at most `timeoutMs`.
 *
 * @throws InvalidConnectionOptions for a URL that is not a cluster URL, TLS options without `rediss`, or a CA that cannot be read.
 * @throws StoreUnavailable naming the URL (password masked) and what happened.
 */
const connectCluster = async (
  url: string,
  opts: { readonly timeoutMs: number; readonly tls?: RedisTlsOptions },
): Promise<Connection> => {
  const parts = parseClusterUrl(url, { plain: true });
  const tls = tlsSettings(parts, opts.tls);
  const secrets = urlSecrets(url);
  const ctx = { url: parts.masked, secrets };
  let cluster: Cluster;
  try {
    cluster = new Cluster(
      parts.seeds.map((s) => ({ host: s.host, port: s.port })),
      {
        ...CLUSTER_SETTINGS,
        lazyConnect: true,
        // with TLS the nodes are reached by the names the cluster announces, so that
        // certificates are checked against them (ioredis resolves them to IPs otherwise)
        ...(tls === undefined ? {} : { dnsLookup: (address, callback) => callback(null, address) }),
        redisOptions: {
          ...CLUSTER_SETTINGS.redisOptions,
          connectTimeout: Math.min(opts.timeoutMs, 2_000),
          ...(parts.username === undefined ? {} : { username: parts.username }),
          ...(parts.password === undefined ? {} : { password: parts.password }),
          ...(tls === undefined ? {} : { tls }),
        },
      },
    );
  } catch (e) {
    throw storeError(e, ctx);
  }
  let lastError: unknown;
  // a node's own error (ECONNREFUSED, WRONGPASS, a TLS code) names the cause best
  const onError = (e: unknown) => {
    lastError = e;
  };
  cluster.on("error", onError);
  cluster.on("node error", onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      cluster.connect().then(() => cluster.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          const e = new Error(`no answer within ${opts.timeoutMs} ms`);
          (e as { code?: string }).code = "ETIMEDOUT";
          reject(e);
        }, opts.timeoutMs);
      }),
    ]);
    return { redis: cluster, url: parts.masked, secrets };
  } catch (e) {
    cluster.disconnect();
    cluster.on("error", () => undefined);
    cluster.on("node error", () => undefined);
    let failure = storeError(lastError ?? e, ctx);
    // the slot map is read on connections whose own errors ioredis drops (a TLS failure
    // shows as "Connection is closed"): ask the first seed directly what goes wrong
    if (failure instanceof StoreUnavailable && vague(failure)) {
      const seed = parts.seeds[0]!;
      const why = await probe(seed, {
        ...(parts.username === undefined ? {} : { username: parts.username }),
        ...(parts.password === undefined ? {} : { password: parts.password }),
        ...(tls === undefined ? {} : { tls }),
        connectTimeout: Math.min(opts.timeoutMs, 2_000),
      });
      const named = why === undefined ? undefined : storeError(why, ctx);
      if (named instanceof StoreUnavailable && !vague(named)) failure = named;
    }
    if (failure instanceof StoreUnavailable) throw failure;
    throw new StoreUnavailable({
      url: parts.masked,
      reason: redactSecrets((failure as Error).message ?? String(failure), secrets),
      failure: "unreachable",
      cause: failure,
    });
  } finally {
    clearTimeout(timer);
    cluster.off("error", onError);
    cluster.off("node error", onError);
  }
};

/** A failure that says only that a connection closed or gave up, not why. */
const vague = (e: StoreUnavailable): boolean =>
  e.failure === "unreachable" &&
  (e.cause as { code?: unknown } | undefined)?.code === undefined &&
  ((e.cause as { lastNodeError?: { code?: unknown } } | undefined)?.lastNodeError?.code ===
    undefined ||
    /connection is closed|gave up|could not be re-established|slots cache/i.test(e.message));

/**
 * Connects once to one node with the cluster's credentials and TLS
 * settings, and returns the error that met, if any (ECONNREFUSED, a TLS
 * code, WRONGPASS). Never throws.
 */
const probe = async (
  seed: { readonly host: string; readonly port: number },
  opts: {
    readonly username?: string;
    readonly password?: string;
    readonly tls?: ConnectionOptions;
    readonly connectTimeout: number;
  },
): Promise<unknown> => {
  const redis = new Redis({
    ...opts,
    host: seed.host,
    port: seed.port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  let met: unknown;
  redis.on("error", (e: unknown) => {
    met ??= e;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    met ??= e;
  } finally {
    redis.disconnect();
  }
  return met;
};
