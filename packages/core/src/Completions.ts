/**
 * A worker's completions, sent together: a completion waits for the end of
 * the current turn of the event loop (`process.nextTick`, after the
 * microtasks queued by then), and the completions gathered by then go in one
 * `Store.completeMany` call (the Redis store: one script call per shard),
 * so handlers that finish together cost one round trip. At most
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

/** Report calls a worker keeps in flight at most; the completions that finish meanwhile wait and go together. */
export const MAX_IN_FLIGHT = 4;

/** How {@link completions} sends. */
export interface CompletionsOptions {
  /** Report calls in flight at most. Default {@link MAX_IN_FLIGHT}. */
  readonly maxInFlight?: number;
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
  let waiting: Waiting[] = [];

  const send = (batch: ReadonlyArray<Waiting>): Promise<ReadonlyArray<ReportResult>> => {
    const opts = options();
    if (batch.length > 1 && store.completeMany) return store.completeMany(batch, opts);
    return Promise.all(
      batch.map((w) =>
        store.complete(w.claim, w.result, {
          ...opts,
          nextMax: w.nextMax,
          ...(w.span === undefined ? {} : { span: w.span }),
        }),
      ),
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
      const batch = waiting;
      waiting = [];
      inFlight += 1;
      sent = true;
      // a store that throws instead of rejecting fails this batch alone
      const call = (async () => send(batch))();
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
