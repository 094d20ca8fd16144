/**
 * The beat: fires schedules (docs/schedules.md). Any number of beats may run
 * against one store, on any number of machines; each tick fires once:
 *
 * 1. A beat claims a tick by compare-and-set of the schedule's state (its
 *    last decided tick and version, {@link ScheduleStore.advanceSchedule}):
 *    of two beats that read the same state, one moves it.
 * 2. The claimed tick is written in the state as `firing` before its run is
 *    submitted; the run carries the idempotency key `schedule:<id>:<tick>`
 *    and the tags `schedule:<id>` and `tick:<epoch ms>`.
 * 3. Any beat that finds a `firing` tick (its claimer may have crashed
 *    between claim and submit) submits it again, which the idempotency key
 *    makes the same run, and records the run in `lastRun`.
 *
 * So a crash between any two steps neither loses a tick nor fires it twice
 * (Celery beat must run as one process for this, celery #1495). The overlap
 * policy, catch-up window, jitter and pause are applied in step 1.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { MAX_TIMER_MS } from "./Canvas.ts";
import { createClient } from "./Client.ts";
import { type Clock, liveClock } from "./Clock.ts";
import { described } from "./Described.ts";
import { IdempotencyConflict, InvalidWorkerOptions, ScheduleNotFound } from "./Errors.ts";
import { TERMINAL_RUN_STATUSES } from "./Machine.ts";
import {
  checkSchedule,
  jitterOf,
  type Schedule,
  type ScheduleInput,
  type ScheduleRecord,
  type ScheduleState,
  type ScheduleStore,
  tickKey,
  ticksAfter,
  tickTags,
} from "./Schedule.ts";
import { checkStore, type Store } from "./Store.ts";
import { loggerOption } from "./WorkerLog.ts";

/** A store that keeps runs and schedules (both stores are). */
export type BeatStore = Store & ScheduleStore;

/** A tick a beat fired: the schedule, the tick (epoch ms) and its run. */
export interface FiredTick {
  readonly id: string;
  readonly tick: number;
  readonly runId: string;
  /**
   * When it was fired: the clock reading (epoch ms) of the scan that
   * submitted its run; `firedAt - tick` is the schedule's lag, ms.
   */
  readonly firedAt: number;
}

/** What one scan of the schedules did. */
export interface ScanReport {
  /** Ticks whose runs this scan submitted (another beat may have submitted the same run too). */
  readonly fired: ReadonlyArray<FiredTick>;
  /** The earliest time (epoch ms) a tick of an active schedule falls due, if any. */
  readonly nextDueAt?: number;
  /** Schedules whose scan failed, and why (retried on the next scan). */
  readonly errors: ReadonlyArray<{ readonly id: string; readonly error: unknown }>;
}

/** How many ticks a scan decides per schedule at most (bounded work per scan). */
export const MAX_TICKS_PER_SCAN = 100;
/** How many schedules a scan works on at once. */
const SCAN_CONCURRENCY = 16;
/** Idempotency window of a tick's run, ms: far longer than a beat takes from claim to submit. */
const TICK_KEY_WINDOW_MS = 86_400_000;

const isRunning = async (store: BeatStore, run: ScheduleState["lastRun"]): Promise<boolean> => {
  if (run === undefined) return false;
  const snap = await store.getRun(run.runId);
  return snap !== undefined && !TERMINAL_RUN_STATUSES.has(snap.run.status);
};

const omit = <T extends object, K extends keyof T>(o: T, key: K): Omit<T, K> => {
  const out = { ...o };
  delete out[key];
  return out;
};

/**
 * Submits tick `tick` of `schedule` (idempotent: the key
 * `schedule:<id>:<tick>` makes every call the same run) and answers the
 * run's id. A key that names a run of another fingerprint (the schedule's
 * target was edited between two beats' submits) answers that run.
 */
export const submitTick = async (
  store: BeatStore,
  schedule: Schedule,
  tick: number,
  now: number,
  extraTags: ReadonlyArray<string> = [],
): Promise<string> => {
  const tags = [...tickTags(schedule.id, tick), ...extraTags];
  const idempotencyKey = tickKey(schedule.id, tick);
  const common = {
    idempotencyKey,
    idempotencyWindowMs: TICK_KEY_WINDOW_MS,
    retentionMs: schedule.retentionMs,
    tags,
  };
  try {
    const t = schedule.target;
    if ("task" in t) {
      const client = createClient(store, () => now);
      const h = await client.submitByName(t.task, t.input, { ...t.options, ...common });
      return h.runId;
    }
    const res = await store.submit({
      runId: `${now.toString(36)}-${randomUUID().slice(0, 13).replace("-", "")}`,
      dag: { ...t.dag, tasks: [] },
      ...common,
      now,
    });
    return res.runId;
  } catch (e) {
    if (e instanceof IdempotencyConflict) return e.runId;
    throw e;
  }
};

/**
 * Decides and fires the due ticks of one schedule at `now` (bounded by
 * {@link MAX_TICKS_PER_SCAN}); answers what it fired and when the
 * schedule's next tick falls due. Safe to run from any number of beats at
 * once (see the module's description).
 */
export const scanSchedule = async (
  store: BeatStore,
  record: ScheduleRecord,
  now: number,
): Promise<{ fired: FiredTick[]; nextDueAt?: number }> => {
  const fired: FiredTick[] = [];
  let rec: ScheduleRecord | undefined = record;
  for (let step = 0; step < 3 * MAX_TICKS_PER_SCAN + 3 && rec; step++) {
    const { schedule: s, state } = rec;
    const { version, ...cur } = state;
    const cas = async (next: Omit<ScheduleState, "version">): Promise<boolean> => {
      const ok = await store.advanceSchedule(s.id, version, next);
      rec = ok
        ? { ...rec!, state: { ...next, version: version + 1 } }
        : await store.getSchedule(s.id);
      return ok;
    };
    // 3. a claimed tick whose run is not recorded: submit it (again) and record it
    if (cur.firing !== undefined) {
      const tick = cur.firing;
      const runId = await submitTick(store, s, tick, now);
      if (await cas({ ...omit(cur, "firing"), lastRun: { tick, runId } })) {
        fired.push({ id: s.id, tick, runId, firedAt: now });
      }
      continue;
    }
    // buffer-one: the buffered tick fires once the previous run ended
    if (cur.buffered !== undefined && !(await isRunning(store, cur.lastRun))) {
      await cas({ ...omit(cur, "buffered"), firing: cur.buffered });
      continue;
    }
    // the next tick not missed: older than the catch-up window (plus its jitter) is missed
    const start = Math.max(cur.lastTick ?? rec.createdAt, now - s.catchupWindowMs - s.jitterMs - 1);
    let due: number | undefined;
    let nextDueAt: number | undefined;
    const candidates = ticksAfter(s, start, Number.MAX_SAFE_INTEGER, MAX_TICKS_PER_SCAN);
    for (const t of candidates) {
      const at = t + jitterOf(s.id, t, s.jitterMs);
      if (now > at + s.catchupWindowMs) continue; // missed
      if (at > now) {
        nextDueAt = at;
        break;
      }
      due = t;
      break;
    }
    if (due === undefined) {
      return nextDueAt === undefined ? { fired } : { fired, nextDueAt };
    }
    if (s.paused) {
      // a paused schedule's ticks pass: decide the newest due one at once
      const passed = ticksAfter(s, due - 1, now, MAX_TICKS_PER_SCAN);
      await cas({ ...cur, lastTick: passed[passed.length - 1] ?? due });
      continue;
    }
    const tick = due;
    const busy = s.overlap === "allow" ? false : await isRunning(store, cur.lastRun);
    if (!busy) {
      await cas({ ...cur, lastTick: tick, firing: tick });
    } else if (s.overlap === "skip") {
      await cas({ ...cur, lastTick: tick });
    } else if (s.overlap === "buffer-one") {
      await cas(
        cur.buffered === undefined
          ? { ...cur, lastTick: tick, buffered: tick }
          : { ...cur, lastTick: tick },
      );
    } else {
      // cancel-previous: cancel, then claim the tick (a repeated cancel is harmless)
      if (cur.lastRun) await store.cancel(cur.lastRun.runId, { now });
      await cas({ ...cur, lastTick: tick, firing: tick });
    }
  }
  return { fired };
};

/**
 * One pass over every schedule in the store at `now` (what a beat does on
 * each wake-up). A schedule whose scan fails (the store unavailable) is
 * reported in `errors` and left for the next pass; the others go on.
 */
export const scanSchedules = async (store: BeatStore, now: number): Promise<ScanReport> => {
  const fired: FiredTick[] = [];
  const errors: Array<{ id: string; error: unknown }> = [];
  let nextDueAt: number | undefined;
  const records = [...(await store.listSchedules())];
  // schedules are independent: scanned SCAN_CONCURRENCY at a time, so a tick's lag does not
  // grow with the number of schedules due at the same instant
  const next = async (): Promise<void> => {
    for (let rec = records.shift(); rec !== undefined; rec = records.shift()) {
      try {
        const r = await scanSchedule(store, rec, now);
        fired.push(...r.fired);
        if (r.nextDueAt !== undefined && (nextDueAt === undefined || r.nextDueAt < nextDueAt)) {
          nextDueAt = r.nextDueAt;
        }
      } catch (error) {
        errors.push({ id: rec.schedule.id, error });
      }
    }
  };
  await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, next));
  return nextDueAt === undefined ? { fired, errors } : { fired, errors, nextDueAt };
};

/**
 * Upserts a schedule by id (checked first; a `{ canvas }` target is
 * compiled). The state of an existing schedule is kept, so no tick fires
 * twice after an edit.
 *
 * @throws InvalidSchedule naming the bad field; nothing is stored.
 * @example
 * await upsertSchedule(store, {
 *   id: "nightly-report",
 *   cron: "0 3 * * *",
 *   timezone: "Europe/Berlin",
 *   target: { task: "report.build", input: { kind: "daily" } },
 *   overlap: "skip",
 * });
 */
export const upsertSchedule = async (
  store: ScheduleStore,
  input: ScheduleInput,
  now: number = Date.now(),
): Promise<ScheduleRecord> => store.putSchedule(checkSchedule(input), { now });

/**
 * Fires a schedule now, outside its ticks (Temporal's "trigger
 * immediately"): a run with the tags `schedule:<id>`, `tick:<now>` and
 * `trigger`, whatever the overlap policy or pause; the schedule's state is
 * not changed.
 *
 * @throws ScheduleNotFound when no schedule has that id.
 */
export const triggerSchedule = async (
  store: BeatStore,
  id: string,
  now: number = Date.now(),
): Promise<string> => {
  const rec = await store.getSchedule(id);
  if (!rec) throw new ScheduleNotFound({ id });
  return submitTick(store, rec.schedule, now, now, ["trigger"]);
};

/** Options of {@link startBeat}. Durations are ms. */
export interface BeatOptions {
  readonly store: BeatStore;
  /** Clock to read and sleep on. Default the live clock; simulations pass a virtual one. */
  readonly clock?: Clock;
  /**
   * The longest sleep between two scans (a new schedule is seen within it),
   * a number of ms from 1 to `MAX_TIMER_MS`. Default 1 000.
   */
  readonly pollMs?: number;
  /** A pino logger. Default: pino at `WEFT_LOG_LEVEL` (info); `false`: no log at all. */
  readonly logger?: Logger | false;
  /** Called with every tick this beat fired. */
  readonly onFire?: (tick: FiredTick) => void;
}

/** A running beat. */
export interface Beat {
  /** A random id, in the log. */
  readonly id: string;
  /** Stops after the current scan; resolves when stopped. */
  stop(): Promise<void>;
}

/**
 * Starts a beat in this process: scans the schedules, sleeps until the
 * next tick falls due (at most `pollMs`), and again, until stopped. Any
 * number may run at once (see the module's description); a failing store
 * call is logged and retried on the next scan, never thrown.
 *
 * @throws InvalidStore when `store` is not a store (a Promise not awaited).
 * @throws InvalidWorkerOptions when `opts` is not an object, `pollMs` is
 *   not a number of ms from 1 to `MAX_TIMER_MS`, `clock` not a Clock,
 *   `onFire` not a function, or `logger` neither a pino logger nor `false`.
 *
 * @example
 * const beat = startBeat({ store });
 * // ...
 * await beat.stop();
 */
export const startBeat = (opts: BeatOptions): Beat => {
  const refuse = (option: string, value: unknown, allowed: string): never => {
    throw new InvalidWorkerOptions({
      reason: `startBeat's ${option} must be ${allowed}, got ${described(value)}`,
    });
  };
  if (typeof opts !== "object" || opts === null)
    refuse("options", opts, "an object ({ store, ... })");
  checkStore(opts.store, "startBeat's store option");
  const poll: unknown = opts.pollMs;
  if (poll !== undefined && !(typeof poll === "number" && poll >= 1 && poll <= MAX_TIMER_MS))
    refuse("pollMs", poll, `a number of ms from 1 to ${MAX_TIMER_MS}`);
  const c = opts.clock as Partial<Record<keyof Clock, unknown>> | undefined;
  if (c !== undefined && !(typeof c?.now === "function" && typeof c.sleep === "function"))
    refuse("clock", c, "a Clock: { now(), sleep(ms, signal) }");
  if (opts.onFire !== undefined && typeof opts.onFire !== "function")
    refuse("onFire", opts.onFire, "a function");
  const clock = opts.clock ?? liveClock;
  const pollMs = opts.pollMs ?? 1_000;
  const id = `beat-${randomUUID().slice(0, 8)}`;
  const log = loggerOption(opts.logger, "startBeat's logger").child({ beat: id });
  const halt = new AbortController();
  const loop = async () => {
    log.info("beat started");
    while (!halt.signal.aborted) {
      let wait = pollMs;
      try {
        const now = clock.now();
        const r = await scanSchedules(opts.store, now);
        for (const f of r.fired) {
          log.info({ schedule: f.id, tick: f.tick, runId: f.runId }, "tick fired");
          opts.onFire?.(f);
        }
        for (const e of r.errors) {
          log.warn({ schedule: e.id, err: e.error }, "schedule scan failed; retried next scan");
        }
        if (r.nextDueAt !== undefined) wait = Math.min(pollMs, Math.max(0, r.nextDueAt - now));
      } catch (err) {
        log.warn({ err }, "listing schedules failed; retried next scan");
      }
      await clock.sleep(wait, halt.signal);
    }
    log.info("beat stopped");
  };
  const done = loop();
  return {
    id,
    stop: async () => {
      halt.abort();
      await done;
    },
  };
};
