/**
 * The schedule conformance suite (docs/schedules.md): what every store that
 * keeps schedules must do, and what the beat does on it. Upsert, pause,
 * remove and the compare-and-set of a schedule's state; ticks fired once
 * with their idempotency key and tags; the overlap policies, the catch-up
 * window, jitter, pause, trigger; cron ticks across the DST transitions of
 * a named zone; and a property: any number of beats, scanning at random
 * times with skewed clocks that jump, crashing at random points, fire every
 * tick once and never twice (docs/guarantees.md #13).
 */
import { fc, test } from "@fast-check/vitest";
import {
  type BeatStore,
  chain,
  createClient,
  InvalidSchedule,
  type RunRecord,
  type ScheduleInput,
  Schema,
  startBeat,
  task,
  triggerSchedule,
  upsertSchedule,
} from "@weft/core";
import { jitterOf, scanSchedule, scanSchedules, tickKey, ticksAfter } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { freshStores } from "./internal/conformanceSetup.ts";
import { propertyRuns, propertyTimeoutMs } from "./internal/properties.ts";
import { virtualClock } from "./VirtualClock.ts";

/** Makes a fresh, empty store that keeps schedules. */
export type BeatStoreFactory = () => Promise<BeatStore>;

const T0 = Date.UTC(2026, 0, 1); // a whole minute, hour and day
const silent = pino({ level: "silent" });
const ping = task({
  name: "beat.ping",
  input: Schema.Struct({ n: Schema.Int }),
  output: Schema.Int,
});

const inc = task({ name: "beat.inc", input: Schema.Int, output: Schema.Int });

const every = (id: string, everyMs: number, more: Partial<ScheduleInput> = {}): ScheduleInput => ({
  id,
  everyMs,
  target: { task: "beat.ping", input: { n: 1 } },
  overlap: "allow",
  ...more,
});

/** The runs a schedule fired, oldest tick first, with their tick. */
const runsOf = async (store: BeatStore, id: string) => {
  const runs = await store.listRuns({ limit: 10_000 });
  return runs
    .filter((r) => r.tags.includes(`schedule:${id}`))
    .map((r) => ({
      ...r,
      tick: Number(r.tags.find((t) => t.startsWith("tick:"))?.slice(5)),
    }))
    .sort((a, b) => a.tick - b.tick || a.createdAt - b.createdAt);
};

const status = async (store: BeatStore, runId: string): Promise<RunRecord["status"]> =>
  (await store.getRun(runId))!.run.status;

/**
 * A store whose calls fail after `calls` of them: a beat using it crashes
 * at that point of its scan (before or after a claim, a submit, a record).
 */
const crashing = (store: BeatStore, calls: number): BeatStore => {
  let left = calls;
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (left-- <= 0) return Promise.reject(new Error("beat crashed"));
        return Reflect.apply(v, target, args);
      };
    },
  });
};

/** Runs the schedule conformance suite against stores made by `makeStore`. */
export const scheduleConformance = (
  name: string,
  makeStore: BeatStoreFactory,
  opts: { readonly runs?: number } = {},
): void => {
  const fresh = freshStores(makeStore);

  describe(`${name}: schedules in the store`, () => {
    it("upserts by id, keeps the state across an edit, pauses, removes", async () => {
      const store = await fresh();
      const a = await upsertSchedule(store, every("a", 60_000), T0);
      expect(a.schedule).toMatchObject({
        id: "a",
        everyMs: 60_000,
        overlap: "allow",
        paused: false,
      });
      expect(a.state.version).toBe(0);
      expect(a.createdAt).toBe(T0);
      expect(await store.advanceSchedule("a", 0, { lastTick: T0 + 60_000 })).toBe(true);
      const edited = await upsertSchedule(store, every("a", 30_000, { overlap: "skip" }), T0 + 5);
      expect(edited.schedule.everyMs).toBe(30_000);
      expect(edited.schedule.overlap).toBe("skip");
      expect(edited.state).toEqual({ version: 1, lastTick: T0 + 60_000 });
      expect(edited.createdAt).toBe(T0);
      expect(edited.updatedAt).toBe(T0 + 5);
      await upsertSchedule(
        store,
        {
          id: "b",
          cron: "0 3 * * *",
          timezone: "Europe/Berlin",
          target: { canvas: chain(ping.si({ n: 2 }), inc.s()) },
        },
        T0,
      );
      expect((await store.listSchedules()).map((r) => r.schedule.id)).toEqual(["a", "b"]);
      const b = await store.getSchedule("b");
      expect(b?.schedule.timezone).toBe("Europe/Berlin");
      expect("dag" in b!.schedule.target && b!.schedule.target.dag.nodes.length).toBe(2);
      expect(await store.pauseSchedule("a", true, { now: T0 + 6 })).toBe(true);
      expect((await store.getSchedule("a"))?.schedule.paused).toBe(true);
      expect((await store.getSchedule("a"))?.state.version).toBe(1);
      expect(await store.pauseSchedule("nope", true, { now: T0 })).toBe(false);
      expect(await store.removeSchedule("a")).toBe(true);
      expect(await store.removeSchedule("a")).toBe(false);
      expect(await store.getSchedule("a")).toBeUndefined();
      expect((await store.listSchedules()).map((r) => r.schedule.id)).toEqual(["b"]);
    });

    it("advances a schedule's state by compare-and-set on its version", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("cas", 1_000), T0);
      expect(await store.advanceSchedule("cas", 0, { lastTick: 1, firing: 1 })).toBe(true);
      // a second beat that read version 0 loses
      expect(await store.advanceSchedule("cas", 0, { lastTick: 1, firing: 1 })).toBe(false);
      expect(
        await store.advanceSchedule("cas", 1, { lastTick: 1, lastRun: { tick: 1, runId: "r" } }),
      ).toBe(true);
      expect((await store.getSchedule("cas"))?.state).toEqual({
        version: 2,
        lastTick: 1,
        lastRun: { tick: 1, runId: "r" },
      });
      expect(await store.advanceSchedule("gone", 0, {})).toBe(false);
    });

    it("refuses a bad schedule naming the field, storing nothing", async () => {
      const store = await fresh();
      const bad: Array<[Partial<ScheduleInput>, string]> = [
        [{ cron: "61 * * * *" }, "cron"],
        [{ everyMs: 0 }, "everyMs"],
        [{ cron: "* * * * *", timezone: "Mars/Olympus" }, "timezone"],
        [{ overlap: "sometimes" as never }, "overlap"],
        [{ jitterMs: -1 }, "jitterMs"],
        [{ target: { task: "no spaces allowed", input: 1 } }, "target.task"],
        [{ target: { task: "t", input: { at: new Date() } } }, "target.input"],
      ];
      for (const [change, field] of bad) {
        const { everyMs: _, ...base } = every("bad", 1_000);
        const input = {
          ...(change.cron === undefined ? every("bad", 1_000) : base),
          ...change,
        } as ScheduleInput;
        const e = await upsertSchedule(store, input, T0).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e, field).toBeInstanceOf(InvalidSchedule);
        expect((e as InvalidSchedule).field).toBe(field);
      }
      expect(await store.listSchedules()).toEqual([]);
    });
  });

  describe(`${name}: the beat fires each tick once`, () => {
    it("fires every due tick with its idempotency key and tags, and nothing early", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("e", 10_000, { catchupWindowMs: 3_600_000 }), T0 + 1);
      expect((await scanSchedules(store, T0 + 9_999)).fired).toEqual([]);
      const r = await scanSchedules(store, T0 + 30_000);
      expect(r.fired.map((f) => f.tick)).toEqual([T0 + 10_000, T0 + 20_000, T0 + 30_000]);
      expect(r.nextDueAt).toBe(T0 + 40_000);
      const runs = await runsOf(store, "e");
      expect(runs.map((x) => x.tick)).toEqual([T0 + 10_000, T0 + 20_000, T0 + 30_000]);
      expect(runs[0]!.tags).toEqual(["schedule:e", `tick:${T0 + 10_000}`]);
      // the run carries the tick's idempotency key: submitting it again gives the same run
      const again = await createClient(store, () => T0 + 30_001).submitByName(
        "beat.ping",
        { n: 1 },
        { idempotencyKey: tickKey("e", T0 + 10_000) },
      );
      expect(again.existing).toBe(true);
      expect(again.runId).toBe(runs[0]!.id);
      expect((await scanSchedules(store, T0 + 30_000)).fired).toEqual([]);
      const s = await store.getSchedule("e");
      expect(s?.state).toMatchObject({ lastTick: T0 + 30_000, lastRun: { tick: T0 + 30_000 } });
    });

    it("fires a tick once when beats scan at the same instant", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("race", 1_000, { catchupWindowMs: 3_600_000 }), T0);
      await Promise.all([1, 2, 3, 4].map(() => scanSchedules(store, T0 + 5_000)));
      const runs = await runsOf(store, "race");
      expect(runs.map((x) => x.tick)).toEqual([1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    });

    it("a tick claimed by a beat that crashed before submitting fires once, from another beat", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("crash", 1_000), T0);
      // the claim (state written with `firing`), then the crash: nothing submitted
      expect(
        await store.advanceSchedule("crash", 0, { lastTick: T0 + 1_000, firing: T0 + 1_000 }),
      ).toBe(true);
      expect(await runsOf(store, "crash")).toEqual([]);
      const r = await scanSchedules(store, T0 + 1_500);
      expect(r.fired.map((f) => f.tick)).toEqual([T0 + 1_000]);
      expect((await runsOf(store, "crash")).map((x) => x.tick)).toEqual([T0 + 1_000]);
      // and a beat that crashed after submitting, before recording: the same run, not a second
      await store.advanceSchedule("crash", 2, { lastTick: T0 + 2_000, firing: T0 + 2_000 });
      const rec = (await store.getSchedule("crash"))!;
      // its submit goes through, its record does not
      await scanSchedule(crashing(store, 1), rec, T0 + 2_000).catch(() => undefined);
      await scanSchedules(store, T0 + 2_000);
      expect((await runsOf(store, "crash")).map((x) => x.tick)).toEqual([T0 + 1_000, T0 + 2_000]);
    });

    it("skips ticks older than the catch-up window", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("late", 60_000, { catchupWindowMs: 150_000 }), T0);
      // no beat ran for 10 minutes: the ticks within 150 s fire, older ones do not
      const r = await scanSchedules(store, T0 + 600_000);
      expect(r.fired.map((f) => f.tick)).toEqual([T0 + 480_000, T0 + 540_000, T0 + 600_000]);
    });

    it("delays each tick by its jitter, alike in every beat", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("jit", 60_000, { jitterMs: 30_000 }), T0);
      const tick = T0 + 60_000;
      const at = tick + jitterOf("jit", tick, 30_000);
      expect(at).toBeLessThanOrEqual(tick + 30_000);
      if (at > tick) {
        const early = await scanSchedules(store, at - 1);
        expect(early.fired).toEqual([]);
        expect(early.nextDueAt).toBe(at);
      }
      const r = await scanSchedules(store, at);
      expect(r.fired.map((f) => f.tick)).toEqual([tick]);
    });

    it("a paused schedule's ticks pass without firing, and are not caught up on resume", async () => {
      const store = await fresh();
      await upsertSchedule(
        store,
        every("p", 1_000, { paused: true, catchupWindowMs: 3_600_000 }),
        T0,
      );
      expect((await scanSchedules(store, T0 + 5_000)).fired).toEqual([]);
      await store.pauseSchedule("p", false, { now: T0 + 5_000 });
      const r = await scanSchedules(store, T0 + 6_000);
      expect(r.fired.map((f) => f.tick)).toEqual([T0 + 6_000]);
      expect((await runsOf(store, "p")).length).toBe(1);
    });

    it("trigger fires now, tagged, whatever the policy, without changing the state", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("trig", 3_600_000, { paused: true }), T0);
      const runId = await triggerSchedule(store, "trig", T0 + 7);
      const run = await store.getRun(runId);
      expect(run?.run.tags).toEqual(["schedule:trig", `tick:${T0 + 7}`, "trigger"]);
      expect((await store.getSchedule("trig"))?.state.version).toBe(0);
      await expect(triggerSchedule(store, "none", T0)).rejects.toMatchObject({
        _tag: "ScheduleNotFound",
      });
    });

    it("startBeat fires on its clock's time (a virtual clock: no real time passes)", async () => {
      const store = await fresh();
      const clock = await virtualClock(T0);
      await upsertSchedule(store, every("vb", 1_000), T0);
      const fired: number[] = [];
      const lags: number[] = [];
      const beat = startBeat({
        store,
        clock,
        logger: silent,
        onFire: (f) => {
          fired.push(f.tick);
          lags.push(f.firedAt - f.tick);
        },
      });
      // let the beat sleep, then wake it at each tick
      while (fired.length < 3) {
        if (clock.nextDeadline() === undefined) await new Promise((r) => setImmediate(r));
        else await clock.advanceToNext();
      }
      await beat.stop();
      expect(fired.slice(0, 3)).toEqual([T0 + 1_000, T0 + 2_000, T0 + 3_000]);
      // fired at the scan's clock reading: never before its tick, within one poll after it
      for (const lag of lags) expect(lag >= 0 && lag <= 1_000).toBe(true);
    });
  });

  describe(`${name}: overlap policies`, () => {
    // no worker runs: a fired run stays pending until the test cancels it (it ends)
    it("skip: a tick is skipped while the previous run is pending or running", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("skip", 1_000, { overlap: "skip" }), T0);
      await scanSchedules(store, T0 + 1_000);
      await scanSchedules(store, T0 + 2_000);
      let runs = await runsOf(store, "skip");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000]);
      await store.cancel(runs[0]!.id, { now: T0 + 2_500 });
      await scanSchedules(store, T0 + 3_000);
      runs = await runsOf(store, "skip");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000, T0 + 3_000]);
    });

    it("allow: every tick fires, overlapping", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("allow", 1_000, { overlap: "allow" }), T0);
      await scanSchedules(store, T0 + 1_000);
      await scanSchedules(store, T0 + 2_000);
      const runs = await runsOf(store, "allow");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000, T0 + 2_000]);
      expect(["pending", "running"]).toContain(await status(store, runs[0]!.id));
    });

    it("cancel-previous: the previous run is cancelled, then the tick fires", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("cp", 1_000, { overlap: "cancel-previous" }), T0);
      await scanSchedules(store, T0 + 1_000);
      await scanSchedules(store, T0 + 2_000);
      const runs = await runsOf(store, "cp");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000, T0 + 2_000]);
      expect(await status(store, runs[0]!.id)).toBe("cancelled");
      expect(["pending", "running"]).toContain(await status(store, runs[1]!.id));
    });

    it("buffer-one: one tick waits for the previous run to end, further ones are dropped", async () => {
      const store = await fresh();
      await upsertSchedule(store, every("b1", 1_000, { overlap: "buffer-one" }), T0);
      await scanSchedules(store, T0 + 1_000);
      await scanSchedules(store, T0 + 2_000); // buffered
      await scanSchedules(store, T0 + 3_000); // dropped
      let runs = await runsOf(store, "b1");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000]);
      expect((await store.getSchedule("b1"))?.state.buffered).toBe(T0 + 2_000);
      await store.cancel(runs[0]!.id, { now: T0 + 3_100 });
      await scanSchedules(store, T0 + 3_200);
      runs = await runsOf(store, "b1");
      expect(runs.map((r) => r.tick)).toEqual([T0 + 1_000, T0 + 2_000]);
    });
  });

  describe(`${name}: cron ticks across DST (Europe/Berlin, croner)`, () => {
    const scanDays = async (store: BeatStore, id: string, from: number, to: number) => {
      for (let t = from; t <= to; t += 15 * 60_000) await scanSchedules(store, t);
      return (await runsOf(store, id)).map((r) => new Date(r.tick).toISOString());
    };

    it("a tick in the skipped hour fires once, at the end of the gap; a repeated hour fires once", async () => {
      const daily0230: ScheduleInput = {
        id: "dst",
        cron: "30 2 * * *",
        timezone: "Europe/Berlin",
        target: { task: "beat.ping", input: { n: 1 } },
        overlap: "allow",
      };
      const store = await fresh();
      const spring = Date.UTC(2026, 2, 27);
      await upsertSchedule(store, daily0230, spring);
      // 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist and fires at 03:00 CEST (01:00Z)
      expect(await scanDays(store, "dst", spring, Date.UTC(2026, 2, 30, 12))).toEqual([
        "2026-03-27T01:30:00.000Z",
        "2026-03-28T01:30:00.000Z",
        "2026-03-29T01:00:00.000Z",
        "2026-03-30T00:30:00.000Z",
      ]);
      const fall = Date.UTC(2026, 9, 24, 12);
      const store2 = await fresh();
      await upsertSchedule(store2, daily0230, fall);
      // 2026-10-25 03:00 CEST → 02:00 CET: 02:30 happens twice and fires at the first (CEST)
      expect(await scanDays(store2, "dst", fall, Date.UTC(2026, 9, 26, 12))).toEqual([
        "2026-10-25T00:30:00.000Z",
        "2026-10-26T01:30:00.000Z",
      ]);
    });

    it("an every-30-minutes cron keeps firing every 30 real minutes through both transitions", async () => {
      const store = await fresh();
      const from = Date.UTC(2026, 9, 24, 23, 45);
      await upsertSchedule(
        store,
        {
          id: "half",
          cron: "*/30 * * * *",
          timezone: "Europe/Berlin",
          target: { task: "beat.ping", input: { n: 1 } },
          overlap: "allow",
        },
        from,
      );
      expect(await scanDays(store, "half", from, Date.UTC(2026, 9, 25, 2, 10))).toEqual([
        "2026-10-25T00:00:00.000Z",
        "2026-10-25T00:30:00.000Z",
        "2026-10-25T01:00:00.000Z",
        "2026-10-25T01:30:00.000Z",
        "2026-10-25T02:00:00.000Z",
      ]);
    });
  });

  describe(`${name}: property (docs/guarantees.md #13)`, () => {
    const runs = propertyRuns(opts.runs ?? 20);
    // one step: a beat scans at global time plus its skew (beats crash, pause, and their clocks jump)
    const step = fc.record({
      // the beats that scan at this step, at once
      beats: fc.subarray([0, 1, 2], { minLength: 1 }),
      advance: fc.integer({ min: 0, max: 4_000 }),
      // a beat crashes after this many store calls of its scan
      crashAfter: fc.array(fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }), {
        minLength: 3,
        maxLength: 3,
      }),
      jump: fc.option(fc.integer({ min: -3_000, max: 20_000 }), { nil: undefined }),
    });
    test.prop(
      [
        fc.array(step, { minLength: 1, maxLength: 30 }),
        fc.constantFrom(1_000, 2_500, 7_000),
        fc.constantFrom(5_000, 3_600_000),
        fc.integer({ min: 0, max: 1_500 }),
      ],
      { numRuns: runs },
    )(
      "any number of beats with crashes, pauses and clock jumps fire each tick at most once, and every tick in the window",
      async (steps, everyMs, catchupWindowMs, jitterMs) => {
        const store = await makeStore();
        try {
          await upsertSchedule(store, every("prop", everyMs, { catchupWindowMs, jitterMs }), T0);
          const skew = [0, 0, 0];
          let now = T0;
          let latest = T0;
          for (const s of steps) {
            now += s.advance;
            if (s.jump !== undefined) skew[s.beats[0]!] = s.jump;
            await Promise.all(
              s.beats.map((b) => {
                const seen = now + skew[b]!;
                latest = Math.max(latest, seen);
                const crash = s.crashAfter[b];
                const view = crash === undefined ? store : crashing(store, crash);
                return scanSchedules(view, seen).catch(() => undefined);
              }),
            );
          }
          // a last, healthy beat at the latest time any beat saw
          const end = Math.max(latest, now) + jitterMs;
          await scanSchedules(store, end);
          const fired = await runsOf(store, "prop");
          const ticks = fired.map((r) => r.tick);
          // never twice
          expect(new Set(ticks).size).toBe(ticks.length);
          // only real ticks, none after the end
          for (const t of ticks) {
            expect(t % everyMs).toBe(0);
            expect(t).toBeGreaterThan(T0);
            expect(t).toBeLessThanOrEqual(end);
          }
          // every tick within the catch-up window of the last scan fired
          for (
            let t = (Math.floor(T0 / everyMs) + 1) * everyMs;
            t + jitterMs <= end;
            t += everyMs
          ) {
            if (end - t <= catchupWindowMs) expect(ticks).toContain(t);
          }
          // with a window longer than the whole case, every tick fired
          if (catchupWindowMs > end - T0) {
            const all = [];
            for (
              let t = (Math.floor(T0 / everyMs) + 1) * everyMs;
              t + jitterMs <= end;
              t += everyMs
            )
              all.push(t);
            expect(ticks.filter((t) => t + jitterMs <= end)).toEqual(all);
          }
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(runs, 400),
    );

    // runs end only when the test cancels them (no worker runs): each step ends the newest
    // run or lets beats scan, so every policy meets runs that are still going
    test.prop(
      [
        fc.constantFrom("skip", "buffer-one", "cancel-previous", "allow"),
        fc.array(
          fc.oneof(
            fc.record({
              scan: fc.subarray([0, 1, 2], { minLength: 1 }),
              advance: fc.integer({ min: 0, max: 2_500 }),
            }),
            fc.constant({ end: true as const }),
          ),
          { minLength: 1, maxLength: 25 },
        ),
      ],
      {
        numRuns: runs,
        // (found by a run: its steps end 1 ms before a tick, which the last scan used to reach)
        examples: [
          [
            "buffer-one",
            [
              { scan: [1], advance: 45 },
              { scan: [2], advance: 1_753 },
              { scan: [2], advance: 426 },
              { scan: [1], advance: 108 },
              { scan: [1], advance: 1_718 },
              { scan: [2], advance: 1_949 },
              { end: true },
            ],
          ],
        ],
      },
    )(
      "overlap policies hold: skip and buffer-one never start a tick's run before the previous one ended, cancel-previous leaves one going, buffer-one fires its buffered tick",
      async (overlap, steps) => {
        const store = await makeStore();
        try {
          await upsertSchedule(
            store,
            every("ov", 1_000, {
              overlap: overlap as ScheduleInput["overlap"] & string,
              catchupWindowMs: 600_000,
            }),
            T0,
          );
          let now = T0;
          const endedAt = new Map<string, number>();
          const endNewest = async () => {
            const runs = await runsOf(store, "ov");
            const last = runs[runs.length - 1];
            if (last && !endedAt.has(last.id) && (await store.cancel(last.id, { now }))) {
              endedAt.set(last.id, now);
            }
          };
          for (const s of steps) {
            if ("end" in s) {
              await endNewest();
              continue;
            }
            now += s.advance;
            await Promise.all(s.scan.map(() => scanSchedules(store, now)));
          }
          await endNewest();
          // a last scan after the end, at a time that brings no new tick due (every 1,000 ms
          // from T0): a tick due then would wait behind the buffered one it fires
          if ((now + 1 - T0) % 1_000 !== 0) now += 1;
          await scanSchedules(store, now);
          const runs = await runsOf(store, "ov");
          const ticks = runs.map((r) => r.tick);
          expect(new Set(ticks).size).toBe(ticks.length);
          for (let k = 1; k < runs.length; k++) {
            const prev = runs[k - 1]!;
            const prevEnd = endedAt.get(prev.id);
            if (overlap === "skip" || overlap === "buffer-one") {
              // the previous run had ended when this one was submitted
              expect(prevEnd).toBeDefined();
              expect(runs[k]!.createdAt).toBeGreaterThanOrEqual(prevEnd!);
            }
            if (overlap === "cancel-previous") {
              expect(await status(store, prev.id)).toBe("cancelled");
            }
          }
          if (overlap === "buffer-one") {
            // the newest run was ended and a beat scanned after: nothing is left buffered
            expect((await store.getSchedule("ov"))?.state.buffered).toBeUndefined();
          }
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(runs, 400),
    );

    // DST: a beat scanning at random times fires exactly the ticks croner gives, once each
    test.prop(
      [
        fc.constantFrom("30 2 * * *", "0 * * * *", "*/20 * * * *", "15 3 * * 0"),
        fc.constantFrom(Date.UTC(2026, 2, 28, 12), Date.UTC(2026, 9, 24, 12)),
        fc.array(fc.integer({ min: 1, max: 3 * 3_600_000 }), { minLength: 1, maxLength: 40 }),
      ],
      { numRuns: runs },
    )(
      "across a DST change in Europe/Berlin, each of croner's ticks fires once and no other",
      async (cron, from, advances) => {
        const store = await makeStore();
        try {
          const schedule = { cron, timezone: "Europe/Berlin" };
          await upsertSchedule(
            store,
            {
              id: "tz",
              ...schedule,
              target: { task: "beat.ping", input: { n: 1 } },
              overlap: "allow",
              catchupWindowMs: 86_400_000,
            },
            from,
          );
          let now = from;
          for (const a of advances) {
            now += a;
            await scanSchedules(store, now);
          }
          const fired = (await runsOf(store, "tz")).map((r) => r.tick);
          expect(fired).toEqual(ticksAfter(schedule, from, now, 10_000));
        } finally {
          await store.close();
        }
      },
      propertyTimeoutMs(runs, 400),
    );
  });
};
