/**
 * Schedules (docs/schedules.md): periodic submissions, fired once per tick
 * however many beat processes run (see `Beat`). A schedule names when it
 * fires (`cron` with a `timezone`, parsed by croner, or `everyMs`), what it
 * submits (a task by name with its input, or a compiled canvas), what a tick
 * does while the previous run is still going (the overlap policy, Temporal's
 * `ScheduleOverlapPolicy`), how late a missed tick may still fire (the
 * catch-up window), a jitter, and whether it is paused.
 *
 * A store that keeps schedules implements {@link ScheduleStore}; both stores
 * (in memory and Redis) pass the schedule conformance suite.
 */
import { Cron } from "croner";
import type { Canvas, TaskOptions } from "./Canvas.ts";
import { MAX_VALUE_DEPTH, valueProblem } from "./Codec.ts";
import { compile, type Dag } from "./Dag.ts";
import { InvalidSchedule } from "./Errors.ts";
import { checkTaskName } from "./Task.ts";

/**
 * What a tick does while the run fired by the previous tick is still
 * pending or running (Temporal's overlap policies):
 * - `"allow"`: fire anyway (Celery beat's only behaviour);
 * - `"skip"`: do not fire this tick (Temporal's default, `SKIP`);
 * - `"cancel-previous"`: cancel the previous run, then fire (`CANCEL_OTHER`);
 * - `"buffer-one"`: fire this tick as soon as the previous run ends; a tick
 *   that finds one already buffered is dropped (`BUFFER_ONE`).
 */
export type OverlapPolicy = "allow" | "skip" | "cancel-previous" | "buffer-one";

/** The overlap policies, for validation and help texts. */
export const OVERLAP_POLICIES: ReadonlyArray<OverlapPolicy> = [
  "allow",
  "skip",
  "cancel-previous",
  "buffer-one",
];

/** A compiled canvas as a schedule stores it: a {@link Dag} without its task declarations. */
export type StoredDag = Pick<Dag, "nodes" | "output" | "queues">;

/**
 * What a tick submits: a task by name with its input (as
 * `client.submitByName` does; `options` are the node's task options), or a
 * compiled canvas.
 */
export type ScheduleTarget =
  | {
      readonly task: string;
      /** Plain data (JSON-like), handed to the task as its input. */
      readonly input: unknown;
      readonly options?: TaskOptions;
    }
  | { readonly dag: StoredDag };

/** A schedule as stored: every field set. Durations are ms; times are epoch ms. */
export interface Schedule {
  /** Unique name; upserting the same id replaces the definition and keeps its state. */
  readonly id: string;
  /** A cron expression (5 fields, or 6 with seconds first; croner's syntax), or `undefined` with `everyMs`. */
  readonly cron?: string;
  /** IANA time zone the cron expression is read in (`Europe/Berlin`). Default UTC. */
  readonly timezone?: string;
  /** Fire every this many ms, at multiples of it since the epoch (so every beat agrees). */
  readonly everyMs?: number;
  readonly target: ScheduleTarget;
  readonly overlap: OverlapPolicy;
  /**
   * A tick missed while no beat ran fires late if a beat sees it within
   * this many ms of its time (plus its jitter); older ticks are skipped.
   */
  readonly catchupWindowMs: number;
  /** Each tick fires up to this many ms late, by an amount every beat computes alike from id and tick. */
  readonly jitterMs: number;
  /** A paused schedule's ticks pass without firing (they are not caught up on resume). */
  readonly paused: boolean;
  /** How long each fired run is kept after it ends. */
  readonly retentionMs: number;
}

/** A schedule as declared: like {@link Schedule} with defaults, and a canvas accepted as target. */
export interface ScheduleInput {
  readonly id: string;
  readonly cron?: string;
  readonly timezone?: string;
  readonly everyMs?: number;
  /** What to submit: `{ task, input, options? }`, `{ canvas }` (compiled here) or `{ dag }`. */
  readonly target:
    | ScheduleTarget
    | { readonly canvas: Canvas<unknown, unknown> }
    | { readonly dag: Dag };
  /** Default `"skip"` (Temporal's default). */
  readonly overlap?: OverlapPolicy;
  /** Default 60 000 ms. */
  readonly catchupWindowMs?: number;
  /** Default 0. */
  readonly jitterMs?: number;
  /** Default false. */
  readonly paused?: boolean;
  /** Default 7 days. */
  readonly retentionMs?: number;
}

/**
 * A schedule's firing state, changed only by compare-and-set on `version`
 * ({@link ScheduleStore.advanceSchedule}): two beats that read the same
 * state cannot both move it, so a tick is claimed once.
 */
export interface ScheduleState {
  /** Bumped by every change. 0 for a new schedule. */
  readonly version: number;
  /** The newest tick decided (fired, skipped, buffered or dropped), epoch ms. */
  readonly lastTick?: number;
  /**
   * A tick claimed for firing whose run is not recorded yet: any beat
   * submits it (the idempotency key `schedule:<id>:<tick>` makes that one
   * run) and records it in `lastRun`.
   */
  readonly firing?: number;
  /** The newest fired tick and its run. */
  readonly lastRun?: { readonly tick: number; readonly runId: string };
  /** `buffer-one`: a tick waiting for `lastRun` to end. */
  readonly buffered?: number;
}

/** A stored schedule with its state. Times are epoch ms. */
export interface ScheduleRecord {
  readonly schedule: Schedule;
  readonly state: ScheduleState;
  /** When the schedule was first upserted: its first tick is the first one after this. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** The schedule part of a store (both stores implement it; checked by the schedule conformance suite). */
export interface ScheduleStore {
  /**
   * Upserts a schedule by id: a new one starts with state version 0, an
   * existing one keeps its state (so no tick fires twice after an edit).
   */
  putSchedule(schedule: Schedule, opts: { readonly now: number }): Promise<ScheduleRecord>;
  /** The schedule and its state, or `undefined`. */
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule, by id. */
  listSchedules(): Promise<ReadonlyArray<ScheduleRecord>>;
  /** Removes a schedule; false when there was none. */
  removeSchedule(id: string): Promise<boolean>;
  /** Pauses or resumes a schedule (its state is kept); false when there is none. */
  pauseSchedule(id: string, paused: boolean, opts: { readonly now: number }): Promise<boolean>;
  /**
   * Compare-and-set of a schedule's state: writes `next` with version
   * `version + 1` if the stored version is still `version` (atomically: a
   * Lua script on Redis). False when another beat moved it first or the
   * schedule is gone.
   */
  advanceSchedule(
    id: string,
    version: number,
    next: Omit<ScheduleState, "version">,
  ): Promise<boolean>;
}

/** Whether a store keeps schedules. */
export const isScheduleStore = (store: object): store is ScheduleStore =>
  typeof (store as Partial<ScheduleStore>).advanceSchedule === "function";

/** Default catch-up window, ms. */
export const DEFAULT_CATCHUP_WINDOW_MS = 60_000;
/** Default retention of a fired run, ms (7 days, as `submit`). */
export const DEFAULT_SCHEDULE_RETENTION_MS = 7 * 86_400_000;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

const bad = (id: unknown, field: string, reason: string): InvalidSchedule =>
  new InvalidSchedule({ id: typeof id === "string" ? id : String(id), field, reason });

const nonNegativeInt = (id: string, field: string, v: unknown, dflt: number): number => {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw bad(id, field, `must be a whole number of ms >= 0, got ${JSON.stringify(v)}`);
  }
  return v;
};

const crons = new Map<string, Cron>();

/** A croner instance for an expression and zone, never started (it only computes times). */
const cronOf = (expr: string, timezone: string | undefined): Cron => {
  const key = `${timezone ?? ""}\0${expr}`;
  let c = crons.get(key);
  if (!c) {
    c = new Cron(expr, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
    if (crons.size > 1000) crons.clear();
    crons.set(key, c);
  }
  return c;
};

/**
 * Checks a declared schedule and fills its defaults; a `{ canvas }` target
 * is compiled here, so a bad canvas is refused before anything is stored.
 *
 * @throws InvalidSchedule naming the bad field (id, cron, timezone, everyMs,
 *   target, overlap, catchupWindowMs, jitterMs, paused, retentionMs).
 * @throws InvalidCanvas when a canvas target does not compile.
 */
export const checkSchedule = (input: ScheduleInput): Schedule => {
  if (typeof input !== "object" || input === null) {
    throw bad("?", "schedule", `must be an object, got ${JSON.stringify(input)}`);
  }
  const { id } = input;
  if (typeof id !== "string" || !ID.test(id)) {
    throw bad(
      id,
      "id",
      `must be 1-200 characters of letters, digits and . _ : / - (starting with a letter or digit), got ${JSON.stringify(id)}`,
    );
  }
  const hasCron = input.cron !== undefined;
  const hasEvery = input.everyMs !== undefined;
  if (hasCron === hasEvery) throw bad(id, "cron", "give exactly one of cron and everyMs");
  if (input.timezone !== undefined && !hasCron) {
    throw bad(id, "timezone", "applies to cron only");
  }
  if (hasCron) {
    if (typeof input.cron !== "string") throw bad(id, "cron", "must be a string");
    try {
      cronOf(input.cron, undefined);
    } catch (e) {
      throw bad(id, "cron", `${JSON.stringify(input.cron)}: ${(e as Error).message}`);
    }
    if (input.timezone !== undefined) {
      if (typeof input.timezone !== "string") throw bad(id, "timezone", "must be a string");
      try {
        new Intl.DateTimeFormat("en", { timeZone: input.timezone });
      } catch {
        throw bad(
          id,
          "timezone",
          `${JSON.stringify(input.timezone)} is not an IANA time zone (e.g. "Europe/Berlin")`,
        );
      }
    }
  } else if (
    typeof input.everyMs !== "number" ||
    !Number.isSafeInteger(input.everyMs) ||
    input.everyMs < 1
  ) {
    throw bad(
      id,
      "everyMs",
      `must be a whole number of ms >= 1, got ${JSON.stringify(input.everyMs)}`,
    );
  }
  const overlap = input.overlap ?? "skip";
  if (!OVERLAP_POLICIES.includes(overlap)) {
    throw bad(
      id,
      "overlap",
      `must be one of ${OVERLAP_POLICIES.join(", ")}, got ${JSON.stringify(overlap)}`,
    );
  }
  if (input.paused !== undefined && typeof input.paused !== "boolean") {
    throw bad(id, "paused", `must be a boolean, got ${JSON.stringify(input.paused)}`);
  }
  return {
    id,
    ...(hasCron ? { cron: input.cron as string } : { everyMs: input.everyMs as number }),
    ...(input.timezone === undefined ? {} : { timezone: input.timezone }),
    target: targetOf(id, input.target),
    overlap,
    catchupWindowMs: nonNegativeInt(
      id,
      "catchupWindowMs",
      input.catchupWindowMs,
      DEFAULT_CATCHUP_WINDOW_MS,
    ),
    jitterMs: nonNegativeInt(id, "jitterMs", input.jitterMs, 0),
    paused: input.paused ?? false,
    retentionMs: nonNegativeInt(
      id,
      "retentionMs",
      input.retentionMs,
      DEFAULT_SCHEDULE_RETENTION_MS,
    ),
  };
};

const targetOf = (id: string, t: ScheduleInput["target"]): ScheduleTarget => {
  if (typeof t !== "object" || t === null) {
    throw bad(id, "target", "must be { task, input } or { canvas } or { dag }");
  }
  if ("canvas" in t) {
    const { nodes, output, queues } = compile(t.canvas);
    return { dag: { nodes, output, queues } };
  }
  if ("dag" in t) {
    const { nodes, output, queues } = t.dag;
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw bad(id, "target", "a dag target needs at least one node");
    }
    return { dag: { nodes, output, queues } };
  }
  if (!("task" in t)) throw bad(id, "target", "must be { task, input } or { canvas } or { dag }");
  try {
    checkTaskName(t.task);
  } catch (e) {
    throw bad(id, "target.task", (e as Error).message);
  }
  const problem = valueProblem(t.input, { plainData: true, maxDepth: MAX_VALUE_DEPTH });
  if (problem !== undefined) throw bad(id, "target.input", `must be plain data: ${problem}`);
  return {
    task: t.task,
    input: t.input,
    ...(t.options === undefined ? {} : { options: t.options }),
  };
};

/**
 * The ticks of a schedule after `after` (exclusive), in order, at most
 * `max` of them and none later than `until` (inclusive), epoch ms. Cron
 * ticks come from croner, in the schedule's time zone (see docs/schedules.md
 * for what happens in skipped and repeated DST hours); interval ticks are
 * the multiples of `everyMs`.
 */
export const ticksAfter = (
  schedule: Pick<Schedule, "cron" | "timezone" | "everyMs">,
  after: number,
  until: number,
  max: number,
): number[] => {
  const out: number[] = [];
  if (schedule.everyMs !== undefined) {
    const every = schedule.everyMs;
    for (
      let t = (Math.floor(after / every) + 1) * every;
      t <= until && out.length < max;
      t += every
    ) {
      out.push(t);
    }
    return out;
  }
  const c = cronOf(schedule.cron ?? "", schedule.timezone);
  let from = new Date(after);
  while (out.length < max) {
    const next = c.nextRun(from);
    if (!next) break;
    const t = next.getTime();
    if (t > until) break;
    if (t > after) out.push(t);
    from = new Date(Math.max(t, from.getTime() + 1));
  }
  return out;
};

/** The first tick after `after`, or `undefined` when the expression never fires again. */
export const nextTick = (
  schedule: Pick<Schedule, "cron" | "timezone" | "everyMs">,
  after: number,
): number | undefined => ticksAfter(schedule, after, Number.MAX_SAFE_INTEGER, 1)[0];

/**
 * When a schedule fires next, seen at `now` (epoch ms): its first tick
 * after the last one decided (or after it was created), no earlier than
 * its catch-up window allows, plus that tick's jitter. `undefined` while
 * paused or when its cron expression never fires again. What
 * `weft schedules list` and the dashboard show.
 */
export const nextFireAt = (record: ScheduleRecord, now: number): number | undefined => {
  const s = record.schedule;
  if (s.paused) return undefined;
  const after = Math.max(record.state.lastTick ?? record.createdAt, now - s.catchupWindowMs);
  const next = nextTick(s, after);
  return next === undefined ? undefined : next + jitterOf(s.id, next, s.jitterMs);
};

/**
 * The jitter of a tick, 0..`jitterMs` ms: FNV-1a of `<id>:<tick>`, so every
 * beat delays a tick by the same amount.
 */
export const jitterOf = (id: string, tick: number, jitterMs: number): number => {
  if (jitterMs <= 0) return 0;
  const text = `${id}:${tick}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % (jitterMs + 1);
};

/** The idempotency key of a tick's run. */
export const tickKey = (id: string, tick: number): string => `schedule:${id}:${tick}`;

/** The tags of a tick's run: `schedule:<id>` and `tick:<epoch ms>`. */
export const tickTags = (id: string, tick: number): ReadonlyArray<string> => [
  `schedule:${id}`,
  `tick:${tick}`,
];
