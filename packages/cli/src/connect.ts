/**
 * Opening the store the CLI talks to, and showing its URL safely (with
 * `@weft/redis`'s one URL masker).
 */
import type { Store } from "@weft/core";
import { maskUrl } from "@weft/redis/url";

export { maskUrl };

/** Where the CLI's store lives. */
export interface StoreTarget {
  /**
   * `redis://[user:password@]host:port[/db]`, `rediss://...` for TLS, or
   * `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://`
   * for TLS) for a Redis Cluster.
   */
  readonly url: string;
  /** Key prefix. */
  readonly prefix: string;
  /** PEM file of the CA that signed the server's TLS certificate (`--tls-ca`, env `REDIS_TLS_CA`). */
  readonly tlsCa?: string;
}

/** Opens a store; the CLI closes it when the command ends. */
export type OpenStore = (target: StoreTarget) => Promise<Store>;

/** Default Redis URL: `REDIS_URL`, else the local server. */
export const defaultRedisUrl = (env: NodeJS.ProcessEnv): string =>
  env.REDIS_URL !== undefined && env.REDIS_URL !== "" ? env.REDIS_URL : "redis://127.0.0.1:6379";

/**
 * Connects to Redis with `RedisStore.connect` (imported lazily, so that
 * `--help` and parse errors never load ioredis).
 *
 * @throws StoreUnavailable when Redis cannot be used; its message says why
 *   (cannot reach, authentication failed, TLS handshake failed) and names the
 *   URL, password masked.
 * @throws InvalidConnectionOptions for a URL that is not a Redis URL, or a CA
 *   file that cannot be read or is not PEM.
 */
export const openRedisStore: OpenStore = async ({ url, prefix, tlsCa }) => {
  const { RedisStore } = await import("@weft/redis");
  return RedisStore.connect(url, {
    prefix,
    ...(tlsCa === undefined ? {} : { tls: { caFile: tlsCa } }),
  });
};
