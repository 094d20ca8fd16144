import { describe, expect, it } from "vitest";
import { type SleepOwner, virtualClock } from "../src/index.ts";

describe("virtualClock", () => {
  it("wakes sleepers in deadline order, each at its deadline, then moves to the end of the jump", async () => {
    const clock = await virtualClock(1_000);
    const woke: Array<[string, number]> = [];
    const nap = (name: string, ms: number) =>
      clock.sleep(ms).then(() => woke.push([name, clock.now()]));
    void nap("b", 30);
    void nap("a", 10);
    void nap("c", 30);
    expect(clock.nextDeadline()).toBe(1_010);
    await clock.advance(50);
    expect(woke).toEqual([
      ["a", 1_010],
      ["b", 1_030],
      ["c", 1_030],
    ]);
    expect(clock.now()).toBe(1_050);
    expect(clock.nextDeadline()).toBeUndefined();
    expect(await clock.advanceToNext()).toBe(false);
  });

  it("lets a woken sleeper's continuation run, and sleep again, before the next deadline", async () => {
    const clock = await virtualClock(0);
    const ticks: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        ticks.push(clock.now());
      }
    })();
    void clock.sleep(25).then(() => ticks.push(-clock.now()));
    await clock.advance(100);
    expect(ticks).toEqual([10, 20, -25, 30]);
  });

  it("advanceToNext moves to the earliest deadline and wakes what is due then", async () => {
    const clock = await virtualClock(0);
    let woken = 0;
    void clock.sleep(5).then(() => woken++);
    void clock.sleep(5).then(() => woken++);
    void clock.sleep(9).then(() => woken++);
    expect(await clock.advanceToNext()).toBe(true);
    await Promise.resolve();
    expect([clock.now(), woken]).toEqual([5, 2]);
  });

  it("an aborted sleep resolves at once and leaves the queue; a sleep of 0 ms or less resolves at once", async () => {
    const clock = await virtualClock(0);
    const abort = new AbortController();
    const aborted = clock.sleep(100, abort.signal);
    void clock.sleep(200);
    abort.abort("done");
    await aborted;
    expect(clock.nextDeadline()).toBe(200);
    await clock.sleep(0);
    await clock.sleep(-5);
    expect(clock.now()).toBe(0);
  });

  it("a sleep of Infinity ends only through its signal and is no deadline", async () => {
    const clock = await virtualClock(0);
    const abort = new AbortController();
    const forever = clock.sleep(Number.POSITIVE_INFINITY, abort.signal);
    expect(clock.nextDeadline()).toBeUndefined();
    abort.abort("done");
    await forever;
  });

  it("counts the sleeps started under attribute() for their owner, through async continuations", async () => {
    const clock = await virtualClock(0);
    const seen: number[] = [];
    const owner: SleepOwner = { sleeping: 0, changed: () => seen.push(owner.sleeping) };
    const other: SleepOwner = { sleeping: 0 };
    const abort = new AbortController();
    const done = clock.attribute(owner, async () => {
      await Promise.resolve();
      const a = clock.sleep(10);
      const b = clock.sleep(20, abort.signal);
      await clock.attribute(other, () => clock.sleep(5));
      await a;
      await b;
    });
    void clock.sleep(1); // not attributed
    await Promise.resolve();
    await Promise.resolve();
    expect([owner.sleeping, other.sleeping]).toEqual([2, 1]);
    expect(clock.pending()).toEqual([
      { at: 1, owner: undefined },
      { at: 5, owner: other },
      { at: 10, owner },
      { at: 20, owner },
    ]);
    await clock.advance(5);
    expect(other.sleeping).toBe(0);
    await clock.advance(5);
    expect(owner.sleeping).toBe(1);
    abort.abort("done");
    await done;
    expect(seen).toEqual([1, 2, 1, 0]);
  });
});
