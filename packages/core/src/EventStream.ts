/**
 * Async iterators over a store's events (docs/events.md): `client.events()`
 * follows the stream, `run.watch()` follows one run until it ends.
 */
import { endsRun, type WeftEvent } from "./Events.ts";
import type { Store } from "./Store.ts";

/** Options of {@link followEvents} (`client.events`). */
export interface EventsOptions {
  /** Only this run's events. */
  readonly runId?: string;
  /**
   * Start after this cursor (an event's `id`); `"now"` for only new events.
   * Default: from the oldest event the store still keeps.
   */
  readonly after?: string;
  /** Stops the iteration (the loop ends at once, without an error). */
  readonly signal?: AbortSignal;
  /** How long each read waits for new events, ms. Default 1 000. */
  readonly blockMs?: number;
  /** Events per read. Default 500. */
  readonly count?: number;
}

/** Resolves when `signal` aborts (never without one). */
const aborted = (signal: AbortSignal | undefined): Promise<"aborted"> =>
  new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve("aborted");
    else signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });

/**
 * Every event after `opts.after` (of `opts.runId` only, when given), then
 * each new one as it is appended, until `opts.signal` aborts or the caller
 * stops iterating.
 *
 * @throws InvalidEventCursor when `opts.after` is not a cursor of the store.
 */
export async function* followEvents(
  store: Store,
  opts: EventsOptions = {},
): AsyncGenerator<WeftEvent> {
  let cursor = opts.after;
  const stop = aborted(opts.signal);
  while (!opts.signal?.aborted) {
    const read = store.readEvents({
      ...(cursor === undefined ? {} : { after: cursor }),
      ...(opts.runId === undefined ? {} : { runId: opts.runId }),
      blockMs: opts.blockMs ?? 1_000,
      count: opts.count ?? 500,
    });
    const batch = await Promise.race([read, stop]);
    if (batch === "aborted") {
      read.catch(() => undefined); // its answer is no longer wanted
      return;
    }
    cursor = batch.cursor;
    for (const e of batch.events) {
      if (opts.signal?.aborted) return;
      yield e;
    }
  }
}

/**
 * Run `runId`'s events from the oldest the store keeps, then each new one,
 * ending after its `run-ended` event. A run that ended with that event
 * already trimmed from the stream ends the iteration once the events kept
 * are read.
 *
 * @throws RunNotFound when the run does not exist (never written, or expired).
 */
export async function* watchRun(
  store: Store,
  runId: string,
  opts: { readonly signal?: AbortSignal; readonly blockMs?: number } = {},
): AsyncGenerator<WeftEvent> {
  let cursor: string | undefined;
  const stop = aborted(opts.signal);
  let ended = false;
  let first = true; // the first read does not wait: a run that does not exist fails at once
  while (!opts.signal?.aborted) {
    const read = store.readEvents({
      ...(cursor === undefined ? {} : { after: cursor }),
      runId,
      blockMs: ended || first ? 0 : (opts.blockMs ?? 1_000),
      count: 500,
    });
    const batch = await Promise.race([read, stop]);
    if (batch === "aborted") {
      read.catch(() => undefined);
      return;
    }
    cursor = batch.cursor;
    first = false;
    for (const e of batch.events) {
      if (opts.signal?.aborted) return;
      yield e;
      if (endsRun(e)) return;
    }
    // caught up: a run that has ended (quiet) and whose end was not read had its events trimmed
    if (batch.events.length === 0) {
      if (ended) return; // read once more after seeing it end: nothing was appended meanwhile
      // raises RunNotFound for a run that does not exist
      if ((await store.waitForRun(runId, 0, { quiet: true })) !== undefined) ended = true;
    }
  }
}
