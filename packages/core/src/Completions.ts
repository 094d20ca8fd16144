/**
 * A worker's completions, sent together: while fewer than
 * {@link MAX_IN_FLIGHT} report calls are in flight a completion goes at once;
 * those that finish while that many are out wait for one to answer and then
 * go in one `Store.completeMany` call (the Redis store: one script call per shard),
 * so a busy worker pays about one round trip per batch instead of one per
 * node. A store without `completeMany` gets one `complete` call per item.
 * Each caller gets its own report, in the store's answer for its item; an
 * error of the call rejects every item it carried (their leases expire and
 * the nodes are re-delivered, as for a single failed report).
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

/** Report calls a worker keeps in flight at most; the completions that finish meanwhile wait and go together. */
export const MAX_IN_FLIGHT = 4;

interface Waiting {
  readonly claim: Claim;
  readonly result: Uint8Array;
  readonly nextMax: number;
  readonly span?: string;
  readonly resolve: (r: ReportResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * A batching {@link Complete} on `store`; `options` gives the shared
 * options (time, worker, queues, lease) when a call is sent; at most
 * `maxInFlight` report calls are out at once (default {@link MAX_IN_FLIGHT}).
 */
export const completions = (
  store: Store,
  options: () => Omit<CompleteOptions, "nextMax" | "span">,
  maxInFlight = MAX_IN_FLIGHT,
): Complete => {
  let waiting: Waiting[] = [];

  const send = async (batch: ReadonlyArray<Waiting>): Promise<ReadonlyArray<ReportResult>> => {
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
  // sends what waits while fewer than `maxInFlight` calls are out: Redis works on one
  // batch while the worker's handlers fill the next
  const pump = () => {
    while (waiting.length > 0 && inFlight < maxInFlight) {
      const batch = waiting;
      waiting = [];
      inFlight += 1;
      void send(batch)
        .then(
          (reports) => {
            for (const [i, w] of batch.entries()) w.resolve(reports[i]!);
          },
          (e: unknown) => {
            for (const w of batch) w.reject(e);
          },
        )
        .finally(() => {
          inFlight -= 1;
          pump();
        });
    }
  };

  return (claim, result, nextMax, span) =>
    new Promise<ReportResult>((resolve, reject) => {
      waiting.push({
        claim,
        result,
        nextMax,
        ...(span === undefined ? {} : { span }),
        resolve,
        reject,
      });
      pump();
    });
};
