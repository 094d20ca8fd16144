/**
 * Distributed locks with fencing tokens, as handlers use them
 * (`ctx.lock(name)`, a task's `lock` option). A lock is taken through the
 * store and returns a token that grows with every acquisition of that name
 * (Kleppmann, "How to do distributed locking", 2016: hand the token to the
 * resource so it can refuse a stale holder); it renews itself every third of
 * its ttl while held, and is unlocked when the attempt ends.
 */
import type { WorkerClock } from "./Clock.ts";
import { LockLost, LockTimeout } from "./Errors.ts";
import type { Store } from "./Store.ts";

/** A held lock. */
export interface HeldLock {
  readonly name: string;
  /** Fencing token: strictly greater than every earlier acquisition's. */
  readonly token: number;
  /** Stops renewing and unlocks it at the store; a second call does nothing. */
  unlock(): Promise<void>;
}

/** Options of a lock. Durations are ms. */
export interface LockOptions {
  /** Expiry unless renewed; renewed every `ttlMs / 3` while held. Default 30 000. */
  readonly ttlMs?: number;
  /** How long to wait for a held lock before giving up with `LockTimeout`. Default 10 000. */
  readonly waitMs?: number;
}

/** What {@link acquireLock} takes: a lock, who asks for it, and what to do if it is lost. */
export interface LockAcquisition extends LockOptions {
  readonly name: string;
  /** The owner asking: one attempt (worker, run, node and fencing token). */
  readonly owner: string;
  /** Called once if a renewal finds the lock lost (expired, or taken by another owner). */
  readonly onLost: (e: LockLost) => void;
}

/**
 * Takes lock `req.name` for `req.owner`, waiting up to `req.waitMs` for
 * another owner to let go (polling with exponential backoff from 10 ms to
 * 500 ms on `clock`), and keeps it renewed until it is unlocked or lost.
 *
 * @throws LockTimeout (retryable) when another owner held the lock for all of `waitMs`.
 * @throws StoreUnavailable when the store cannot be reached.
 */
export const acquireLock = async (
  store: Store,
  clock: WorkerClock,
  req: LockAcquisition,
): Promise<HeldLock> => {
  const { name, owner } = req;
  const ttlMs = Math.max(1, req.ttlMs ?? 30_000);
  const waitMs = Math.max(0, req.waitMs ?? 10_000);
  const start = clock.now();
  let pause = 10;
  let token = await store.acquireLock({ name, owner, ttlMs, now: clock.now() });
  while (token === undefined) {
    const left = waitMs - (clock.now() - start);
    if (left <= 0)
      throw new LockTimeout(`lock "${name}" stayed held by another owner for ${waitMs} ms`);
    await clock.sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, 500);
    token = await store.acquireLock({ name, owner, ttlMs, now: clock.now() });
  }
  const held = token;
  const stop = new AbortController();
  void (async () => {
    while (!stop.signal.aborted) {
      await clock.sleep(Math.max(1, Math.floor(ttlMs / 3)), stop.signal);
      if (stop.signal.aborted) return;
      const renewed = await store
        .renewLock({ name, owner, token: held, ttlMs, now: clock.now() })
        .catch(() => false);
      if (!renewed && !stop.signal.aborted) {
        stop.abort("done"); // a reason: no DOMException (and its stack) per call
        req.onLost(
          new LockLost(
            `lock "${name}" (token ${held}) was lost: it expired or another owner took it`,
          ),
        );
        return;
      }
    }
  })();
  return {
    name,
    token: held,
    unlock: async () => {
      if (stop.signal.aborted) return;
      stop.abort("done");
      await store.releaseLock({ name, owner, token: held });
    },
  };
};
