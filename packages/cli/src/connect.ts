/**
 * Opening the store the CLI talks to, and showing its URL safely.
 *
 * @since 0.1.0
 */
import type { Store } from "@weft/core";

/** Where the CLI's store lives. */
export interface StoreTarget {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** Key prefix. */
  readonly prefix: string;
}

/** Opens a store; the CLI closes it when the command ends. */
export type OpenStore = (target: StoreTarget) => Promise<Store>;

/** Default Redis URL: `REDIS_URL`, else the local server. */
export const defaultRedisUrl = (env: NodeJS.ProcessEnv): string =>
  env.REDIS_URL !== undefined && env.REDIS_URL !== "" ? env.REDIS_URL : "redis://127.0.0.1:6379";

/**
 * A URL with its password replaced by `***`, for messages and logs.
 *
 * @example
 * maskUrl("redis://app:s3cret@db:6379/0") // "redis://app:***@db:6379/0"
 */
export const maskUrl = (url: string): string => {
  try {
    const u = new URL(url);
    if (u.password === "") return url;
    u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1:***@");
  }
};

/**
 * Connects to Redis with `RedisStore.connect` (imported lazily, so that
 * `--help` and parse errors never load ioredis).
 *
 * @throws StoreUnavailable when Redis cannot be reached; its message names the URL, password masked.
 */
export const openRedisStore: OpenStore = async ({ url, prefix }) => {
  const { RedisStore } = await import("@weft/redis");
  return RedisStore.connect(url, { prefix });
};
