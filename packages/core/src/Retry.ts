/**
 * Retry policy: plain data, persisted with each node, and a pure delay
 * function (docs/retries.md). With Celery's settings (`retry_backoff=1`,
 * `retry_backoff_max=600`, `retry_jitter=True`) it reproduces Celery's
 * `min(backoff_max, factor * 2 ** retries)` followed by full jitter
 * `randrange(countdown + 1)`, in milliseconds.
 */
import type { ErrorInfo } from "./Errors.ts";

/** How long to wait before the next attempt, before jitter. */
export type Backoff =
  | { readonly kind: "fixed"; readonly delayMs: number }
  | {
      readonly kind: "exponential";
      /** Delay after the first failure, ms. */
      readonly baseMs: number;
      /** Multiplier per further failure (2 doubles). */
      readonly factor: number;
      /** Cap on the delay, ms. */
      readonly maxMs: number;
    };

/**
 * Jitter applied to the backoff delay `d`: `none` → `d`; `full` → uniform
 * integer in `0..d` ("full jitter", AWS Architecture Blog 2015); `equal` →
 * `d/2 + uniform(0..d/2)`.
 */
export type Jitter = "none" | "full" | "equal";

/** A retry policy, as data. */
export interface RetryPolicy {
  /** Total attempts, the first included (1 = never retry). */
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly jitter: Jitter;
  /** When set, only errors whose tag is listed are retried. */
  readonly retryOn?: ReadonlyArray<string>;
  /** Error tags that never retry (nor does a `TaskFailure` that says `nonRetryable`, such as a `NonRetryableError`). */
  readonly nonRetryable?: ReadonlyArray<string>;
  /** Lease expiries (stalls) tolerated before the node fails; BullMQ's `maxStalledCount`. */
  readonly maxStalls: number;
  /**
   * Granularity of the delay, ms (default 1). Jitter draws whole units:
   * Celery draws whole seconds (`randrange(countdown + 1)`), so its policy uses 1 000.
   */
  readonly unitMs?: number;
}

/** Weft's default: 3 attempts, exponential 1 s ×2 up to 60 s, full jitter, 1 stall. */
export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 3,
  backoff: { kind: "exponential", baseMs: 1000, factor: 2, maxMs: 60_000 },
  jitter: "full",
  maxStalls: 1,
};

/**
 * The delay in ms before the next attempt, after the `attempt`-th failure
 * (1-based; stalls are not failures). Pure: `random` returns a float in
 * `[0, 1)` and is called once for `full` and `equal` jitter, never for `none`.
 *
 * - fixed: `d = delayMs`
 * - exponential: `d = min(maxMs, baseMs · factor^(attempt − 1))`
 * - jitter `none`: `d`; `full`: `uniform{0..d}`; `equal`: `⌊d/2⌋ + uniform{0..d − ⌊d/2⌋}`,
 *   all in whole `unitMs` units.
 *
 * @example
 * delay(celeryPolicy({ backoff: 1, backoffMax: 600, maxRetries: 3 }), 3, () => 0.999) // 4000
 */
export const delay = (policy: RetryPolicy, attempt: number, random: () => number): number => {
  const unit = Math.max(1, policy.unitMs ?? 1);
  const b = policy.backoff;
  const ms =
    b.kind === "fixed"
      ? b.delayMs
      : Math.min(b.maxMs, b.baseMs * b.factor ** Math.max(0, attempt - 1));
  const d = Math.floor(ms / unit); // whole units
  switch (policy.jitter) {
    case "none":
      return d * unit;
    case "full":
      return Math.floor(random() * (d + 1)) * unit;
    case "equal": {
      const half = Math.floor(d / 2);
      return (half + Math.floor(random() * (d - half + 1))) * unit;
    }
  }
};

/**
 * Whether a failed attempt `attempt` (1-based) with `error` is retried under
 * `policy`: the error is retryable, allowed by `retryOn`/`nonRetryable`, and
 * attempts remain.
 */
export const shouldRetry = (policy: RetryPolicy, attempt: number, error: ErrorInfo): boolean => {
  if (!error.retryable) return false;
  if (attempt >= policy.maxAttempts) return false;
  if (policy.nonRetryable?.includes(error.tag)) return false;
  if (policy.retryOn && !policy.retryOn.includes(error.tag)) return false;
  return true;
};

/**
 * The policy matching Celery's `autoretry_for` options: `retry_backoff`
 * (seconds), `retry_backoff_max` (seconds), `retry_jitter`, `max_retries`.
 */
export const celeryPolicy = (o: {
  readonly backoff: number;
  readonly backoffMax: number;
  readonly maxRetries: number;
  readonly jitter?: boolean;
}): RetryPolicy => ({
  maxAttempts: o.maxRetries + 1,
  backoff: { kind: "exponential", baseMs: o.backoff * 1000, factor: 2, maxMs: o.backoffMax * 1000 },
  jitter: o.jitter === false ? "none" : "full",
  maxStalls: 1,
  unitMs: 1000,
});
