/**
 * @weft/redis — the Redis Store: ioredis and Lua scripts; connecting by URL
 * (TLS, ACL users), Weft's one URL masker, and the error sanitiser that keeps
 * credentials and command arguments out of logs.
 */
export {
  BLOCK_MAX_MS,
  CONNECTION_SETTINGS,
  RECONNECT_MAX_MS,
  type RedisTlsOptions,
} from "./Connect.ts";
export { classify, type StoreErrorContext, sanitizeError, storeError } from "./Errors.ts";
export * from "./RedisStore.ts";
export {
  InvalidConnectionOptions,
  MIN_SECRET_LENGTH,
  maskUrl,
  parseRedisUrl,
  type RedisUrlParts,
  redactSecrets,
  secretForms,
  urlSecrets,
} from "./RedisUrl.ts";
