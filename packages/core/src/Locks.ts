/**
 * Distributed locks with fencing tokens, as handlers use them
 * (`ctx.lock(name)`, a task's `lock` option). A lock is acquired through
 * the store, returns a token that grows with every acquisition of that name
 * (Kleppmann, "How to do distributed locking", 2016: hand the token to the
 * resource so it can refuse a stale holder), renews itself every third of
 * its ttl while held, and is released when the attempt ends.
 *
 * @since 0.1.0
 */
import type { WorkerClock } from "./Clock.ts";
import { LockLost, LockTimeout } from "./Errors.ts";
import type { Store } from "./Store.ts";

/** A held lock. */
export interface HeldLock {
  readonly name: string;
  /** Fencing token: strictly greater than every earlier acquisition's. */
  readonly token: number;
  /** Releases the lock (idempotent). */
  release(): Promise<void>;
}

/** Options of a lock. Durations are ms. */
export interface LockOptions {
  /** Expiry unless renewed; renewed every `ttlMs / 3` while held. Default 30 000. */
  readonly ttlMs?: number;
  /** How long to wait for a held lock before giving up with `LockTimeout`. Default 10 000. */
  readonly waitMs?: number;
}

/**
 * Acquires `name` for `owner`, waiting up to `waitMs` (polling with
 * exponential backoff from 10 ms to 500 ms on `clock`).
 *
 * @param onLost called once if a renewal finds the lock lost.
 * @throws LockTimeout when the lock stayed held by another owner for `waitMs`.
 */
export const acquireLock = async (
  store: Store,
  clock: WorkerClock,
  owner: string,
  name: string,
  opts: LockOptions,
  onLost: (e: LockLost) => void,
): Promise<HeldLock> => {
  const ttl = Math.max(1, opts.ttlMs ?? 30_000);
  const wait = Math.max(0, opts.waitMs ?? 10_000);
  const start = clock.now();
  let pause = 10;
  let token = await store.acquireLock(name, owner, ttl, clock.now());
  while (token === undefined) {
    const left = wait - (clock.now() - start);
    if (left <= 0)
      throw new LockTimeout(`lock "${name}" stayed held by another owner for ${wait} ms`);
    await clock.sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, 500);
    token = await store.acquireLock(name, owner, ttl, clock.now());
  }
  const held = token;
  const stop = new AbortController();
  void (async () => {
    while (!stop.signal.aborted) {
      await clock.sleep(Math.max(1, Math.floor(ttl / 3)), stop.signal);
      if (stop.signal.aborted) return;
      const ok = await store.renewLock(name, owner, held, ttl, clock.now()).catch(() => false);
      if (!ok && !stop.signal.aborted) {
        stop.abort("done"); // a reason: no DOMException (and its stack) per call
        onLost(
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
    release: async () => {
      if (stop.signal.aborted) return;
      stop.abort("done");
      await store.releaseLock(name, owner, held);
    },
  };
};
