import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  celeryPolicy,
  defaultRetryPolicy,
  delay,
  NonRetryableError,
  type RetryPolicy,
} from "../src/index.ts";
import { shouldRetry, toErrorInfo } from "../src/store/index.ts";

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Celery's get_exponential_backoff_interval, transcribed (seconds); randrange(n) = ⌊r·n⌋. */
const celery = (
  factor: number,
  retries: number,
  maximum: number,
  fullJitter: boolean,
  r: number,
) => {
  let countdown = Math.min(maximum, factor * 2 ** retries);
  if (fullJitter) countdown = Math.floor(r * (countdown + 1));
  return Math.max(0, countdown);
};

describe("delay", () => {
  test.prop([
    fc.integer({ min: 1, max: 10 }),
    fc.integer({ min: 1, max: 3_600 }),
    fc.integer({ min: 0, max: 12 }),
    fc.boolean(),
    unit,
  ])(
    "reproduces Celery's min(backoff_max, factor * 2 ** retries) then randrange(countdown + 1), in ms",
    (factor, maximum, retries, jitter, r) => {
      const policy = celeryPolicy({ backoff: factor, backoffMax: maximum, maxRetries: 20, jitter });
      expect(delay(policy, retries + 1, () => r)).toBe(
        1000 * celery(factor, retries, maximum, jitter, r),
      );
    },
  );

  const arbPolicy = fc.record({
    baseMs: fc.integer({ min: 0, max: 10_000 }),
    factor: fc.double({ min: 1, max: 4, noNaN: true }),
    maxMs: fc.integer({ min: 0, max: 100_000 }),
  });

  test.prop([arbPolicy, fc.integer({ min: 1, max: 30 }), unit])(
    "without jitter, exponential backoff is min(maxMs, baseMs · factor^(n−1)), never above the cap",
    (b, n, r) => {
      const p: RetryPolicy = {
        ...defaultRetryPolicy,
        backoff: { kind: "exponential", ...b },
        jitter: "none",
      };
      expect(delay(p, n, () => r)).toBe(
        Math.floor(Math.min(b.maxMs, b.baseMs * b.factor ** (n - 1))),
      );
      expect(delay(p, n, () => r)).toBeLessThanOrEqual(b.maxMs);
    },
  );

  test.prop([arbPolicy, fc.integer({ min: 1, max: 30 }), unit])(
    "full jitter lies in 0..d, equal jitter in ⌊d/2⌋..d, and both grow with the random draw",
    (b, n, r) => {
      const base: RetryPolicy = {
        ...defaultRetryPolicy,
        backoff: { kind: "exponential", ...b },
        jitter: "none",
      };
      const d = delay(base, n, () => 0);
      const full = delay({ ...base, jitter: "full" }, n, () => r);
      const equal = delay({ ...base, jitter: "equal" }, n, () => r);
      expect(full).toBeGreaterThanOrEqual(0);
      expect(full).toBeLessThanOrEqual(d);
      expect(equal).toBeGreaterThanOrEqual(Math.floor(d / 2));
      expect(equal).toBeLessThanOrEqual(d);
      expect(delay({ ...base, jitter: "full" }, n, () => 0.999999)).toBeGreaterThanOrEqual(full);
    },
  );

  test.prop([fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 20 }), unit])(
    "fixed backoff is the same delay for every attempt",
    (ms, n, r) => {
      const p: RetryPolicy = {
        ...defaultRetryPolicy,
        backoff: { kind: "fixed", delayMs: ms },
        jitter: "none",
      };
      expect(delay(p, n, () => r)).toBe(ms);
    },
  );

  it("draws no random number without jitter", () => {
    const p: RetryPolicy = { ...defaultRetryPolicy, jitter: "none" };
    expect(
      delay(p, 3, () => {
        throw new Error("drawn");
      }),
    ).toBe(4_000);
  });
});

describe("shouldRetry", () => {
  const boom = toErrorInfo(new Error("boom"));

  test.prop([fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 12 })])(
    "retries while failures are below maxAttempts",
    (max, failures) => {
      expect(shouldRetry({ ...defaultRetryPolicy, maxAttempts: max }, failures, boom)).toBe(
        failures < max,
      );
    },
  );

  it("never retries a NonRetryableError or a listed tag; retryOn restricts to listed tags", () => {
    const p = { ...defaultRetryPolicy, maxAttempts: 10 };
    expect(shouldRetry(p, 1, toErrorInfo(new NonRetryableError("no")))).toBe(false);
    expect(shouldRetry({ ...p, nonRetryable: ["Error"] }, 1, boom)).toBe(false);
    expect(shouldRetry({ ...p, retryOn: ["TypeError"] }, 1, boom)).toBe(false);
    expect(shouldRetry({ ...p, retryOn: ["TypeError"] }, 1, toErrorInfo(new TypeError("t")))).toBe(
      true,
    );
  });

  it("retries a handler's non-Error throw like any failure, with a readable reason", () => {
    const info = toErrorInfo(42);
    expect(info).toEqual({
      tag: "NonErrorThrown",
      message: "handler threw a non-Error value: 42",
      retryable: true,
    });
    expect(shouldRetry(defaultRetryPolicy, 1, info)).toBe(true);
  });
});
