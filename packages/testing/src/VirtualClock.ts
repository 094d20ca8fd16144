/**
 * A virtual clock for the worker runtime, built on effect's `TestClock`: no
 * real time passes; the simulator moves time to the next sleeper's deadline
 * (or by a jump). A seeded random source goes with it, so a failing case
 * replays exactly from its seed.
 *
 * @since 0.1.0
 */
import type { WorkerClock } from "@weft/core";
import { Duration, Effect } from "effect";
import { TestClock } from "effect/testing";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

/** A worker clock whose time only moves when told to. */
export interface VirtualClock extends WorkerClock {
  /** Moves time forward by `ms`, waking every sleeper due by then, in order. */
  advance(ms: number): Promise<void>;
  /** Moves time to the earliest pending sleeper's deadline; false when nobody sleeps. */
  advanceToNext(): Promise<boolean>;
}

/** Creates a virtual clock reading `start` (epoch ms). */
export const virtualClock = async (start = 1_700_000_000_000): Promise<VirtualClock> => {
  const clock = await Effect.runPromise(Effect.scoped(TestClock.make()));
  await Effect.runPromise(clock.setTime(start));
  const deadlines: number[] = [];
  const now = () => clock.currentTimeMillisUnsafe();
  return {
    now,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.resolve();
      const end = now() + Math.max(0, ms);
      deadlines.push(end);
      const forget = () => {
        const i = deadlines.indexOf(end);
        if (i >= 0) deadlines.splice(i, 1);
      };
      return new Promise<void>((resolve) => {
        const finish = () => {
          signal?.removeEventListener("abort", finish);
          forget();
          resolve();
        };
        signal?.addEventListener("abort", finish, { once: true });
        void Effect.runPromise(clock.sleep(Duration.millis(Math.max(0, ms)))).then(finish);
      });
    },
    advance: (ms) => Effect.runPromise(clock.adjust(ms)),
    advanceToNext: async () => {
      if (deadlines.length === 0) return false;
      const next = Math.min(...deadlines);
      await Effect.runPromise(clock.adjust(Math.max(0, next - now())));
      return true;
    },
  };
};

/** A seeded random source of floats in `[0, 1)` (xoroshiro128+). */
export const seededRandom = (seed: number): (() => number) => {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
};
