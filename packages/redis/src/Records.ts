/**
 * Encoding of the records the Lua scripts read and write (documented in
 * docs/redis-layout.md). A node record is a msgpack array the scripts decode
 * with `cmsgpack`; a node spec is msgpack only TypeScript reads; values and
 * errors are msgpack.
 *
 * @since 0.1.0
 */

import {
  type AttemptOutcome,
  type AttemptRecord,
  type DagNode,
  decode,
  type ErrorInfo,
  encode,
  maxStallsOf,
  type NodeRecord,
  type NodeState,
  type Progress,
  type RunRecord,
  type RunStatus,
} from "@weft/core";
import { unpackMultiple } from "msgpackr";

const CODE: Record<NodeState, string> = {
  waiting: "w",
  queued: "q",
  running: "r",
  retrying: "y",
  succeeded: "s",
  failed: "f",
  cancelled: "c",
  skipped: "k",
};
const STATE = Object.fromEntries(Object.entries(CODE).map(([k, v]) => [v, k])) as Record<
  string,
  NodeState
>;

/**
 * The initial record of a node: `[state, attempts, stalls, pending,
 * startedAt, finishedAt, worker, dueAt, maxStalls, queue index (1-based),
 * priority, tolerant, next, task]`, where `next` lists dependents with
 * settled edges encoded as `-(id + 1)`, after the plain ones.
 */
export const encodeNodeRecord = (node: DagNode, queues: ReadonlyArray<string>): Uint8Array =>
  encode([
    "w",
    0,
    0,
    node.deps.length,
    0,
    0,
    "",
    0,
    maxStallsOf(node),
    queues.indexOf(node.queue) + 1,
    node.priority,
    node.tolerant ? 1 : 0,
    [...node.dependents, ...node.settledDependents.map((d) => -(d + 1))],
    node.task,
  ]);

/** A node's dependency list, stored apart from its record (field `d<n>`); empty for a root. */
export const encodeDeps = (node: DagNode): Uint8Array | "" =>
  node.deps.length === 0 ? "" : encode([...node.deps]);

/** Decodes a node record written by `encodeNodeRecord` or a script. */
export const decodeNodeRecord = (
  bytes: Uint8Array,
  error: ErrorInfo | undefined,
  history: AttemptRecord[],
): NodeRecord => {
  const r = decode(bytes) as [string, number, number, number, number, number, string, number];
  const rec: NodeRecord = {
    state: STATE[r[0]] ?? "waiting",
    attempts: r[1],
    stalls: r[2],
    pending: r[3],
    history,
  };
  if (r[4]) rec.startedAt = r[4];
  if (r[5]) rec.finishedAt = r[5];
  if (r[6]) rec.worker = r[6];
  if (r[7]) rec.dueAt = r[7];
  if (error) rec.error = error;
  return rec;
};

/** Decodes an error written by the worker (msgpack map) or a script. */
export const decodeError = (bytes: Uint8Array | null | undefined): ErrorInfo | undefined => {
  if (!bytes || bytes.length === 0) return undefined;
  const e = decode(bytes) as Partial<ErrorInfo>;
  return {
    tag: String(e.tag ?? "Error"),
    message: String(e.message ?? ""),
    retryable: e.retryable === true,
    ...(e.stack ? { stack: String(e.stack) } : {}),
  };
};

/**
 * Decodes a node's attempt history: concatenated msgpack values
 * `[attempt, worker, startedAt, endedAt, outcome, error?]`.
 */
export const decodeHistory = (bytes: Uint8Array | null | undefined): AttemptRecord[] => {
  if (!bytes || bytes.length === 0) return [];
  return (unpackMultiple(bytes) as unknown[][]).map((e) => {
    const error = e[5] === undefined ? undefined : decodeError(encode(e[5]));
    return {
      attempt: Number(e[0]),
      worker: String(e[1]),
      startedAt: Number(e[2]),
      endedAt: Number(e[3]),
      outcome: String(e[4]) as AttemptOutcome,
      ...(error ? { error } : {}),
    };
  });
};

/** Decodes progress bytes. */
export const decodeProgress = (bytes: Uint8Array | null | undefined): Progress | undefined =>
  bytes ? (decode(bytes) as Progress) : undefined;

/** The run record's fields in the run hash (the rest of the hash is node fields). */
export const RUN_FIELDS = [
  "id",
  "status",
  "created",
  "started",
  "finished",
  "total",
  "ended",
  "queues",
  "tags",
  "fnode",
] as const;

/** The run record's fields from an HMGET of {@link RUN_FIELDS}, absent ones left out. */
export const runFields = (values: ReadonlyArray<string | null>): Record<string, string> =>
  Object.fromEntries(
    RUN_FIELDS.flatMap((f, i) =>
      values[i] === null || values[i] === undefined ? [] : [[f, values[i]]],
    ),
  );

/** Parses a run record (see {@link runFields}) into a `RunRecord` plus tags and queues. */
export const parseRunRecord = (
  h: Record<string, string>,
  err: Uint8Array | null,
): RunRecord & { tags: string[]; queues: string[] } => {
  const rec: RunRecord & { tags: string[]; queues: string[] } = {
    id: h.id ?? "",
    status: (h.status ?? "pending") as RunStatus,
    createdAt: Number(h.created),
    total: Number(h.total),
    ended: Number(h.ended),
    tags: h.tags ? (JSON.parse(h.tags) as string[]) : [],
    queues: h.queues ? h.queues.split(",") : [],
  };
  if (h.started) rec.startedAt = Number(h.started);
  if (h.finished) rec.finishedAt = Number(h.finished);
  if (h.fnode !== undefined) rec.failedNode = Number(h.fnode);
  const e = decodeError(err);
  if (e) rec.error = e;
  return rec;
};

/**
 * Encodes a node spec as a positional msgpack array (no field names), so a
 * typical spec is a few dozen bytes and fits Redis's compact hash encoding:
 * `[id, task, queue, priority, bind, bound, arg, deps, dependents,
 * settledDependents, tolerant, options, path]`, where `bind` is 0
 * (immutable), 1 (whole) or the open field's name.
 */
export const encodeSpec = (n: DagNode): Uint8Array =>
  encode([
    n.id,
    n.task,
    n.queue,
    n.priority,
    n.bind.kind === "immutable" ? 0 : n.bind.kind === "whole" ? 1 : n.bind.field,
    n.bound,
    n.arg,
    n.deps,
    n.dependents,
    n.settledDependents,
    n.tolerant ? 1 : 0,
    n.options,
    n.path,
  ]);

/** Decodes a node spec written by {@link encodeSpec}. */
export const decodeSpec = (bytes: Uint8Array): DagNode => {
  const [
    id,
    task,
    queue,
    priority,
    bind,
    bound,
    arg,
    deps,
    dependents,
    settledDependents,
    tolerant,
    options,
    path,
  ] = decode(bytes) as [
    number,
    string,
    string,
    number,
    0 | 1 | string,
    unknown,
    DagNode["arg"],
    number[],
    number[],
    number[],
    0 | 1,
    DagNode["options"],
    string[],
  ];
  return {
    id,
    task,
    queue,
    priority,
    bind:
      bind === 0
        ? { kind: "immutable" }
        : bind === 1
          ? { kind: "whole" }
          : { kind: "field", field: bind },
    bound,
    arg,
    deps,
    dependents,
    settledDependents,
    tolerant: tolerant === 1,
    options,
    path,
  };
};
