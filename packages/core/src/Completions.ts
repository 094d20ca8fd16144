/**
 * A worker's completions, sent together: a completion waits for the end of
 * the current turn of the event loop (`process.nextTick`, after the
 * microtasks queued by then), and the completions gathered by then go in one
 * `Store.completeMany` call (the Redis store: one script call per shard),
 * so handlers that finish together cost one round trip; more than
 * {@link MAX_BATCH} of them go in several calls at once. At most
 * {@link MAX_IN_FLIGHT} report calls are in flight; completions that finish
 * while that many are out wait for one to answer and then go together. A
 * store without `completeMany` gets one `complete` call per item. Each caller
 * gets its own report, in the store's answer for its item; an error of the
 * call rejects every item it carried (their leases expire and the nodes are
 * re-delivered, as for a single failed report).
 */
import type { Claim, CompleteOptions, ReportResult, Store } from "./Store.ts";

/**
 * Sends one completion (`nextMax`: dependents to lease back with it; `span`: the attempt's
 * trace span id, when tracing) and resolves with its report.
 */
export type Complete = (
  claim: Claim,
  result: Uint8Array,
  nextMax: number,
  span?: string,
) => Promise<ReportResult>;

/**
 * Who is told how a completion sent by {@link BatchedComplete.to} ended:
 * its report, or the error of the call that carried it. Neither may throw.
 */
export interface CompletionReceiver {
  reported(report: ReportResult): void;
  failed(error: unknown): void;
}

/** A {@link Complete} that also tells how many completions wait to be sent. */
export type BatchedComplete = Complete & {
  /** Completions not sent yet: waiting for the end of the turn, or for a call in flight to answer. */
  readonly waiting: () => number;
  /**
   * Sends one completion as the {@link Complete} call does, and tells
   * `receiver` how it ended instead of settling a promise: a worker's
   * completions cost no promise and no callbacks each (docs/benchmarks.md,
   * "What costs time").
   */
  readonly to: (
    claim: Claim,
    result: Uint8Array,
    nextMax: number,
    span: string | undefined,
    receiver: CompletionReceiver,
  ) => void;
};

/**
 * Report calls a worker keeps in flight at most; the completions that finish
 * meanwhile wait and go together. Eight calls of {@link MAX_BATCH}: the
 * completions of two claim calls' worth (a worker of 16 holds 288 nodes)
 * and the chain steps they hand back (4 before 2026-12-07).
 */
export const MAX_IN_FLIGHT = 8;

/**
 * Completions one report call carries at most; the rest of a turn's go in
 * further calls at once (within {@link MAX_IN_FLIGHT}). A call answers when
 * its last completion is recorded (the Redis store runs 64 a script call,
 * one call after another): cut in calls of 128, the first call's answer,
 * and the next nodes it hands back (a chain's next steps), reach the
 * worker while Redis still runs the next. 1,000 chains of 10, submitted
 * while the worker ran: +12 to +18 % tasks/s (docs/benchmarks.md,
 * 2026-12-07).
 */
export const MAX_BATCH = 128;

/** How {@link completions} sends. */
export interface CompletionsOptions {
  /** Report calls in flight at most. Default {@link MAX_IN_FLIGHT}. */
  readonly maxInFlight?: number;
  /** Completions one call carries at most. Default {@link MAX_BATCH}. */
  readonly maxBatch?: number;
  /**
   * Called right after a report call was handed to the store (its commands
   * issued, not answered): the worker claims its freed slots then, so that
   * the claim follows the completions on the same connection, in the same
   * round trip (the Redis store sends the commands of one turn in one write).
   */
  readonly onSend?: () => void;
}

interface Waiting {
  readonly claim: Claim;
  readonly result: Uint8Array;
  readonly nextMax: number;
  readonly span?: string;
  readonly receiver: CompletionReceiver;
}

/**
 * A batching {@link Complete} on `store`; `options` gives the shared
 * options (time, worker, queues, lease) when a call is sent.
 */
export const completions = (
  store: Store,
  options: () => Omit<CompleteOptions, "nextMax" | "span">,
  how: CompletionsOptions = {},
): BatchedComplete => {
  const maxInFlight = how.maxInFlight ?? MAX_IN_FLIGHT;
  const maxBatch = how.maxBatch ?? MAX_BATCH;
  let waiting: Waiting[] = [];

  const send = (batch: ReadonlyArray<Waiting>): Promise<ReadonlyArray<ReportResult>> => {
    const opts = options();
    if (batch.length > 1 && store.completeMany) return store.completeMany(batch, opts);
    return Promise.all(
      batch.map((w) => {
        // (one literal: a spread into a new object costs V8 a slow path on every call)
        const one: CompleteOptions = {
          now: opts.now,
          workerId: opts.workerId,
          queues: opts.queues,
          leaseMs: opts.leaseMs,
          nextMax: w.nextMax,
        };
        return store.complete(
          w.claim,
          w.result,
          w.span === undefined ? one : { ...one, span: w.span },
        );
      }),
    );
  };

  let inFlight = 0;
  let scheduled = false;
  // sends what waits while fewer than `maxInFlight` calls are out: Redis works on one
  // batch while the worker's handlers fill the next
  const pump = () => {
    scheduled = false;
    let sent = false;
    while (waiting.length > 0 && inFlight < maxInFlight) {
      // (the first `maxBatch`, in the order they finished; the rest in the next calls)
      const batch = waiting.length > maxBatch ? waiting.splice(0, maxBatch) : waiting;
      if (batch === waiting) waiting = [];
      inFlight += 1;
      sent = true;
      // a store that throws instead of rejecting fails this batch alone (no async wrapper: its
      // promise resolved with the call's would answer a few microtask turns later)
      let call: Promise<ReadonlyArray<ReportResult>>;
      try {
        call = send(batch);
      } catch (e) {
        call = Promise.reject(e);
      }
      void call
        .then(
          (reports) => {
            for (let i = 0; i < batch.length; i++) batch[i]!.receiver.reported(reports[i]!);
          },
          (e: unknown) => {
            for (const w of batch) w.receiver.failed(e);
          },
        )
        .finally(() => {
          inFlight -= 1;
          schedule();
        });
    }
    if (sent) how.onSend?.();
  };
  const schedule = () => {
    if (scheduled || waiting.length === 0) return;
    scheduled = true;
    process.nextTick(pump);
  };

  const to = (
    claim: Claim,
    result: Uint8Array,
    nextMax: number,
    span: string | undefined,
    receiver: CompletionReceiver,
  ) => {
    waiting.push(
      span === undefined
        ? { claim, result, nextMax, receiver }
        : { claim, result, nextMax, span, receiver },
    );
    schedule();
  };
  const complete: Complete = (claim, result, nextMax, span) =>
    new Promise<ReportResult>((resolve, reject) => {
      to(claim, result, nextMax, span, { reported: resolve, failed: reject });
    });
  return Object.assign(complete, { waiting: () => waiting.length, to });
};
