// PLACEHOLDER: being written. API contract for other packages:
import type { Store } from "@weft/core";
import type { Redis } from "ioredis";

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** Key prefix. Default `weft`. */
  readonly prefix?: string;
  /** Number of shards (hash tags). Default 1. */
  readonly shards?: number;
  /** Fail `connect` after this long, ms. Default 5 000. */
  readonly connectTimeoutMs?: number;
}

export declare class RedisStore implements Store {
  static connect(target: string | Redis, opts?: RedisStoreOptions): Promise<RedisStore>;
}
