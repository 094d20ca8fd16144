/**
 * The events streams as the Redis store reads them (docs/events.md,
 * docs/redis-layout.md): one stream per shard
 * (`<prefix>:{<prefix>:sNN}:events`). Each script call writes its events as
 * one entry (`b` → msgpack of a list of groups, one per run: `[runId, ms,
 * event, …]`, each event a list led by its kind's letter; see
 * `lua/includes/events.lua`: a group's time false when it is the previous
 * group's, an event's task 0 when it is the one the entry's previous
 * transition named; since 2026-12-06, a transition like the entry's previous
 * one but for its node as that node's number, and a group like the previous
 * one as its run id alone), whose id numbers its last event
 * (`<EVENTS_BASE + N>-0`), so that each event has a position of its own,
 * `<EVENTS_BASE + n>-0`. Entries of an older version hold one event each with
 * short fields (`r` run id, `k` kind, `ms` time, `n` node, `t` task, `a`
 * attempt, `e` error tag, `p` progress as msgpack, `s` run status) and the
 * entry's id as its position. The cursor over every shard's stream: the
 * position of the last event read in each, joined by commas (one with one
 * shard). The run-end channel's messages name the runs that stopped or
 * ended (`endedRunIds`).
 */
import {
  EVENT_KINDS,
  type EventKind,
  InvalidEventCursor,
  NODE_TRANSITION_KINDS,
  type NodeTransitionKind,
  type Progress,
  type RunStatus,
  type WeftEvent,
} from "@weft/core";
import { decode } from "@weft/core/store";

/** A stream entry as ioredis's `xreadBuffer` / `xrangeBuffer` give it: its id and its flat field list. */
export type RawEntry = [id: Buffer | string, fields: ReadonlyArray<Buffer | string>];

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;
const KINDS: ReadonlySet<string> = new Set(EVENT_KINDS);
const TRANSITIONS: ReadonlySet<string> = new Set(NODE_TRANSITION_KINDS);
const STATUSES: ReadonlySet<string> = new Set([
  "pending",
  "running",
  "succeeded",
  "failed",
  "cancelled",
]);

/**
 * The position in each of `shards` streams a cursor names: `undefined` is
 * before every entry (`0-0` each).
 *
 * @throws InvalidEventCursor when it is not one entry id per shard.
 */
export const parseCursor = (cursor: string | undefined, shards: number): string[] => {
  if (cursor === undefined) return Array.from({ length: shards }, () => "0-0");
  const ids = cursor.split(",");
  if (ids.length !== shards) {
    throw new InvalidEventCursor({
      cursor,
      reason: `it names ${ids.length} stream position(s); this store has ${shards} shard(s)`,
    });
  }
  const bad = ids.find((id) => !ENTRY_ID.test(id));
  if (bad !== undefined)
    throw new InvalidEventCursor({
      cursor,
      reason: `${JSON.stringify(bad)} is not a stream entry id`,
    });
  return ids;
};

/** Orders two stream entry ids ("ms-seq"); a position is one. */
export const compareIds = (a: string, b: string): number => {
  const [am, as] = a.split("-");
  const [bm, bs] = b.split("-");
  return Number(am) - Number(bm) || Number(as) - Number(bs);
};

const text = (v: Buffer | string | undefined): string | undefined =>
  v === undefined ? undefined : typeof v === "string" ? v : v.toString("utf8");

const progressOf = (raw: Buffer | string | undefined): Progress | undefined => {
  if (raw === undefined || typeof raw === "string") return undefined;
  try {
    const p = decode(raw) as Progress;
    return typeof p === "object" && p !== null && typeof p.current === "number" ? p : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The event an entry of a version before 2026-12-03 holds (one event, short
 * fields), with `id` as its cursor; `undefined` for one that is damaged or of
 * a kind this version does not know: readers skip it.
 */
export const toEvent = (
  fields: ReadonlyArray<Buffer | string>,
  id: string,
): WeftEvent | undefined => {
  const f = new Map<string, Buffer | string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(text(fields[i])!, fields[i + 1]!);
  const runId = text(f.get("r"));
  const kind = text(f.get("k"));
  const at = Number(text(f.get("ms")));
  if (runId === undefined || kind === undefined || !KINDS.has(kind) || !Number.isFinite(at))
    return undefined;
  const base = { id, runId, at };
  const nodeId = Number(text(f.get("n")));
  if (TRANSITIONS.has(kind)) {
    const task = text(f.get("t"));
    const attempt = Number(text(f.get("a")));
    if (!Number.isInteger(nodeId) || task === undefined || !Number.isInteger(attempt))
      return undefined;
    const errorTag = text(f.get("e"));
    return {
      ...base,
      kind: kind as NodeTransitionKind,
      nodeId,
      task,
      attempt,
      ...(errorTag === undefined ? {} : { errorTag }),
    };
  }
  switch (kind as EventKind) {
    case "progress": {
      const progress = progressOf(f.get("p"));
      if (!Number.isInteger(nodeId) || !progress) return undefined;
      return { ...base, kind: "progress", nodeId, progress };
    }
    case "lease-expired":
      return Number.isInteger(nodeId) ? { ...base, kind: "lease-expired", nodeId } : undefined;
    case "added": {
      // ns: the added node ids, a comma list
      const ns = text(f.get("ns"));
      const nodeIds = ns === undefined || ns === "" ? [] : ns.split(",").map(Number);
      return ns !== undefined && nodeIds.every((x) => Number.isInteger(x) && x >= 0)
        ? { ...base, kind: "added", nodeIds }
        : undefined;
    }
    case "run":
    case "run-ended": {
      const status = text(f.get("s"));
      if (status === undefined || !STATUSES.has(status)) return undefined;
      return { ...base, kind: kind as "run" | "run-ended", status: status as RunStatus };
    }
    default:
      return undefined;
  }
};

/** The first event number's id, above any time in ms: `EVENTS_BASE` in lua/includes/events.lua. */
const EVENTS_BASE = 1_000_000_000_000_000;

/** The kinds of node transitions by the letter a packed event leads with (the node state's). */
const TRANSITION_LETTERS: ReadonlyMap<string, NodeTransitionKind> = new Map([
  ["q", "queued"],
  ["r", "started"],
  ["y", "retrying"],
  ["s", "succeeded"],
  ["f", "failed"],
  ["c", "cancelled"],
  ["k", "skipped"],
  ["x", "expired"],
]);

/** The letters of the events that name a task: the transitions and `w` (a node waiting, not read as an event). */
const NAMES_TASK: ReadonlySet<unknown> = new Set([...TRANSITION_LETTERS.keys(), "w"]);

/** One event of an entry, in the order written. */
export interface EntryEvent {
  /** Its position in its shard's stream, a stream id: what a cursor holds once it is read. */
  readonly position: string;
  /** When it happened, epoch ms: the order of a read across shards. */
  readonly at: number;
  /** Its run's id (undefined for an entry that is not an event of this layout). */
  readonly runId: string | undefined;
  /** The event, with `cursor` as its id; `undefined` when it is damaged or of a kind this version does not know. */
  readonly build: (cursor: string) => WeftEvent | undefined;
}

const isInt = (v: unknown): v is number => Number.isInteger(v);

/** A packed event `ev` of run `runId` at `at` (see the module's description), or undefined. */
const packedEvent = (ev: unknown, runId: string, at: number, id: string): WeftEvent | undefined => {
  if (!Array.isArray(ev) || typeof ev[0] !== "string") return undefined;
  const base = { id, runId, at };
  const [letter, a, b, c, d] = ev as [string, unknown, unknown, unknown, unknown];
  const transition = TRANSITION_LETTERS.get(letter);
  if (transition !== undefined) {
    if (!isInt(a) || typeof b !== "string" || !isInt(c)) return undefined;
    return {
      ...base,
      kind: transition,
      nodeId: a,
      task: b,
      attempt: c,
      ...(typeof d === "string" ? { errorTag: d } : {}),
    };
  }
  switch (letter) {
    case "p": {
      const p = b as Progress;
      return isInt(a) && typeof p === "object" && p !== null && typeof p.current === "number"
        ? { ...base, kind: "progress", nodeId: a, progress: p }
        : undefined;
    }
    case "l":
      return isInt(a) ? { ...base, kind: "lease-expired", nodeId: a } : undefined;
    case "d": {
      if (typeof a !== "string") return undefined;
      const nodeIds = a === "" ? [] : a.split(",").map(Number);
      return nodeIds.every((x) => Number.isInteger(x) && x >= 0)
        ? { ...base, kind: "added", nodeIds }
        : undefined;
    }
    case "R":
    case "E":
      return typeof a === "string" && STATUSES.has(a)
        ? { ...base, kind: letter === "R" ? "run" : "run-ended", status: a as RunStatus }
        : undefined;
    default:
      return undefined;
  }
};

/**
 * The events of the entry `id` with `fields`, in the order written, each
 * with its position: a packed entry's events are numbered up to the one its
 * id names; an older version's entry is one event at its own id. An entry
 * that does not decode is one position holding no event (readers pass it).
 */
export const entryEvents = (id: string, fields: ReadonlyArray<Buffer | string>): EntryEvent[] => {
  if (text(fields[0]) !== "b" || fields[1] === undefined) {
    let runId: string | undefined;
    let at = 0;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = text(fields[i]);
      if (name === "r") runId = text(fields[i + 1]);
      else if (name === "ms") at = Number(text(fields[i + 1])) || 0;
    }
    return [{ position: id, at, runId, build: (cursor) => toEvent(fields, cursor) }];
  }
  const none: EntryEvent[] = [{ position: id, at: 0, runId: undefined, build: () => undefined }];
  const last = Number(id.split("-")[0]) - EVENTS_BASE;
  let groups: unknown;
  try {
    groups = decode(typeof fields[1] === "string" ? Buffer.from(fields[1]) : fields[1]);
  } catch {
    return none;
  }
  if (!Array.isArray(groups) || !(last >= 0)) return none;
  const out: Array<Omit<EntryEvent, "position">> = [];
  // the task the entry's last transition named (0: the same again; an entry written before
  // 2026-12-05 names it again in each group, which reads the same), the last group's time
  // (false: the same again), the entry's previous event when it is a transition (a node's
  // number alone: that event again, for that node) and the last group's events (a run id
  // alone: that group again, for that run)
  let task: unknown;
  let at: unknown;
  let prev: unknown[] | undefined;
  let events: unknown[] = [];
  const push = (ev: unknown, runId: string, ms: number) =>
    out.push({ at: ms, runId, build: (cursor) => packedEvent(ev, runId, ms, cursor) });
  for (const g of groups) {
    if (typeof g === "string") {
      if (events.length === 0) return none;
      for (const ev of events) push(ev, g, at as number);
      continue;
    }
    if (!Array.isArray(g) || typeof g[0] !== "string") return none;
    if (g[1] !== false) at = g[1];
    if (typeof at !== "number") return none;
    const runId = g[0];
    events = [];
    for (let i = 2; i < g.length; i++) {
      let ev = g[i];
      if (typeof ev === "number") {
        if (prev === undefined) return none;
        ev = [prev[0], ev, ...prev.slice(2)];
      } else if (Array.isArray(ev) && NAMES_TASK.has(ev[0])) {
        if (ev[2] === 0) ev = [ev[0], ev[1], task, ...ev.slice(3)];
        else task = ev[2];
      }
      prev = Array.isArray(ev) && NAMES_TASK.has(ev[0]) ? ev : undefined;
      events.push(ev);
      push(ev, runId, at);
    }
  }
  const first = last - out.length + 1;
  return out.map((e, i) => ({ ...e, position: `${EVENTS_BASE + first + i}-0` }));
};

/** The first byte of a run-end message that names several runs: never the first of UTF-8 text. */
const MANY_ENDED = 0xff;

/**
 * The run ids a message on a run-end channel names: one run's id as its
 * bytes, or, from a script call that stopped or ended several runs somebody
 * waits for, byte 255 then the msgpack array of their ids
 * (lua/includes/events.lua, `flushEnded`): one PUBLISH per call, not per run.
 * A message that does not decode names no run (the waiters read again
 * within a second).
 */
export const endedRunIds = (message: Buffer): ReadonlyArray<string> => {
  if (message[0] !== MANY_ENDED) return [message.toString()];
  try {
    const ids: unknown = decode(message.subarray(1));
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  } catch {
    return [];
  }
};
