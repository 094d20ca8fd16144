/**
 * The wait between calls to a store that keeps failing (an outage), shared by
 * the worker's claim loop, its reports and the events readers.
 */

/**
 * How long to wait before calling the store again after `failures` failed
 * calls in a row (0 for the first wait), ms: 100 doubling up to 5 000.
 */
export const storeBackoffMs = (failures: number): number =>
  Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
