/**
 * What a worker writes to its log, apart from the worker's own loop: one
 * account of a store outage for its background calls (so that a Redis
 * outage is a few lines, not one per call), why a report was refused, and
 * a logger whose error serialiser never writes a command's arguments (they
 * may hold credentials).
 */
import { type Logger, pino } from "pino";
import { described } from "./Described.ts";
import { InvalidWorkerOptions, StoreUnavailable } from "./Errors.ts";
import type { ReportResult } from "./Store.ts";

/** The methods a `logger` option must have: those Weft calls. */
const LOGGER_METHODS = ["child", "debug", "info", "warn", "error"] as const;

/**
 * The logger of a worker or a beat from its `logger` option (as Fastify
 * reads its own): absent (`undefined`), a pino logger at `WEFT_LOG_LEVEL`
 * (default `info`); `false`, a silent one; otherwise the logger given, which
 * must be pino's (or have pino's `child`, `debug`, `info`, `warn` and
 * `error`).
 *
 * @throws InvalidWorkerOptions naming `option` and what it got (`true`, a
 *   level name, `console`, an object without `child`).
 */
export const loggerOption = (logger: unknown, option: string): Logger => {
  if (logger === undefined) return pino({ level: process.env.WEFT_LOG_LEVEL ?? "info" });
  if (logger === false) return pino({ level: "silent" });
  const o = logger as Record<string, unknown> | null;
  const missing =
    typeof o === "object" && o !== null
      ? LOGGER_METHODS.filter((m) => typeof o[m] !== "function")
      : LOGGER_METHODS;
  if (missing.length > 0)
    throw new InvalidWorkerOptions({
      reason: `${option} must be a pino logger (pino({ level: "info" })), false for none, or absent for the default; got ${described(logger)}${typeof o === "object" && o !== null ? `, which has no ${missing.join(", ")}` : ""}`,
    });
  return logger as Logger;
};

/**
 * Logs why a report (a completion or a failure) was refused: the run was
 * cancelled (expected: at info), or the lease was lost and the node
 * re-delivered (at warn).
 */
export const logRefusal = (
  log: Logger,
  r: Extract<ReportResult, { ok: false }>,
  what: string,
): void => {
  if (r.reason === "cancelled") log.info(`${what} not recorded: the run was cancelled`);
  else log.warn(`${what} rejected: the lease was lost and the node re-delivered`);
};

/** How long after an outage's first failure its first reminder may be logged, ms; then doubling. */
const OUTAGE_LOG_FIRST_MS = 1_000;
/** The longest interval between two reminders of one outage, ms. */
const OUTAGE_LOG_MAX_MS = 60_000;

/** What {@link outageLog} reports to. */
export interface OutageLog {
  /**
   * Counts a failed store call. A `StoreUnavailable` (but a `permission`
   * one, which fails one command every time) is the store's outage: the
   * first one is logged (error), later ones at most one line per backoff
   * step (warn, with the count), and it returns true. Any other error is
   * left to the caller to log (it returns false).
   */
  failed(what: string, err: unknown): boolean;
  /** A store call succeeded: ends an outage, with one "store reachable again" line. */
  ok(): void;
}

/**
 * One account of a store outage for a worker's background calls (claims,
 * heartbeats, maintenance, registration, waits): while Redis is down each of
 * them fails every tick, and a line per failure would flood the log. Lines:
 * the first failure (error); then a reminder with the count of failed calls
 * at most once per step, the steps doubling from 1 s to 1 min; and one
 * "store reachable again" line (warn) at the first call that succeeds.
 */
export const outageLog = (log: Logger, now: () => number): OutageLog => {
  let outage: { since: number; failures: number; stepMs: number; nextAt: number } | undefined;
  return {
    failed: (what, err) => {
      // a refused command (NOPERM) fails that command alone, every time: not an outage
      if (!(err instanceof StoreUnavailable) || err.failure === "permission") return false;
      const t = now();
      if (!outage) {
        outage = {
          since: t,
          failures: 1,
          stepMs: OUTAGE_LOG_FIRST_MS,
          nextAt: t + OUTAGE_LOG_FIRST_MS,
        };
        log.error(
          { err, op: what },
          `${what} failed: the store is unavailable; retrying with backoff (running handlers go on: their leases hold until they expire)`,
        );
        return true;
      }
      outage.failures += 1;
      if (t >= outage.nextAt) {
        const downMs = t - outage.since;
        log.warn(
          { err, op: what, failures: outage.failures, downMs },
          `the store is still unavailable after ${seconds(downMs)}: ${outage.failures} calls failed; retrying`,
        );
        outage.stepMs = Math.min(2 * outage.stepMs, OUTAGE_LOG_MAX_MS);
        outage.nextAt = t + outage.stepMs;
      }
      return true;
    },
    ok: () => {
      if (!outage) return;
      const downMs = now() - outage.since;
      log.warn(
        { failures: outage.failures, downMs },
        `store reachable again after ${seconds(downMs)} (${outage.failures} calls failed)`,
      );
      outage = undefined;
    },
  };
};

const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;

/** A serialised error with every nested `command: { name, args }` reduced to `{ name }`. */
const withoutCommandArgs = (v: unknown, depth = 0): unknown => {
  if (typeof v !== "object" || v === null || depth > 8) return v;
  if (Array.isArray(v)) return v.map((x) => withoutCommandArgs(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] =
      k === "command" && typeof x === "object" && x !== null
        ? { name: (x as { name?: unknown }).name }
        : withoutCommandArgs(x instanceof Error ? pino.stdSerializers.err(x) : x, depth + 1);
  }
  return out;
};

/**
 * The worker's logger: a child of `base` carrying the worker's id, whose
 * error serialiser reduces every attached `command` (ioredis: `command.args`,
 * which may hold AUTH credentials) to its name. A second line of defence:
 * stores sanitise their errors first.
 */
export const workerLogger = (base: Logger, workerId: string): Logger => {
  const parentErr: (e: unknown) => unknown =
    (base as unknown as Record<symbol, Record<string, (e: unknown) => unknown> | undefined>)[
      pino.symbols.serializersSym
    ]?.err ?? (pino.stdSerializers.err as (e: unknown) => unknown);
  return base.child(
    { worker: workerId },
    { serializers: { err: (e: unknown) => withoutCommandArgs(parentErr(e)) } },
  );
};
