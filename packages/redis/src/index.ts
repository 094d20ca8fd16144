/**
 * @weft/redis — the Redis Store: ioredis and Lua scripts.
 *
 * @since 0.1.0
 */
export * from "./RedisStore.ts";
