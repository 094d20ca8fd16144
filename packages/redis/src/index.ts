/**
 * @weft/redis — the Redis Store: ioredis and Lua scripts; connecting by URL
 * (TLS, ACL users, Redis Cluster), Weft's one URL masker, and the error sanitiser that keeps
 * credentials and command arguments out of logs.
 *
 * One entry point, plus `@weft/redis/url` (RedisUrl.ts: parsing and masking
 * URLs without loading ioredis). Export here what an application or a tool
 * using the Redis store names; keys, records, scripts and replies stay
 * private (docs/packaging.md).
 */
export {
  BLOCK_MAX_MS,
  CLUSTER_SETTINGS,
  CONNECTION_SETTINGS,
  RECONNECT_MAX_MS,
  type RedisTlsOptions,
} from "./Connect.ts";
export { classify, type StoreErrorContext, sanitizeError, storeError } from "./Errors.ts";
export * from "./RedisStore.ts";
export {
  type ClusterSeed,
  InvalidConnectionOptions,
  isClusterUrl,
  MIN_SECRET_LENGTH,
  maskUrl,
  parseClusterUrl,
  parseRedisUrl,
  type RedisClusterUrlParts,
  type RedisUrlParts,
  redactSecrets,
  secretForms,
  urlSecrets,
} from "./RedisUrl.ts";
export { UnexpectedReply } from "./Replies.ts";
