/**
 * The example's configuration, read from the environment by the app and the
 * worker processes (the same names `weft worker` reads):
 *
 * | variable | default | used by |
 * | --- | --- | --- |
 * | `REDIS_URL` | `redis://127.0.0.1:6379` | app, worker |
 * | `WEFT_PREFIX` | `weft` | app, worker: the key prefix of Weft's data |
 * | `WEFT_LOG_LEVEL` | `info` | app, worker (pino levels) |
 * | `WEFT_CONCURRENCY` | `8` | worker: handlers run at once |
 * | `PORT` | `3000` | app: the HTTP port |
 * | `CRM_URL` | `http://127.0.0.1:4010` | worker: the CRM `notifyCrm` calls |
 */

/** The example's settings. */
export interface Config {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly logLevel: string;
  readonly concurrency: number;
  readonly port: number;
  readonly crmUrl: string;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * Reads the settings from `env`.
 *
 * @throws Error naming the variable and its value when `PORT` or
 *   `WEFT_CONCURRENCY` is not a positive integer, or `WEFT_LOG_LEVEL` is not
 *   a pino level.
 */
export const configFrom = (env: NodeJS.ProcessEnv): Config => {
  const str = (name: string, fallback: string) => {
    const v = env[name];
    return v === undefined || v === "" ? fallback : v;
  };
  const int = (name: string, fallback: number, min: number) => {
    const v = str(name, String(fallback));
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const logLevel = str("WEFT_LOG_LEVEL", "info");
  if (!LOG_LEVELS.includes(logLevel))
    throw new Error(
      `WEFT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(logLevel)}`,
    );
  return {
    redisUrl: str("REDIS_URL", "redis://127.0.0.1:6379"),
    prefix: str("WEFT_PREFIX", "weft"),
    logLevel,
    concurrency: int("WEFT_CONCURRENCY", 8, 1),
    port: int("PORT", 3000, 0),
    crmUrl: str("CRM_URL", "http://127.0.0.1:4010"),
  };
};
