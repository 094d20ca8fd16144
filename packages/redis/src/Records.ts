/**
 * Encoding of the records the Lua scripts read and write (documented in
 * docs/redis-layout.md). A node record is a msgpack array the scripts decode
 * with `cmsgpack`; a node spec is msgpack only TypeScript reads; values and
 * errors are msgpack.
 *
 * Decoders of records a script also validates (node records, specs, run
 * records) check every field and throw an `Error` that says what is wrong,
 * so that a corrupt record fails its own node and run as `CorruptRecord`
 * (never a wrong value); the display decoders (errors, history, progress)
 * never throw.
 */

import {
  type AttemptOutcome,
  type AttemptRecord,
  CorruptRecord,
  type ErrorInfo,
  type NodeRecord,
  type NodeState,
  type Progress,
  type RunRecord,
  type RunStatus,
  TERMINAL_NODE_STATES,
} from "@weft/core";
import {
  BIND_IMMUTABLE,
  BIND_WHOLE,
  type Bind,
  checkProgress,
  corruptRecordInfo,
  type DagNode,
  decode,
  decodeSequence,
  encode,
  encodeRecord,
  type FailureSource,
  maxStallsOf,
  type RunTiming,
  type Shape,
  splitFirst,
  valueEnd,
} from "@weft/core/store";

const CODE: Record<NodeState, string> = {
  waiting: "w",
  queued: "q",
  running: "r",
  retrying: "y",
  succeeded: "s",
  failed: "f",
  cancelled: "c",
  skipped: "k",
  expired: "x",
};
const STATE = Object.fromEntries(Object.entries(CODE).map(([k, v]) => [v, k])) as Record<
  string,
  NodeState
>;

/**
 * The initial record of a node: `[state, attempts, stalls, pending,
 * startedAt, finishedAt, worker, dueAt, maxStalls, queue index (1-based),
 * priority, tolerant, next, task]`, where `finishedAt` is kept as ms after
 * `startedAt` once the node started, `tolerant` is 0, 1 (its failure does
 * not fail the run) or 2 (a node of an error callback: tolerant, and made
 * ready in a failed run too), and `next` lists dependents with settled edges encoded
 * as `-(id + 1)`, after the plain ones, then error edges (to error
 * callbacks) as the strings `"e<id>"`. Scripts add
 * field 15, the fencing token of the node's current or last lease, when
 * they lease it. (Scripts write field 7, the worker, as its tag, a NUL byte
 * and its number in the shard's table, lua/includes/workers.lua: a record
 * stays under 64 bytes for task names of up to about 30 characters, so
 * that a small run's hash keeps Redis's compact encoding.)
 *
 * A node with a time limit, its own (`delayMs`, `notBefore`, `expiresInMs`,
 * `expiresAt`) or its run's (`timing`, epoch ms), has six more fields:
 * token 0, parked `false`, then `[delayMs, expiresInMs, notBefore,
 * expiresAt]`, 0 for none, where `notBefore` is the later of its own and
 * its run's and `expiresAt` the earlier (see `lua/includes/record.lua`).
 */
export const encodeNodeRecord = (
  node: DagNode,
  queues: ReadonlyArray<string>,
  timing: RunTiming = {},
): Uint8Array => {
  if (
    lastNode !== undefined &&
    lastQueues === queues &&
    lastTiming === timing &&
    sameRecord(lastNode, node)
  )
    return lastBytes;
  lastBytes = encodeNewRecord(node, queues, timing);
  lastNode = node;
  lastQueues = queues;
  lastTiming = timing;
  return lastBytes;
};

// The last node record encodeNodeRecord encoded (its bytes), and what it was made of: the
// members of a wide group or chord header are records of the same bytes (no id, input or
// time in them), encoded once for all (a 10,000-wide chord's submission: a msgpack encoding
// and its allocations fewer per member). The bytes are shared: no caller writes into them.
let lastNode: DagNode | undefined;
let lastQueues: ReadonlyArray<string> | undefined;
let lastTiming: RunTiming | undefined;
let lastBytes: Uint8Array = new Uint8Array(0);

/** Whether nodes `a` and `b` of one run have the same record at submit (see `nodeFields`). */
const sameRecord = (a: DagNode, b: DagNode): boolean =>
  a.task === b.task &&
  a.queue === b.queue &&
  a.priority === b.priority &&
  a.tolerant === b.tolerant &&
  a.callback === b.callback &&
  a.options === b.options &&
  a.deps.length === b.deps.length &&
  sameIds(a.dependents, b.dependents) &&
  sameIds(a.settledDependents, b.settledDependents) &&
  sameIds(a.errorDependents ?? NO_IDS, b.errorDependents ?? NO_IDS);

const NO_IDS: ReadonlyArray<number> = [];

const sameIds = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** {@link encodeNodeRecord}'s bytes, encoded. */
const encodeNewRecord = (
  node: DagNode,
  queues: ReadonlyArray<string>,
  timing: RunTiming,
): Uint8Array => {
  const fields = nodeFields(node, queues);
  const o = node.options;
  const notBefore = Math.max(o.notBefore ?? 0, timing.notBefore ?? 0);
  // 0 means none in the record (a deadline is ≥ 1: see checkOptions and runTiming)
  const own = o.expiresAt;
  const run = timing.expiresAt;
  const expiresAt = own === undefined ? (run ?? 0) : run === undefined ? own : Math.min(own, run);
  const delayMs = o.delayMs ?? 0;
  const expiresInMs = o.expiresInMs ?? 0;
  if (delayMs !== 0 || expiresInMs !== 0 || notBefore !== 0 || expiresAt !== 0)
    fields.push(0, false, delayMs, expiresInMs, notBefore, expiresAt);
  // (numbers, strings and the dependents' list: nothing for encode's check to find)
  return encodeRecord(fields);
};

/**
 * A stored time at least this large is an epoch ms; a smaller one counts ms
 * from a base (a run's `finished` from its `created`, a node record's
 * finishedAt from its startedAt): 10¹², September 2001.
 */
const ABSOLUTE_TIME = 1e12;

/**
 * Runs of more nodes than this keep each node's spec before its record, in
 * field `n<i>` (one field per node: a field costs a Redis hash table about
 * 40 bytes of its own, docs/benchmarks.md, "What costs memory"); smaller
 * runs keep it apart, in `s<i>`: their hash is a listpack (lua/includes/
 * submitrun.lua, `HASH_TABLE_NODES`), where a field costs a few bytes and
 * a value longer than `hash-max-listpack-value` (64 bytes by default) would
 * turn the hash into a hash table. docs/redis-layout.md, "n<i>".
 */
export const SPEC_IN_RECORD_NODES = 32;

/**
 * Node `n`'s fields as a submission of a run of `total` nodes writes them:
 * `n<i>` (its record, `record` when given, else {@link encodeNodeRecord}'s;
 * with its spec before it, {@link nodeValue}, in a run of more than
 * {@link SPEC_IN_RECORD_NODES} nodes) and `s<i>` (its spec, or "" when it
 * is in `n<i>`).
 */
export const storedNode = (
  n: DagNode,
  queues: ReadonlyArray<string>,
  timing: RunTiming,
  total: number,
  record: Uint8Array = encodeNodeRecord(n, queues, timing),
): { readonly field: Uint8Array; readonly spec: Uint8Array | "" } =>
  total > SPEC_IN_RECORD_NODES
    ? { field: nodeValue(encodeSpec(n), record), spec: "" }
    : { field: record, spec: encodeSpec(n) };

/**
 * The roots a run's submission writes queued: its nodes from node 0 on
 * that are roots with one record (a chord's header members, a group's
 * members of one task and options), at least two, when the run and they
 * have no time limit and none is an error callback's; and that record as
 * the walk writes a root it queues (state `q`, fencing token 0). The commit
 * puts them in their queue without reading their records (submit.lua's
 * `queued`, the walk `P` in lua/includes/cascade.lua): a wide chord's
 * members are not read, decoded, changed and written again by `drain`
 * (docs/redis-layout.md, "Bounded work"). `count` 0 and no record when
 * there are none.
 */
export const leadingRoots = (
  nodes: ReadonlyArray<DagNode>,
  queues: ReadonlyArray<string>,
  timing: RunTiming,
): { readonly count: number; readonly record: Uint8Array } => {
  const first = nodes[0];
  if (first === undefined || first.deps.length > 0 || first.callback !== undefined)
    return NO_LEADING_ROOTS;
  const waiting = encodeNodeRecord(first, queues, timing);
  // a record of 14 fields (none for a time limit of the node's or the run's: 0x9e) in state
  // "w" (fixstr: 0xa1 0x77)
  if (waiting[0] !== 0x9e || waiting[1] !== 0xa1 || waiting[2] !== 0x77) return NO_LEADING_ROOTS;
  let count = 1;
  // (a node whose record is the same returns the same bytes, encodeNodeRecord: a root too,
  // as the record holds how many dependencies a node waits on)
  while (count < nodes.length && encodeNodeRecord(nodes[count]!, queues, timing) === waiting)
    count++;
  if (count < 2) return NO_LEADING_ROOTS;
  // as the walk writes a root it queues: state "q", and its fencing token 0 after the 14
  // fields (an array of 15: 0x9f)
  const record = new Uint8Array(waiting.length + 1);
  record.set(waiting);
  record[0] = 0x9f;
  record[2] = 0x71;
  record[waiting.length] = 0;
  return { count, record };
};

/** No roots written queued ({@link leadingRoots}). */
export const NO_LEADING_ROOTS = { count: 0, record: new Uint8Array(0) } as const;

const nodeFields = (node: DagNode, queues: ReadonlyArray<string>): unknown[] => {
  // plain dependents, then settled ones as -(id + 1), then error edges as "e<id>"
  const next: Array<number | string> = node.dependents.slice();
  for (const d of node.settledDependents) next.push(-(d + 1));
  if (node.errorDependents !== undefined) for (const d of node.errorDependents) next.push(`e${d}`);
  return [
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
    node.callback === "error" ? 2 : node.tolerant ? 1 : 0,
    next,
    node.task,
  ];
};

/**
 * One entry of a packed id list: an id, or a range `[first, last]` (the ids
 * `first..last`) or `[first, last, step]` (`first, first + step, …, last`;
 * `step` ≥ 2).
 */
export type PackedId = number | [number, number] | [number, number, number];

/** The shortest run of evenly spaced ids that {@link packDeps} writes as a range. */
const MIN_RANGE = 4;

/** `items` with every run of 4 or more numbers growing by the same step ≥ 1 as one range entry. */
const packRuns = <T>(items: ReadonlyArray<number | T>): Array<PackedId | T> => {
  const out: Array<PackedId | T> = [];
  const step = (i: number): number => {
    const a = items[i];
    const b = items[i + 1];
    return typeof a === "number" && typeof b === "number" ? b - a : 0;
  };
  let i = 0;
  while (i < items.length) {
    const first = items[i]!;
    const by = step(i);
    let j = i + 1;
    if (by >= 1) while (j + 1 < items.length && step(j) === by) j++;
    if (by >= 1 && j - i + 1 >= MIN_RANGE) {
      const last = items[j] as number;
      out.push(by === 1 ? [first as number, last] : [first as number, last, by]);
      i = j + 1;
    } else {
      out.push(first);
      i++;
    }
  }
  return out;
};

/**
 * Packs a list of node ids (ids ≥ 0, in their order) for a dependency list
 * or a spec's `deps`: every run of 4 or more ids that grow by the same step
 * becomes one range entry (see {@link PackedId}), the other ids stay as they
 * are. A list without such a run packs as the plain list (so short lists are
 * as small as ever); a range is never longer than the ids it stands for, and
 * a chord body's `0..99999` packs as `[[0, 99999]]` (8 bytes of msgpack).
 */
export const packDeps = (ids: ReadonlyArray<number>): PackedId[] =>
  // too short for a range (a root's, a chain step's): the list as it is
  ids.length < MIN_RANGE ? ids.slice() : packRuns<never>(ids);

/** Why `e` is not a range entry of a packed list; `undefined` when it is one. */
const rangeProblem = (e: unknown[]): string | undefined => {
  const [first, last, step = 1] = e;
  return (e.length !== 2 && e.length !== 3) ||
    !Number.isInteger(first) ||
    !Number.isInteger(last) ||
    !Number.isInteger(step) ||
    (first as number) < 0 ||
    (step as number) < 1 ||
    (last as number) <= (first as number) ||
    ((last as number) - (first as number)) % (step as number) !== 0
    ? `the entry ${JSON.stringify(e)} is not a range of node ids`
    : undefined;
};

/** Appends the ids of a checked range entry to `out`. */
const expandRange = (e: PackedId[] & unknown[], out: unknown[]): void => {
  const [first, last, step = 1] = e as unknown as number[];
  for (let d = first!; d <= last!; d += step) out.push(d);
};

/** Why `entries` is not a list packed by {@link packDeps}; `undefined` when it is one. */
const packedProblem = (entries: unknown): string | undefined => {
  if (!Array.isArray(entries)) return "not a list";
  for (const e of entries as unknown[]) {
    if (Array.isArray(e)) {
      const why = rangeProblem(e);
      if (why) return why;
    } else if (!Number.isInteger(e) || (e as number) < 0) {
      return `the entry ${JSON.stringify(e)} is not a node id`;
    }
  }
  return undefined;
};

/**
 * The ids of a list packed by {@link packDeps}, in their order.
 *
 * @throws Error naming what is wrong when `entries` is not such a list.
 */
export const unpackDeps = (entries: unknown): number[] => {
  const why = packedProblem(entries);
  if (why) throw new Error(why);
  const out: number[] = [];
  for (const e of entries as unknown[]) {
    if (Array.isArray(e)) expandRange(e, out);
    else out.push(e as number);
  }
  return out;
};

/**
 * A shape as stored (a spec's `arg` and `replacedBy`, a failure source's
 * `arg`, the run's `out`): its `list` and `settled` entries packed as
 * {@link packDeps} packs ids (a nested shape is a map, never a list), so
 * that a 100,000-wide chord body's input shape `{ list: [0, …, 99999] }` is
 * `{ list: [[0, 99999]] }`.
 */
export const packShape = (s: Shape): unknown => {
  if (typeof s === "number") return s;
  const after = s.after === undefined ? {} : { after: packShape(s.after) };
  return "list" in s
    ? { list: packRuns(s.list.map(packShape)), ...after }
    : { settled: packRuns(s.settled.map(packShape)), ...after };
};

/**
 * A shape from its stored form ({@link packShape}; a shape stored unpacked
 * reads as it is).
 *
 * @throws Error naming what is wrong when a range entry is not a range of node ids.
 */
export const unpackShape = (raw: unknown): unknown => {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const { list, settled, after } = raw as { list?: unknown; settled?: unknown; after?: unknown };
  const entries = (items: unknown): unknown => {
    if (!Array.isArray(items)) return items;
    const out: unknown[] = [];
    for (const e of items as unknown[]) {
      if (Array.isArray(e)) {
        const why = rangeProblem(e);
        if (why) throw new Error(why);
        expandRange(e, out);
      } else out.push(unpackShape(e));
    }
    return out;
  };
  return {
    ...raw,
    ...(list === undefined ? {} : { list: entries(list) }),
    ...(settled === undefined ? {} : { settled: entries(settled) }),
    ...(after === undefined ? {} : { after: unpackShape(after) }),
  };
};

/**
 * A list of node ids as stored in a dependency list field (`d<n>`): msgpack
 * of {@link packDeps}; `""` (no field) for an empty list.
 */
export const encodeDepList = (ids: ReadonlyArray<number>): Uint8Array | "" =>
  ids.length === 0 ? "" : encodeRecord(packDeps(ids));

/** A node's dependency list, stored apart from its record (field `d<n>`); empty for a root. */
export const encodeDeps = (node: DagNode): Uint8Array | "" => encodeDepList(node.deps);

/**
 * The task a node record names (its 14th field), or `undefined` when the
 * bytes are not a record that names one. Never throws.
 */
export const recordTask = (bytes: Uint8Array | null | undefined): string | undefined => {
  if (!bytes) return undefined;
  try {
    return taskOfRecord(decode(nodeField(bytes).record));
  } catch {
    return undefined;
  }
};

/**
 * The length of a msgpack `bin` header whose first byte is `first` (bin 8,
 * 16, 32: 2, 3 or 5 bytes), or 0 when `first` starts no `bin` value.
 */
const binHeaderLength = (first: number | undefined): number =>
  first === 0xc4 ? 2 : first === 0xc5 ? 3 : first === 0xc6 ? 5 : 0;

/**
 * Where the msgpack `bin` value at the start of `bytes` ends, its header being
 * `head` bytes (2, 3 or 5), read from the header without a walk of the value.
 *
 * @throws CorruptRecord when the bytes end inside it.
 */
const binEnd = (bytes: Uint8Array, head: number): number => {
  const n =
    bytes.length < head
      ? Number.POSITIVE_INFINITY
      : head === 2
        ? bytes[1]!
        : head === 3
          ? bytes[1]! * 0x100 + bytes[2]!
          : ((bytes[1]! * 0x100 + bytes[2]!) * 0x100 + bytes[3]!) * 0x100 + bytes[4]!;
  if (head + n > bytes.length)
    throw new CorruptRecord({ reason: "the spec's bytes end inside it" });
  return head + n;
};

/** The length of a msgpack `bin` value of `n` bytes: its header (2, 3 or 5 bytes) and them. */
const binLength = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5) + n;

/** Writes `bytes` at the start of `out` as one msgpack `bin` value; returns where it ends. */
const putBin = (out: Buffer, bytes: Uint8Array): number => {
  const n = bytes.length;
  const head = binLength(n) - n;
  if (head === 2) {
    out[0] = 0xc4;
    out[1] = n;
  } else if (head === 3) {
    out[0] = 0xc5;
    out.writeUInt16BE(n, 1);
  } else {
    out[0] = 0xc6;
    out.writeUInt32BE(n, 1);
  }
  out.set(bytes, head);
  return head + n;
};

/** Whether `bytes` are a spec as {@link nodeValue} wraps it (they start a msgpack `bin` value). */
export const isWrappedSpec = (bytes: Uint8Array): boolean => binHeaderLength(bytes[0]) > 0;

/**
 * A spec's bytes as {@link encodeSpec} wrote them: `bytes` without the
 * `bin` header {@link nodeValue} put before them (a view), or `bytes` as they
 * are when they have none (a spec in field `s<i>`: of a run of at most
 * {@link SPEC_IN_RECORD_NODES} nodes, or written before 2026-12-05).
 *
 * @throws CorruptRecord when the header promises more bytes than follow it,
 *   or fewer (bytes after the spec).
 */
export const unwrapSpec = (bytes: Uint8Array): Uint8Array => {
  const head = binHeaderLength(bytes[0]);
  if (head === 0) return bytes;
  if (binEnd(bytes, head) < bytes.length)
    throw new CorruptRecord({ reason: "bytes after the spec" });
  return bytes.subarray(head);
};

/**
 * The value of field `n<i>` of a run hash that keeps the node's spec before
 * its record (see {@link SPEC_IN_RECORD_NODES}): `spec` (bytes of
 * {@link encodeSpec}) as one msgpack `bin` value (a header of 2, 3 or 5
 * bytes, then its bytes), then `record` (bytes of
 * {@link encodeNodeRecord}). The scripts keep the spec so, and hand it to a
 * worker so; {@link unwrapSpec} takes the header off.
 */
export const nodeValue = (spec: Uint8Array, record: Uint8Array): Uint8Array => {
  const out = Buffer.allocUnsafe(binLength(spec.length) + record.length);
  out.set(record, putBin(out, spec));
  return out;
};

/**
 * Field `n<i>` of a run hash, split: the node's spec's bytes (kept before
 * the record in a run of more than {@link SPEC_IN_RECORD_NODES} nodes since
 * 2026-12-05, see {@link nodeValue}; `undefined` when the spec is in `s<i>`),
 * the node record's bytes and, for
 * a node that succeeded (since 2026-12-05), its result's bytes after them;
 * `undefined` when none follow (an earlier run keeps a result apart, in
 * `r<i>`). Views of `bytes`, not copies.
 *
 * @throws CorruptRecord when the bytes do not start with a msgpack value
 *   (after the spec, when there is one).
 */
export const nodeField = (
  bytes: Uint8Array,
): {
  readonly spec: Uint8Array | undefined;
  readonly record: Uint8Array;
  readonly result: Uint8Array | undefined;
} => {
  const head = binHeaderLength(bytes[0]);
  let spec: Uint8Array | undefined;
  let rest = bytes;
  if (head > 0) {
    const end = binEnd(bytes, head);
    spec = bytes.subarray(head, end);
    rest = bytes.subarray(end);
  }
  const [record, tail] = splitFirst(rest);
  return { spec, record, result: tail.length > 0 ? tail : undefined };
};

/**
 * The result's bytes after the record in field `n<i>`'s `bytes` (see
 * {@link nodeField}), as a view of them; `undefined` when none follow.
 * What `nodeField(bytes).result` holds, without views of the spec and the
 * record: a chord's body reads one per member.
 *
 * @throws CorruptRecord as {@link nodeField} does.
 */
export const resultAfterRecord = (bytes: Buffer): Buffer | undefined => {
  const head = binHeaderLength(bytes[0]);
  const end = valueEnd(bytes, head > 0 ? binEnd(bytes, head) : 0);
  return end < bytes.length ? bytes.subarray(end) : undefined;
};

/** The task a decoded node record names (its 14th field); `undefined` when it names none. */
export const taskOfRecord = (decoded: unknown): string | undefined =>
  Array.isArray(decoded) && typeof decoded[13] === "string" ? decoded[13] : undefined;

/**
 * Decodes a node record written by `encodeNodeRecord` or a script.
 *
 * @throws Error naming what is wrong when the bytes are not such a record.
 */
export const decodeNodeRecord = (
  bytes: Uint8Array,
  error: ErrorInfo | undefined,
  history: AttemptRecord[],
): NodeRecord => {
  const { record, result } = nodeField(bytes);
  return nodeRecordOf(decode(record), error, history, result !== undefined);
};

/**
 * A node record from its decoded msgpack array (see {@link decodeNodeRecord});
 * `resultAfter`: its field kept a result after it, which only a node that
 * succeeded has.
 *
 * @throws Error naming what is wrong when `decoded` is not such a record.
 */
export const nodeRecordOf = (
  decoded: unknown,
  error: ErrorInfo | undefined,
  history: AttemptRecord[],
  resultAfter = false,
): NodeRecord => {
  const r = decoded as unknown[];
  if (!Array.isArray(r) || r.length < 14) throw new Error("not a node record array");
  const state = STATE[r[0] as string];
  if (!state) throw new Error(`unknown state ${JSON.stringify(r[0])}`);
  if (resultAfter && state !== "succeeded") throw new Error("trailing bytes after the record");
  for (const i of [1, 2, 3, 4, 5, 7]) {
    if (typeof r[i] !== "number") throw new Error(`field ${i + 1} is not a number`);
  }
  if (typeof r[6] !== "string") throw new Error("the worker is not a string");
  const rec: NodeRecord = {
    state,
    attempts: r[1] as number,
    stalls: r[2] as number,
    pending: r[3] as number,
    history,
  };
  const started = r[4] as number;
  const finished = r[5] as number;
  if (started) rec.startedAt = started;
  // finishedAt is kept as a delta from startedAt once the node started (an epoch ms is at
  // least ABSOLUTE_TIME); a node that ended in the millisecond it started keeps a delta of 0
  if (started && finished < ABSOLUTE_TIME) {
    if (finished || TERMINAL_NODE_STATES.has(state)) rec.finishedAt = started + finished;
  } else if (finished) rec.finishedAt = finished;
  if (r[6]) rec.worker = r[6] as string;
  if (r[7]) rec.dueAt = r[7] as number;
  if (typeof r[14] === "number" && r[14] > 0) rec.token = r[14];
  if (typeof r[19] === "number" && r[19] > 0) rec.expiresAt = r[19];
  if (error) rec.error = error;
  return rec;
};

/** Where a record lives, to name it in a `CorruptRecord` error. */
export interface RecordPlace {
  readonly key: string;
  readonly field: string;
}

/**
 * Decodes an error written by the worker (msgpack map) or a script. Never
 * throws: bytes that are not an error read as a `CorruptRecord` error naming
 * `where` (or `undefined` without it).
 */
export const decodeError = (
  bytes: Uint8Array | null | undefined,
  where?: RecordPlace,
): ErrorInfo | undefined => {
  if (!bytes || bytes.length === 0) return undefined;
  try {
    const e = decode(bytes) as Partial<ErrorInfo> | null;
    if (e === null || typeof e !== "object" || Array.isArray(e)) throw new Error("not a map");
    return {
      tag: String(e.tag ?? "Error"),
      message: String(e.message ?? ""),
      retryable: e.retryable === true,
      ...(e.stack ? { stack: String(e.stack) } : {}),
      ...(e.data === undefined ? {} : { data: e.data }),
    };
  } catch (e) {
    return where ? corruptRecordInfo(where.key, where.field, reason(e)) : undefined;
  }
};

const OUTCOMES: ReadonlySet<string> = new Set<AttemptOutcome>([
  "succeeded",
  "failed",
  "stalled",
  "released",
  "cancelled",
]);

/**
 * The number in a worker tag, `"\u0000<number>"`, which node records and
 * attempt histories hold in place of a worker's id
 * (lua/includes/workers.lua; `RedisStore` reads the id from the shard's
 * table), or `undefined` for a worker id (a record written before
 * 2026-12-03, or an empty worker).
 */
export const numberedWorker = (worker: string | undefined): number | undefined =>
  worker?.startsWith("\u0000") ? Number(worker.slice(1)) : undefined;

/** One history entry `[attempt, worker, startedAt, endedAt, outcome, error?]`, or why it is not one. */
const historyEntry = (e: unknown, i: number): AttemptRecord => {
  const bad = (why: string) => new Error(`entry ${i + 1} ${why}`);
  if (!Array.isArray(e) || e.length < 5) throw bad("is not an attempt array");
  const [attempt, worker, startedAt, endedAt, outcome, err] = e as unknown[];
  if (!Number.isInteger(attempt)) throw bad("has an attempt number that is not an integer");
  if (typeof worker !== "string") throw bad("has a worker that is not a string");
  if (!Number.isFinite(startedAt) || !Number.isFinite(endedAt))
    throw bad("has a time that is not a number");
  if (typeof outcome !== "string" || !OUTCOMES.has(outcome))
    throw bad(`has an unknown outcome ${JSON.stringify(outcome)}`);
  const error = err === undefined ? undefined : decodeError(encode(err));
  if (err !== undefined && error === undefined) throw bad("has an error that is not a map");
  return {
    attempt: attempt as number,
    worker,
    startedAt: startedAt as number,
    endedAt: endedAt as number,
    outcome: outcome as AttemptOutcome,
    ...(error ? { error } : {}),
  };
};

/**
 * Decodes a node's attempt history: concatenated msgpack values
 * `[attempt, worker, startedAt, endedAt, outcome, error?]` (scripts append
 * one per attempt that did not succeed), read through the plain-data
 * decoder (`decodeSequence`). Never throws: bytes that are not such a
 * history read as one entry (attempt 0, outcome `failed`) whose error is a
 * `CorruptRecord` naming `where`, or as no history without `where`.
 */
export const decodeHistory = (
  bytes: Uint8Array | null | undefined,
  where?: RecordPlace,
): AttemptRecord[] => {
  if (!bytes || bytes.length === 0) return [];
  try {
    return decodeSequence(bytes).map(historyEntry);
  } catch (e) {
    if (!where) return [];
    const why = e instanceof CorruptRecord ? e.reason : reason(e);
    return [
      {
        attempt: 0,
        worker: "",
        startedAt: 0,
        endedAt: 0,
        outcome: "failed",
        error: corruptRecordInfo(where.key, where.field, `not an attempt history: ${why}`),
      },
    ];
  }
};

/** Decodes progress bytes (checked as `progress` checks them); `undefined` when there are none or they are not progress. */
export const decodeProgress = (bytes: Uint8Array | null | undefined): Progress | undefined => {
  if (!bytes) return undefined;
  try {
    return checkProgress(decode(bytes));
  } catch {
    return undefined;
  }
};

/** The readable reason of a decoding failure. */
export const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * A run's `queues` field when its hash has none: a run whose nodes are all
 * in queue "default" is written without it (docs/redis-layout.md).
 */
export const DEFAULT_QUEUES = "default";

/**
 * A run's `out` field when its hash has none: a run whose output is its node
 * 0 (msgpack of 0) is written without it (docs/redis-layout.md).
 */
export const DEFAULT_OUT: Uint8Array = Uint8Array.of(0);

/**
 * A run's queue list (field `queues`, a comma list; absent: {@link
 * DEFAULT_QUEUES}), or `undefined` when it is not one: empty, an empty name,
 * or bytes that are not text.
 */
export const parseQueues = (raw: string | null | undefined): string[] | undefined => {
  raw ??= DEFAULT_QUEUES;
  if (!raw) return undefined;
  const names = raw.split(",");
  // U+FFFD: bytes that were not UTF-8; C0 controls never occur in a queue name Weft wrote
  const bad = (q: string) =>
    q.length === 0 || [...q].some((ch) => ch === "\uFFFD" || ch.charCodeAt(0) < 0x20);
  return names.some(bad) ? undefined : names;
};

/**
 * Decodes a run's stored output shape (field `out`; absent: {@link
 * DEFAULT_OUT}); `undefined` when unreadable.
 */
export const decodeShape = (bytes: Uint8Array | null | undefined): Shape | undefined => {
  bytes ??= DEFAULT_OUT;
  if (bytes.length === 0) return undefined;
  try {
    return storedShape(decode(bytes));
  } catch {
    return undefined;
  }
};

/** The shape stored as `raw` ({@link packShape}), or `undefined` when it is not one. */
const storedShape = (raw: unknown): Shape | undefined => {
  try {
    const s = unpackShape(raw);
    return isShape(s) ? s : undefined;
  } catch {
    return undefined;
  }
};

const isShape = (s: unknown): s is Shape => {
  if (typeof s === "number") return Number.isInteger(s) && s >= 0;
  if (s === null || typeof s !== "object") return false;
  const { list, settled, after } = s as { list?: unknown; settled?: unknown; after?: unknown };
  const items = list ?? settled;
  return Array.isArray(items) && items.every(isShape) && (after === undefined || isShape(after));
};

/**
 * The run record's fields in the run hash (the rest of the hash is node
 * fields). Not `id`: the key names the run (a run written before 2026-12-03
 * also has an `id` field, not read).
 */
export const RUN_FIELDS = [
  "status",
  "created",
  "started",
  "finished",
  "total",
  "ended",
  "queues",
  "tags",
  "fnode",
  "nbf",
  "exp",
  "redrives",
] as const;

/**
 * The run record's fields from an HMGET of {@link RUN_FIELDS} (as text, or
 * as bytes read as UTF-8), absent ones left out; values after them are not read.
 */
export const runFields = (
  values: ReadonlyArray<string | Buffer | null | undefined>,
): Record<string, string> => {
  const out: Record<string, string> = {};
  for (let i = 0; i < RUN_FIELDS.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) continue;
    out[RUN_FIELDS[i]!] = v.toString();
  }
  return out;
};

const STATUSES: ReadonlySet<string> = new Set([
  "pending",
  "running",
  "succeeded",
  "failed",
  "cancelled",
]);

/**
 * Parses a run record (see {@link runFields}) into a `RunRecord` plus tags
 * and queues. Never throws: a field that cannot be read makes the run show
 * status `failed` with a `CorruptRecord` error naming `key` and the field
 * (the scripts fail the run the same way when they read it); the other
 * fields show what could be read. `runId`: the run the key names (a run
 * written since 2026-12-03 has no `id` field); omitted, the `id` field's.
 */
export const parseRunRecord = (
  h: Record<string, string>,
  err: Uint8Array | null,
  key = "run",
  runId?: string,
): RunRecord & { tags: string[]; queues: string[] } => {
  const corrupt: Array<[string, string]> = [];
  // (absent: `fallback`; since 2026-12-05 a run of one node keeps neither `total` nor, but
  // on a rare path, `ended`: docs/redis-layout.md)
  const count = (field: string, fallback: number): number => {
    if (h[field] === undefined) return fallback;
    const v = Number(h[field]);
    if (Number.isInteger(v) && v >= 0) return v;
    corrupt.push([field, `not a count: ${JSON.stringify(h[field] ?? null)}`]);
    return 0;
  };
  const time = (field: string): number | undefined => {
    if (h[field] === undefined || h[field] === "") return undefined;
    const v = Number(h[field]);
    if (Number.isFinite(v)) return v;
    corrupt.push([field, `not a time: ${JSON.stringify(h[field])}`]);
    return undefined;
  };
  let status = (h.status ?? "pending") as RunStatus;
  if (!STATUSES.has(status)) {
    corrupt.push(["status", `unknown status ${JSON.stringify(h.status)}`]);
    status = "failed";
  }
  let tags: string[] = [];
  try {
    const parsed: unknown = h.tags ? JSON.parse(h.tags) : [];
    if (!Array.isArray(parsed)) throw new Error("not a list");
    tags = parsed.map(String);
  } catch (e) {
    corrupt.push(["tags", `not a JSON list (${reason(e)})`]);
  }
  const queues = parseQueues(h.queues);
  if (!queues) corrupt.push(["queues", "not a comma list of queue names"]);
  // (read in this order: the first field found corrupt is the one named)
  const createdAt = time("created") ?? 0;
  const total = count("total", 1);
  const rec: RunRecord & { tags: string[]; queues: string[] } = {
    id: runId ?? h.id ?? "",
    status,
    createdAt,
    total,
    // (absent, a finished run's `ended` is its `total`)
    ended: count("ended", h.finished === undefined ? 0 : total),
    tags,
    queues: queues ?? [],
  };
  // a run written whole (one submit call) started when it was created: it has no `started`
  // field; one cancelled before its submission was committed has an empty one (never started)
  const started =
    h.started === undefined && status !== "pending" && h.created !== undefined
      ? rec.createdAt
      : time("started");
  // (kept as ms after `created` since 2026-12-05: a few bytes instead of nine; a value of
  // at least ABSOLUTE_TIME is an epoch ms, as older runs hold)
  const finished = time("finished");
  if (started !== undefined) rec.startedAt = started;
  if (finished !== undefined)
    rec.finishedAt = finished >= ABSOLUTE_TIME ? finished : rec.createdAt + finished;
  if (h.fnode !== undefined && Number.isInteger(Number(h.fnode))) rec.failedNode = Number(h.fnode);
  if (h.redrives !== undefined && Number.isInteger(Number(h.redrives)))
    rec.redrives = Number(h.redrives);
  const notBefore = time("nbf");
  const expiresAt = time("exp");
  Object.assign(
    rec,
    notBefore === undefined ? {} : { notBefore },
    expiresAt === undefined ? {} : { expiresAt },
  );
  const e = decodeError(err, { key, field: "err" });
  if (e) rec.error = e;
  const first = corrupt[0];
  if (first) {
    rec.status = "failed";
    rec.error ??= corruptRecordInfo(key, first[0], first[1]);
  }
  return rec;
};

/** The fields of a spec without its links and dynamic fields (the 14th and 15th). */
const SPEC_FIELDS = 13;

/** The fields a spec always keeps: up to `arg`; those after it may be left out at their default. */
const SPEC_MIN_FIELDS = 7;

/**
 * Whether field `i` (0-based, from `deps` on) of a spec holds its default:
 * an empty list (`deps`, `dependents`, `settledDependents`, `path`), 0
 * (`tolerant`) or an empty map (`options`).
 */
const isDefaultSpecField = (i: number, v: unknown): boolean =>
  i === 10
    ? v === 0
    : i === 11
      ? v !== null && typeof v === "object" && !hasOwnKey(v)
      : Array.isArray(v) && v.length === 0;

/** Whether object `o` has an own enumerable key (`Object.keys(o).length > 0`, with no array made). */
const hasOwnKey = (o: object): boolean => {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
};

/** The default of field `i` of a spec, for one left out: a new value each time (decoded specs are the caller's). */
const defaultSpecField = (i: number): unknown => (i === 10 ? 0 : i === 11 ? {} : []);

/**
 * Encodes a node spec as a positional msgpack array (no field names), so a
 * typical spec is a few dozen bytes and fits Redis's compact hash encoding:
 * `[id, task, queue, priority, bind, bound, arg, deps, dependents,
 * settledDependents, tolerant, options, path]`, where `id` and `task` are
 * `null` (the field's name holds the id, the node record the task: a
 * script hands a worker the task beside the spec, and {@link decodeSpec}
 * takes both from its `owner`), `queue` is `null` for
 * {@link DEFAULT_QUEUES}, `bind` is 0
 * (immutable), 1 (whole) or the open field's name and `deps` is packed by
 * {@link packDeps} (a 100,000-wide chord body's spec stays a few dozen
 * bytes); a node of a callback
 * canvas adds a 14th field, `[callback, errorDependents, failure]`
 * (`failure` as `[node, task, bind, bound, arg]`, with a 6th entry, the
 * same again, when that node is an error callback too; or `null`), and so does a
 * node with error callbacks (`[null, errorDependents, null]`). A dynamic
 * node or a replaced one (docs/concepts.md, "Dynamic canvases") adds a 15th,
 * `[addedBy, replacedBy]` (each `null` when absent), after a 14th. A spec
 * with neither leaves out its trailing fields from `deps` on while they hold
 * their default (an empty list, `tolerant` 0, empty `options`): a root's
 * spec ends at `arg`, six bytes shorter (since 2026-12-05; a process of an
 * earlier version cannot read such a spec).
 */
export const encodeSpec = (n: DagNode): Uint8Array => {
  const fields: unknown[] = [
    // (id and task nil: the field's name holds the id, the node record the task, which the
    // scripts hand with the spec: 12 to 40 bytes less per node)
    null,
    null,
    // (nil for the default queue: 8 bytes less in most specs, see DEFAULT_QUEUES)
    n.queue === DEFAULT_QUEUES ? null : n.queue,
    n.priority,
    bindCode(n.bind),
    n.bound,
    n.arg === null ? null : packShape(n.arg),
    packDeps(n.deps),
    n.dependents,
    n.settledDependents,
    n.tolerant ? 1 : 0,
    n.options,
    n.path,
  ];
  const dynamic = n.addedBy !== undefined || n.replacedBy !== undefined;
  if (!dynamic && n.callback === undefined && n.errorDependents === undefined) {
    // (trailing fields at their default left out: a plain job's spec 6 bytes shorter)
    let length = SPEC_FIELDS;
    while (length > SPEC_MIN_FIELDS && isDefaultSpecField(length - 1, fields[length - 1])) length--;
    fields.length = length;
    return encode(fields);
  }
  fields.push([
    n.callback ?? null,
    n.errorDependents ?? [],
    n.failure === undefined ? null : encodeFailure(n.failure),
  ]);
  if (dynamic)
    fields.push([n.addedBy ?? null, n.replacedBy === undefined ? null : packShape(n.replacedBy)]);
  return encode(fields);
};

type EncodedFailure =
  | [number, string, 0 | 1 | string, unknown, DagNode["arg"]]
  | [number, string, 0 | 1 | string, unknown, DagNode["arg"], EncodedFailure];

const encodeFailure = (f: FailureSource): EncodedFailure =>
  f.failure === undefined
    ? [f.node, f.task, bindCode(f.bind), f.bound, packedArg(f.arg)]
    : [f.node, f.task, bindCode(f.bind), f.bound, packedArg(f.arg), encodeFailure(f.failure)];

const packedArg = (arg: Shape | null): DagNode["arg"] =>
  arg === null ? null : (packShape(arg) as Shape);

const decodeFailure = (f: EncodedFailure): FailureSource => ({
  node: f[0],
  task: f[1],
  bind: bindOf(f[2]),
  bound: f[3],
  arg: unpackShape(f[4]) as DagNode["arg"],
  ...(f.length === 6 ? { failure: decodeFailure(f[5]) } : {}),
});

const failureProblem = (failure: unknown): string | undefined => {
  if (!Array.isArray(failure) || (failure.length !== 5 && failure.length !== 6))
    return "the failure source is not a list";
  const [node, task, bind] = failure as unknown[];
  if (!Number.isInteger(node) || typeof task !== "string")
    return "the failure source does not name a node and its task";
  if (bind !== 0 && bind !== 1 && typeof bind !== "string")
    return "the failure source's binding is not 0, 1 or a field";
  return failure.length === 6 ? failureProblem(failure[5]) : undefined;
};

const bindCode = (bind: Bind): 0 | 1 | string =>
  bind.kind === "immutable" ? 0 : bind.kind === "whole" ? 1 : bind.field;

const bindOf = (code: 0 | 1 | string): Bind =>
  code === 0 ? BIND_IMMUTABLE : code === 1 ? BIND_WHOLE : { kind: "field", field: code };

/**
 * The id and task of a node whose spec, as stored, has neither: the field's
 * number, and the task its node record names ({@link recordTask}).
 */
export interface SpecOwner {
  readonly id: number;
  readonly task: string | undefined;
}

/**
 * Decodes a node spec written by {@link encodeSpec}, as it is or as
 * {@link nodeValue} wraps it (as field `n<i>` keeps it and the scripts hand
 * it). A spec written since 2026-12-05 has no id and task: it takes them
 * from `owner` (a claim's node and the task a script hands with the spec, or
 * the field's number and the node record's task). An older spec has them,
 * and keeps them.
 *
 * @throws Error naming what is wrong when the bytes are not such a spec
 *   (a spec without id or task, and no `owner` to give them, is not one).
 */
export const decodeSpec = (bytes: Uint8Array, owner?: SpecOwner): DagNode => {
  const raw = decode(unwrapSpec(bytes)) as unknown;
  if (owner !== undefined && Array.isArray(raw) && raw[0] === null && raw[1] === null) {
    raw[0] = owner.id;
    raw[1] = owner.task;
  }
  // (a spec written since 2026-12-05 leaves out its trailing fields at their default)
  if (Array.isArray(raw) && raw.length >= SPEC_MIN_FIELDS && raw.length < SPEC_FIELDS)
    for (let i = raw.length; i < SPEC_FIELDS; i++) raw[i] = defaultSpecField(i);
  const why = specProblem(raw);
  if (why) throw new Error(why);
  // (read by index, optional fields assigned: no destructuring, no spread, per claimed node)
  const r = raw as unknown[];
  const spec: { -readonly [K in keyof DagNode]: DagNode[K] } = {
    id: r[0] as number,
    task: r[1] as string,
    queue: (r[2] ?? DEFAULT_QUEUES) as string,
    priority: r[3] as number,
    bind: bindOf(r[4] as 0 | 1 | string),
    bound: r[5],
    arg: unpackShape(r[6]) as DagNode["arg"],
    deps: unpackDeps(r[7]),
    dependents: r[8] as number[],
    settledDependents: r[9] as number[],
    tolerant: r[10] === 1,
    options: r[11] as DagNode["options"],
    path: r[12] as string[],
  };
  const links = r[13] as Links | undefined;
  if (links !== undefined) {
    const [callback, errorDependents, failure] = links;
    if (callback !== null) spec.callback = callback;
    if (errorDependents.length > 0) spec.errorDependents = errorDependents;
    if (failure !== null) spec.failure = decodeFailure(failure);
  }
  const dynamic = r[14] as [number | null, Shape | null] | undefined;
  if (dynamic !== undefined) {
    if (dynamic[0] !== null) spec.addedBy = dynamic[0];
    if (dynamic[1] !== null) spec.replacedBy = unpackShape(dynamic[1]) as Shape;
  }
  return spec;
};

/** The 14th field of a spec: a callback node's kind and failure source, a node's error callbacks. */
type Links = ["success" | "error" | null, number[], EncodedFailure | null];

const linksProblem = (links: unknown): string | undefined => {
  if (!Array.isArray(links) || links.length !== 3) return "the callback field is not a triple";
  const [callback, errorDependents, failure] = links as unknown[];
  if (callback !== null && callback !== "success" && callback !== "error")
    return "the callback kind is not success, error or null";
  if (!Array.isArray(errorDependents) || !errorDependents.every((x) => Number.isInteger(x)))
    return "the error callbacks are not a list of node ids";
  return failure === null ? undefined : failureProblem(failure);
};

const specProblem = (raw: unknown): string | undefined => {
  if (!Array.isArray(raw) || raw.length < SPEC_FIELDS || raw.length > 15)
    return "not a node spec array";
  if (raw.length >= 14) {
    const why = linksProblem(raw[13]);
    if (why) return why;
  }
  if (raw.length === 15) {
    const d = raw[14] as unknown;
    if (!Array.isArray(d) || d.length !== 2) return "the dynamic field is not a pair";
    if (d[0] !== null && !Number.isInteger(d[0])) return "addedBy is not a node id";
    if (d[1] !== null && storedShape(d[1]) === undefined)
      return "replacedBy is not an output shape";
  }
  // (read by index, no destructuring and no closure: a spec is checked per claimed node)
  const r = raw as unknown[];
  const id = r[0];
  const task = r[1];
  const queue = r[2];
  const priority = r[3];
  const bind = r[4];
  const tolerant = r[10];
  const options = r[11];
  if (!Number.isInteger(id)) return "the node id is not an integer";
  if (typeof task !== "string" || task.length === 0) return "the task is not a name";
  if (queue !== null && (typeof queue !== "string" || queue.length === 0))
    return "the queue is not a name";
  if (typeof priority !== "number") return "the priority is not a number";
  if (bind !== 0 && bind !== 1 && typeof bind !== "string")
    return "the binding is not 0, 1 or a field";
  if (packedProblem(r[7]) !== undefined || !isIdList(r[8]) || !isIdList(r[9]))
    return "an edge list is not a list of node ids";
  if (tolerant !== 0 && tolerant !== 1) return "the tolerant flag is not 0 or 1";
  if (options === null || typeof options !== "object" || Array.isArray(options))
    return "the options are not a map";
  if (!Array.isArray(r[12])) return "the path is not a list";
  return undefined;
};

/** Whether `v` is a list of integers (a spec's dependents). */
const isIdList = (v: unknown): boolean => {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!Number.isInteger(v[i])) return false;
  return true;
};
