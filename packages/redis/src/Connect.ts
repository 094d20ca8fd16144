/**
 * Opening a Redis connection from a URL (`redis://`, `rediss://`, with a
 * password) or using a given ioredis instance, with a clear error instead of
 * a hang when Redis is unreachable.
 *
 * @since 0.1.0
 */
import { StoreUnavailable } from "@weft/core";
import { Redis } from "ioredis";

/** The URL with any password replaced by `***`. */
export const maskUrl = (url: string): string => {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url.replace(/:[^:@/]*@/, ":***@");
  }
};

/**
 * Connects to `url`, failing after `timeoutMs`.
 *
 * @throws StoreUnavailable naming the URL (password masked) and the cause.
 */
export const connectUrl = async (url: string, timeoutMs: number): Promise<Redis> => {
  const masked = maskUrl(url);
  let redis: Redis;
  try {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 3,
    });
  } catch (e) {
    throw new StoreUnavailable({ url: masked, cause: e instanceof Error ? e.message : String(e) });
  }
  let lastError: Error | undefined;
  redis.on("error", (e: Error) => {
    lastError = e; // the socket's own error (ECONNREFUSED, ENOTFOUND, NOAUTH) names the cause best
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return redis;
  } catch (e) {
    redis.disconnect();
    const cause = lastError?.message ?? (e instanceof Error ? e.message || e.name : String(e));
    throw new StoreUnavailable({ url: masked, cause });
  } finally {
    clearTimeout(timer);
  }
};
