/**
 * Async iterators over a store's events (docs/events.md): `client.events()`
 * follows the stream, `run.watch()` follows one run until it ends.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StoreUnavailable } from "./Errors.ts";
import { type EventBatch, endsRun, type ReadEventsOptions, type WeftEvent } from "./Events.ts";
import type { Store } from "./Store.ts";
import { storeBackoffMs } from "./StoreBackoff.ts";

/** How long reads may fail with `StoreUnavailable` in a row before the iteration fails, ms. */
const EVENTS_OUTAGE_MS = 60_000;

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
 * `store.readEvents(req)`, read again while it fails with a `StoreUnavailable`
 * that may pass (the connection lost and not back within its own retries, a
 * Redis restart; not a closed store, refused credentials or a missing
 * permission): after 100 ms doubling up to 5 s, for up to
 * {@link EVENTS_OUTAGE_MS} of failures in a row, as BullMQ's `QueueEvents`
 * reconnects. The cursor is the caller's, so nothing is read twice or
 * skipped. `"aborted"` once `stop` resolves (the caller's signal).
 *
 * @throws StoreUnavailable of any other kind, or once the outage lasted too long.
 */
const readThrough = async (
  store: Store,
  req: ReadEventsOptions,
  stop: Promise<"aborted">,
  signal: AbortSignal | undefined,
): Promise<EventBatch | "aborted"> => {
  const since = Date.now();
  for (let failures = 0; ; failures++) {
    const read = store.readEvents(req);
    try {
      const got = await Promise.race([read, stop]);
      if (got === "aborted") read.catch(() => undefined); // its answer is no longer wanted
      return got;
    } catch (e) {
      const passing =
        e instanceof StoreUnavailable &&
        (e.failure === undefined || e.failure === "unreachable" || e.failure === "unavailable");
      if (!passing || Date.now() - since >= EVENTS_OUTAGE_MS) throw e;
    }
    await sleep(
      storeBackoffMs(failures),
      undefined,
      signal === undefined ? undefined : { signal },
    ).catch(() => undefined);
    if (signal?.aborted) return "aborted";
  }
};

/**
 * Every event after `opts.after` (of `opts.runId` only, when given), then
 * each new one as it is appended, until `opts.signal` aborts or the caller
 * stops iterating. A read that fails because the connection was lost is
 * made again from the same cursor (see `readThrough`).
 *
 * @throws InvalidEventCursor when `opts.after` is not a cursor of the store.
 * @throws StoreUnavailable when the store is closed, refuses this user, or
 *   stays unreachable for {@link EVENTS_OUTAGE_MS}.
 */
export async function* followEvents(
  store: Store,
  opts: EventsOptions = {},
): AsyncGenerator<WeftEvent> {
  let cursor = opts.after;
  const stop = aborted(opts.signal);
  while (!opts.signal?.aborted) {
    const batch = await readThrough(
      store,
      {
        ...(cursor === undefined ? {} : { after: cursor }),
        ...(opts.runId === undefined ? {} : { runId: opts.runId }),
        blockMs: opts.blockMs ?? 1_000,
        count: opts.count ?? 500,
      },
      stop,
      opts.signal,
    );
    if (batch === "aborted") return;
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
 * are read. A read that fails because the connection was lost is made
 * again from the same cursor (see `readThrough`).
 *
 * @throws RunNotFound when the run does not exist (never written, or expired).
 * @throws StoreUnavailable when the store is closed, refuses this user, or
 *   stays unreachable for {@link EVENTS_OUTAGE_MS}.
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
    const batch = await readThrough(
      store,
      {
        ...(cursor === undefined ? {} : { after: cursor }),
        runId,
        blockMs: ended || first ? 0 : (opts.blockMs ?? 1_000),
        count: 500,
      },
      stop,
      opts.signal,
    );
    if (batch === "aborted") return;
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
