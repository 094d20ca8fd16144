/**
 * Keeping the leases of running attempts (BullMQ's `LockManager`, lifted
 * out of its worker the same way): one heartbeat renews every lease the
 * worker holds, and each answer stops the attempt it was asked about when
 * the lease is lost or the run cancelled.
 */
import { Cancelled, LeaseLost } from "./Errors.ts";
import type { Claim, LeaseState, Store } from "./Store.ts";

/** A lease the worker holds: the claim it was leased under, and how to stop that attempt. */
export interface HeldLease {
  readonly claim: Claim;
  /** Stops the attempt of `claim` (and only that one) with `why` as its abort reason. */
  readonly stop: (why: Error) => void;
}

/** Why an attempt stops when its lease answers `state`: the run was cancelled, or the lease was lost. */
export const leaseEndReason = (state: Exclude<LeaseState, "held">): Cancelled | LeaseLost =>
  state === "cancelled" ? new Cancelled() : new LeaseLost();

/**
 * Renews `leases` for `leaseMs` in one heartbeat, and stops each attempt
 * whose lease the store answers `lost` or `cancelled`. An answer is applied
 * to the lease it was asked about, never to whatever its worker slot runs
 * by the time it arrives (a slot may have completed that node and moved on
 * to the next one while the call was out): each {@link HeldLease} captures
 * its claim when the heartbeat is sent.
 *
 * @throws StoreUnavailable when the store cannot be reached: nothing is
 *   stopped, the leases hold until they expire, and the next heartbeat that
 *   gets through says which were lost.
 */
export const renewLeases = async (
  store: Store,
  leases: ReadonlyArray<HeldLease>,
  opts: { readonly now: number; readonly leaseMs: number },
): Promise<void> => {
  if (leases.length === 0) return;
  const states = await store.heartbeat(
    leases.map((l) => l.claim),
    opts,
  );
  states.forEach((state, i) => {
    const lease = leases[i];
    if (lease && state !== "held") lease.stop(leaseEndReason(state));
  });
};
