/**
 * How many random cases a property test runs, and how long vitest lets it
 * take. `WEFT_PROPERTY_RUNS` sets the number of cases for a long run
 * (docs/guarantees.md, "Long run"); the time limit grows with it, so that a
 * long run is never cut off by vitest's fixed per-test limit (at 5,000 cases
 * four simulator properties used to hit the 60 s default).
 */

/** vitest's time limit for a test that runs few cases, ms (the packages' `testTimeout`). */
export const BASE_TIMEOUT_MS = 60_000;

/**
 * The number of cases: `WEFT_PROPERTY_RUNS` when set, else `fallback`.
 *
 * @throws Error when `WEFT_PROPERTY_RUNS` is set to anything but a positive
 *   integer (`"1e3"` and `"1000"` are accepted; `"many"`, `"0"` and `"2.5"`
 *   are not), naming the value, rather than running NaN cases.
 */
export const propertyRuns = (
  fallback: number,
  env: string | undefined = process.env.WEFT_PROPERTY_RUNS,
): number => {
  if (env === undefined || env.trim() === "") return fallback;
  const runs = Number(env);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(
      `WEFT_PROPERTY_RUNS must be a positive integer (a number of random cases), got ${JSON.stringify(env)}`,
    );
  }
  return runs;
};

/**
 * The time limit of a property test of `runs` cases, ms: `msPerCase` for
 * each case, and never less than {@link BASE_TIMEOUT_MS}. `msPerCase` is a
 * generous bound (about ten times what a case takes on a loaded 2-core
 * machine), not an expectation: a limit only stops a test that hangs.
 */
export const propertyTimeoutMs = (runs: number, msPerCase: number): number =>
  Math.max(BASE_TIMEOUT_MS, Math.ceil(runs * msPerCase));
