/**
 * The conformance suite's part on waits for work ended by their signal
 * (`Store.waitForWork`'s `signal`; docs/operations.md, "Wake-up"): a wait
 * whose signal aborts ends, one whose signal is aborted already returns at
 * once, and neither takes the wake-up a submission leaves for the next
 * waiter (a stopped worker's wait must not swallow the token meant for
 * another worker). Registered by `storeConformance`.
 */
import { createClient, Schema, type Store, task } from "@weft/core";
import { describe, expect, it } from "vitest";

const T0 = Date.UTC(2026, 0, 1);
/** A wait that only a wake-up or its signal ends within the test's time (the test times out otherwise). */
const HOUR = 3_600_000;

const step = task({ name: "wake.step", queue: "wq", input: Schema.Int, output: Schema.Int });

const claimOf = (store: Store, now: number) =>
  store.claim({ workerId: "w", queues: ["wq"], max: 10, leaseMs: 60_000, now });

/** Registers the tests of waits for work ended by their signal; `fresh` makes a store closed after the test. */
export const wakeConformance = (name: string, fresh: () => Promise<Store>): void => {
  describe(`${name}: waits for work ended by their signal`, () => {
    it("a wait whose signal aborts ends, and the next submission's wake-up is kept for the next waiter", async () => {
      const store = await fresh();
      // a short wait first: a store that opens a connection for waiting has one open now
      await store.waitForWork(["wq"], 10);
      const stop = new AbortController();
      const aborted = store.waitForWork(["wq"], HOUR, stop.signal);
      // a round trip: the wait is likely under way in the store (on Redis, its BLPOP
      // blocked) when the abort comes; either way it ends and takes nothing
      await store.queueStats(["wq"]);
      stop.abort("stop");
      await aborted; // nothing else ends it within the test: it would last an hour
      await createClient(store, () => T0).submit(step.si(1));
      // the node is claimed: only the submission's wake-up can end the next wait
      expect(await claimOf(store, T0)).toHaveLength(1);
      await store.waitForWork(["wq"], HOUR);
    });

    it("a wait whose signal is aborted already returns at once and takes no wake-up", async () => {
      const store = await fresh();
      const stopped = new AbortController();
      stopped.abort("stop");
      await store.waitForWork(["wq"], HOUR, stopped.signal);
      // with a wake-up kept (the node is claimed: only the wake-up is left)
      await createClient(store, () => T0).submit(step.si(2));
      expect(await claimOf(store, T0)).toHaveLength(1);
      await store.waitForWork(["wq"], HOUR, stopped.signal);
      // the wake-up is still there for the next waiter
      await store.waitForWork(["wq"], HOUR);
    });
  });
};
