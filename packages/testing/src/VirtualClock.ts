/**
 * A virtual clock for the worker runtime: no real time passes; the simulator
 * moves time to the next sleeper's deadline (or by a jump), waking sleepers
 * in deadline order, each after the previous one's continuations ran (the
 * semantics of effect's `TestClock.adjust`). A seeded random source goes
 * with it, so a failing case replays exactly from its seed.
 *
 * The sleepers are a queue of its own rather than effect's `TestClock`:
 * waking a TestClock sleeper runs a fiber, a semaphore and a latch (about
 * 0.2 ms each), and the simulator wakes tens of thousands of them per
 * virtual hour; the clock also has to say who sleeps on it. Code run under
 * {@link VirtualClock.attribute} has its sleeps counted for an owner, through
 * Node's `AsyncLocalStorage`, so the simulator can tell a handler that waits
 * on virtual time from one that awaits real I/O (see docs/testing.md).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Clock } from "@weft/core";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

/**
 * Someone sleeps on a virtual clock on behalf of: the clock counts the
 * sleeps started under {@link VirtualClock.attribute} for it that have not
 * ended yet.
 */
export interface SleepOwner {
  /** Sleeps started for this owner that have not ended (woken or aborted). Kept by the clock. */
  sleeping: number;
  /** Called after each change of `sleeping`. */
  readonly changed?: () => void;
}

/** A worker clock whose time only moves when told to. */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, waking every sleeper due by then in
   * deadline order, each at its deadline and after the continuations of the
   * one before it ran.
   */
  advance(ms: number): Promise<void>;
  /** Moves time to the earliest pending sleeper's deadline and wakes the sleepers due then; false when nobody sleeps. */
  advanceToNext(): Promise<boolean>;
  /** The earliest pending sleeper's deadline (epoch ms), or `undefined` when nobody sleeps (or only forever). */
  nextDeadline(): number | undefined;
  /** The pending sleeps with a deadline, earliest first, each with the owner it is counted for (if any). */
  pending(): ReadonlyArray<{ readonly at: number; readonly owner: SleepOwner | undefined }>;
  /**
   * Runs `fn` so that every sleep it starts on a virtual clock — at once or
   * later, in the async work it starts — is counted for `owner` until the
   * sleep ends. The innermost `attribute` wins. Returns what `fn` returns.
   */
  attribute<T>(owner: SleepOwner, fn: () => T): T;
}

/** One store for every virtual clock: an AsyncLocalStorage per clock would slow every promise down. */
const owners = new AsyncLocalStorage<SleepOwner>();

interface Sleeper {
  readonly at: number;
  readonly wake: () => void;
  readonly owner: SleepOwner | undefined;
}

const macrotask = () => new Promise<void>((r) => setImmediate(r));

/**
 * Creates a virtual clock reading `start` (epoch ms). A sleep of `ms <= 0`
 * resolves at once; one of `Infinity` (or `NaN`) ends only through its signal.
 */
export const virtualClock = async (start = 1_700_000_000_000): Promise<VirtualClock> => {
  let current = start;
  /** Pending sleepers with a finite deadline, by deadline, then registration. */
  const queue: Sleeper[] = [];
  const remove = (s: Sleeper) => {
    const i = queue.indexOf(s);
    if (i >= 0) queue.splice(i, 1);
  };
  const insert = (s: Sleeper) => {
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (queue[mid]!.at <= s.at) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, s);
  };
  /** Wakes, one by one, every sleeper due by `until`, moving time to each deadline. */
  const run = async (until: number) => {
    while (queue.length > 0 && queue[0]!.at <= until) {
      const s = queue.shift()!;
      current = Math.max(current, s.at);
      s.wake();
      await macrotask();
    }
  };
  return {
    now: () => current,
    sleep: (ms, signal) => {
      if (signal?.aborted || ms <= 0) return Promise.resolve();
      const owner = owners.getStore();
      return new Promise<void>((resolve) => {
        let ended = false;
        const end = () => {
          if (ended) return;
          ended = true;
          signal?.removeEventListener("abort", end);
          remove(sleeper);
          if (owner) {
            owner.sleeping -= 1;
            owner.changed?.();
          }
          resolve();
        };
        const sleeper: Sleeper = { at: current + ms, wake: end, owner };
        if (Number.isFinite(sleeper.at)) insert(sleeper);
        signal?.addEventListener("abort", end, { once: true });
        if (owner) {
          owner.sleeping += 1;
          owner.changed?.();
        }
      });
    },
    advance: async (ms) => {
      const until = current + Math.max(0, ms);
      await run(until);
      current = Math.max(current, until);
    },
    advanceToNext: async () => {
      const first = queue[0];
      if (!first) return false;
      await run(first.at);
      return true;
    },
    nextDeadline: () => queue[0]?.at,
    pending: () => queue.map(({ at, owner }) => ({ at, owner })),
    attribute: (owner, fn) => owners.run(owner, fn),
  };
};

/** A seeded random source of floats in `[0, 1)` (xoroshiro128+). */
export const seededRandom = (seed: number): (() => number) => {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
};
