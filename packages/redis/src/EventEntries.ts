/**
 * The events streams as the Redis store reads them (docs/events.md): one
 * stream per shard (`<prefix>:{<prefix>:sNN}:events`), entries written by the
 * Lua scripts with short fields (`r` run id, `k` kind, `ms` time, `n` node,
 * `t` task, `a` attempt, `e` error tag, `p` progress as msgpack, `s` run
 * status), and the cursor over every shard's stream: the last entry id read
 * in each, joined by commas (one id with one shard).
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

/** Orders two stream entry ids ("ms-seq"). */
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
 * The event an entry holds, with `id` as its cursor; `undefined` for an entry
 * that is not an event of this layout (written by an older version, or
 * damaged): readers skip it.
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

/** The run id and kind of an entry, without decoding the rest (for a waiter that only wants run events). */
export const runAndKind = (
  fields: ReadonlyArray<Buffer | string>,
): { readonly runId?: string; readonly kind?: string } => {
  let runId: string | undefined;
  let kind: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = text(fields[i]);
    if (name === "r") runId = text(fields[i + 1]);
    else if (name === "k") kind = text(fields[i + 1]);
  }
  return { ...(runId === undefined ? {} : { runId }), ...(kind === undefined ? {} : { kind }) };
};
