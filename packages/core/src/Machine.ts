/**
 * The node/run state machine, written once (docs/lifecycle.md): functions over a
 * run's data that apply a start, a completion, a failure or a cancellation
 * and return the nodes that became ready. They mutate the `RunState` they
 * are given and do no I/O; the in-memory store uses them directly and the
 * Redis store's Lua scripts implement the same transitions, held to these by
 * the conformance suite.
 *
 * Node states: `waiting` → `queued` → `running` → `succeeded` | `failed`,
 * with `running` → `retrying` → `running` for a retried attempt, and
 * `skipped` (an upstream node failed, or the run ended) / `cancelled`, and
 * `expired` (a queued or retrying node not started by its `expiresAt`).
 * A `queued` node may be delayed (`dueAt`): it is held in its queue's
 * delayed set until then (docs/schedules.md, "Delayed and expiring work").
 */
import {
  appendDag,
  chordBodies,
  type Dag,
  type DagNode,
  flatten,
  joinChord,
  waitsOn,
} from "./Dag.ts";
import {
  corruptRecordInfo,
  type ErrorInfo,
  ErrorTag,
  expiredInfo,
  InvalidCanvas,
  InvalidProgress,
} from "./Errors.ts";

/** A node's state. */
export type NodeState =
  | "waiting"
  | "queued"
  | "running"
  | "retrying"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "skipped"
  | "expired";

/** A run's status. */
export type RunStatus = "pending" | "running" | "succeeded" | "failed" | "cancelled";

/** States a node never leaves: it ended. */
export const TERMINAL_NODE_STATES: ReadonlySet<NodeState> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
  "expired",
]);

/**
 * Statuses a run never leaves: it ended (`waitForRun` resolves). Nodes that
 * were running may still be finishing; `finishedAt` says when every node ended.
 */
export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set([
  "succeeded",
  "failed",
  "cancelled",
]);

/**
 * Progress reported by a running handler (`ctx.progress`): `current` a
 * finite number, `total` a finite number ≥ 0, `message` at most
 * {@link MAX_PROGRESS_MESSAGE} characters; every store refuses anything else
 * (see {@link checkProgress}).
 */
export interface Progress {
  readonly current: number;
  readonly total?: number;
  readonly message?: string;
}

/** The longest progress message a store keeps, in characters (UTF-16 code units). */
export const MAX_PROGRESS_MESSAGE = 1_000;

/**
 * Checks progress given to a store (it may come from untyped code) and
 * returns it with only its known fields (`total` and `message` left out when
 * `undefined`), the form every store keeps.
 *
 * @throws InvalidProgress naming the field, the value and what is allowed:
 *   not an object, `current` not a finite number, `total` not a finite
 *   number ≥ 0, `message` not a string or longer than
 *   {@link MAX_PROGRESS_MESSAGE} characters, or a field other than these three.
 */
export const checkProgress = (p: unknown): Progress => {
  const refuse = (reason: string): never => {
    throw new InvalidProgress({ reason });
  };
  if (typeof p !== "object" || p === null || Array.isArray(p))
    return refuse(`progress must be an object { current, total?, message? }, got ${shown(p)}`);
  const { current, total, message, ...rest } = p as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0)
    refuse(
      `progress has unknown field ${JSON.stringify(extra[0])}: only current, total and message are kept`,
    );
  if (typeof current !== "number" || !Number.isFinite(current))
    refuse(`progress.current must be a finite number, got ${shown(current)}`);
  if (total !== undefined && !(typeof total === "number" && Number.isFinite(total) && total >= 0))
    refuse(`progress.total must be a finite number ≥ 0 or absent, got ${shown(total)}`);
  if (message !== undefined && typeof message !== "string")
    refuse(`progress.message must be a string or absent, got ${shown(message)}`);
  if (typeof message === "string" && message.length > MAX_PROGRESS_MESSAGE)
    refuse(
      `progress.message must be at most ${MAX_PROGRESS_MESSAGE} characters, got ${message.length}`,
    );
  return {
    current: current as number,
    ...(total === undefined ? {} : { total: total as number }),
    ...(message === undefined ? {} : { message: message as string }),
  };
};

const shown = (v: unknown): string => {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "number" || typeof v === "boolean" || v == null) return String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return "a symbol";
  if (Array.isArray(v)) return "an array";
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  return proto === null || proto === Object.prototype
    ? "an object"
    : `an instance of ${proto.constructor?.name || "a class"}`;
};

/** How an attempt ended. */
export type AttemptOutcome = "succeeded" | "failed" | "stalled" | "released" | "cancelled";

/** One attempt of a node: who ran it, when, and how it ended. Times are epoch ms. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly worker: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: AttemptOutcome;
  readonly error?: ErrorInfo;
}

/** The mutable record of one node. Times are epoch ms. */
export interface NodeRecord {
  state: NodeState;
  /** Attempts started so far (persisted: never kept in worker memory). */
  attempts: number;
  /** Lease expiries seen so far. */
  stalls: number;
  /** Dependencies not yet ended. */
  pending: number;
  startedAt?: number;
  finishedAt?: number;
  worker?: string;
  /** Why the node failed or was skipped. */
  error?: ErrorInfo;
  /** When a `retrying` node, or a delayed `queued` one, is due, epoch ms. */
  dueAt?: number;
  /**
   * The node must start before this time, epoch ms, or it ends `expired`:
   * the earlier of its `expiresAt` option and its run's from the start, and
   * when it becomes ready, the earliest of those and ready time + its
   * `expiresInMs`.
   */
  expiresAt?: number;
  /** Fencing token of the node's current or last lease (stores set it when they lease the node). */
  token?: number;
  /**
   * Attempts that did not succeed, oldest first. The successful attempt is
   * not stored (it is the record's own worker and times): see {@link attemptHistory}.
   */
  history: AttemptRecord[];
}

/** Every attempt of a node, oldest first, the successful one included. */
export const attemptHistory = (n: NodeRecord): AttemptRecord[] =>
  n.state === "succeeded" && n.startedAt !== undefined && n.finishedAt !== undefined
    ? [
        ...n.history,
        {
          attempt: n.attempts,
          worker: n.worker ?? "",
          startedAt: n.startedAt,
          endedAt: n.finishedAt,
          outcome: "succeeded",
        },
      ]
    : n.history;

const record = (n: NodeRecord, outcome: AttemptOutcome, now: number, error?: ErrorInfo): void => {
  n.history.push({
    attempt: n.attempts,
    worker: n.worker ?? "",
    startedAt: n.startedAt ?? 0,
    endedAt: now,
    outcome,
    ...(error ? { error } : {}),
  });
};

/** The mutable record of one run. */
export interface RunRecord {
  readonly id: string;
  status: RunStatus;
  readonly createdAt: number;
  startedAt?: number;
  /** Set once every node has ended. */
  finishedAt?: number;
  /** Number of nodes (it grows when a handler adds dynamic nodes: `replace`). */
  total: number;
  /** Nodes in a terminal state. */
  ended: number;
  /** The failure that failed the run. */
  error?: ErrorInfo;
  failedNode?: number;
  /** No node of the run starts before this time, epoch ms (submit's `delayMs` / `at`). */
  readonly notBefore?: number;
  /** A node of the run not started by this time, epoch ms, ends `expired` (submit's `expiresAt` / `expiresInMs`). */
  readonly expiresAt?: number;
  /** How many times the run was re-driven (see {@link redriveRun}); absent: never. */
  redrives?: number;
}

/**
 * An event a transition emits, before a store stamps it with its id (see
 * `Events.ts` and docs/events.md): a node entered a state (`queued`,
 * `started`, `retrying`, `succeeded`, `failed`, `skipped`, `cancelled`;
 * `errorTag` on `failed` and `retrying`), or the run failed or was cancelled
 * (`run`) or ended (`run-ended`: every node ended). `at` is epoch ms.
 */
export type EventDraft =
  | {
      readonly kind:
        | "queued"
        | "started"
        | "retrying"
        | "succeeded"
        | "failed"
        | "skipped"
        | "cancelled"
        | "expired";
      readonly runId: string;
      readonly at: number;
      readonly nodeId: number;
      readonly task: string;
      readonly attempt: number;
      readonly errorTag?: string;
    }
  | {
      readonly kind: "run" | "run-ended";
      readonly runId: string;
      readonly at: number;
      readonly status: RunStatus;
    }
  | {
      readonly kind: "added";
      readonly runId: string;
      readonly at: number;
      readonly nodeIds: ReadonlyArray<number>;
    };

/** A run's data: the record, one record per node and the static graph. */
export interface RunState {
  readonly run: RunRecord;
  readonly nodes: NodeRecord[];
  /** The graph: the declared plan, then the dynamic nodes in the order they were added. */
  readonly graph: DagNode[];
  /**
   * When set, every transition appends the events it emits here, in order
   * (the in-memory store takes them after each call); the Redis scripts
   * emit the same events.
   */
  events?: EventDraft[];
  /** The key that names this run's records in `CorruptRecord` messages. Default `run:<id>`. */
  key?: string;
  /**
   * Nodes whose stored record reads as garbage, with why (the in-memory
   * store's test hook). Found where a store reads the record: see {@link readNode}.
   */
  corrupt?: Map<number, string>;
  /** The field of the first corrupt record found; the sweep's skip reason names it. */
  corruption?: string;
  /** A sweep of the nodes not started is due at the end of the current transition. */
  sweepDue?: boolean;
  /** Nodes a sweep took out of their queue (they were queued or retrying); the store drops them and clears this. */
  swept?: number[];
}

/** A run's own time limits, epoch ms (see {@link RunRecord.notBefore} and {@link RunRecord.expiresAt}). */
export interface RunTiming {
  readonly notBefore?: number;
  readonly expiresAt?: number;
}

/** Creates the state of a freshly written run (`pending`: nothing is runnable yet). */
export const createRun = (id: string, dag: Dag, now: number, timing: RunTiming = {}): RunState => ({
  run: {
    id,
    status: "pending",
    createdAt: now,
    total: dag.nodes.length,
    ended: 0,
    ...(timing.notBefore === undefined ? {} : { notBefore: timing.notBefore }),
    ...(timing.expiresAt === undefined ? {} : { expiresAt: timing.expiresAt }),
  },
  nodes: dag.nodes.map((n) => freshNode(n, timing)),
  graph: [...dag.nodes],
});

/** The record of a node just written: `waiting` on every dependency, with its deadline. */
const freshNode = (n: DagNode, timing: RunTiming): NodeRecord => {
  const limits = [n.options.expiresAt, timing.expiresAt].filter((v) => v !== undefined);
  return {
    state: "waiting",
    attempts: 0,
    stalls: 0,
    pending: n.deps.length,
    history: [],
    ...(limits.length === 0 ? {} : { expiresAt: Math.min(...limits) }),
  };
};

/** What {@link replaceNode} did. */
export type Replaced =
  | {
      readonly kind: "replaced";
      /** The ids of the nodes added, in declaration order. */
      readonly added: number[];
      /** Nodes that became ready (roots of the replacement), in declaration order. */
      readonly ready: number[];
    }
  | { readonly kind: "cancelled"; readonly ready: number[] };

/**
 * A running node's handler returned `replace(canvas)` (Celery's
 * `Task.replace`; docs/concepts.md, "Dynamic canvases"): the compiled
 * canvas's nodes are appended to the run (ids from the run's `total` on,
 * each marked `addedBy: id`, an `added` event), its roots become ready, and
 * node `id` goes back to `waiting` on the replacement's output nodes (its
 * spec gains `replacedBy`, the output shape): when they succeed it is ready
 * again and a worker gathers that output as its result; when one fails it is
 * skipped, and its dependents with it. In a cancelled run nothing is added
 * and the node ends `cancelled`, as a completion would. `undefined` when the
 * node is not running (a stale report).
 */
export const replaceNode = (
  s: RunState,
  id: number,
  dag: Dag,
  now: number,
): Replaced | undefined => {
  const n = readNode(s, id, now);
  if (n.state !== "running") return undefined;
  if (s.run.status === "cancelled") {
    record(n, "cancelled", now);
    return {
      kind: "cancelled",
      ready: finishNode(s, id, "cancelled", CANCELLED_COMPLETION, now),
    };
  }
  const spec = s.graph[id]!;
  if (s.run.status !== "running" && !(s.run.status === "failed" && spec.callback === "error")) {
    // the run failed while the handler ran: its replacement would never run
    return {
      kind: "cancelled",
      ready: finishNode(s, id, "skipped", runEndedReason(s, id), now),
    };
  }
  const base = s.graph.length;
  const { nodes, output } = appendDag(dag, base, spec);
  const timing: RunTiming = {
    ...(s.run.notBefore === undefined ? {} : { notBefore: s.run.notBefore }),
    ...(s.run.expiresAt === undefined ? {} : { expiresAt: s.run.expiresAt }),
  };
  for (const node of nodes) {
    s.graph.push(node);
    s.nodes.push(freshNode(node, timing));
  }
  s.run.total += nodes.length;
  s.graph[id] = { ...spec, replacedBy: output };
  n.state = "waiting";
  n.pending = flatten(output).length;
  const added = nodes.map((x) => x.id);
  s.events?.push({ kind: "added", runId: s.run.id, at: now, nodeIds: added });
  const ready: number[] = [];
  if (n.pending === 0) {
    // an empty replacement (a group of nothing): the node gathers its output at once
    queue(s, id, now);
    nodeEvent(s, id, now);
    ready.push(id);
  }
  for (const a of added) {
    const r = s.nodes[a]!;
    if (r.pending === 0) {
      queue(s, a, now);
      nodeEvent(s, a, now);
      ready.push(a);
    }
  }
  return { kind: "replaced", added, ready };
};

/** Makes a pending run runnable; returns its root nodes, now `queued`, in id order. */
export const commitRun = (s: RunState, now: number): number[] => {
  if (s.run.status !== "pending") return [];
  s.run.status = "running";
  s.run.startedAt = now;
  const ready: number[] = [];
  for (let id = 0; id < s.nodes.length; id++) {
    const n = read(s, id, now);
    if (s.run.status === "running" && n.state === "waiting" && n.pending === 0) {
      // a root already past its deadline is queued all the same: its claim or maintenance expires it
      queue(s, id, now);
      nodeEvent(s, id, now);
      ready.push(id);
    }
  }
  conclude(s, now);
  return ready.filter((id) => s.nodes[id]!.state === "queued");
};

/**
 * When node `id`, becoming ready at `now`, may start and when it must have
 * started (epoch ms; `undefined`: no limit): the latest of its `notBefore`,
 * `now + delayMs` and the run's `notBefore`, and the earliest of its
 * `expiresAt`, `now + expiresInMs` and the run's `expiresAt`.
 */
export const readyTimes = (
  s: RunState,
  id: number,
  now: number,
): { readonly dueAt: number | undefined; readonly expiresAt: number | undefined } => {
  const o = s.graph[id]!.options;
  const due = Math.max(
    o.notBefore ?? 0,
    s.run.notBefore ?? 0,
    o.delayMs === undefined ? 0 : now + o.delayMs,
  );
  const limits = [o.expiresAt, s.run.expiresAt, o.expiresInMs && now + o.expiresInMs].filter(
    (v): v is number => v !== undefined,
  );
  return {
    dueAt: due > now ? due : undefined,
    expiresAt: limits.length === 0 ? undefined : Math.min(...limits),
  };
};

/** Node `id` is ready: `queued`, delayed (`dueAt`) and with a deadline (`expiresAt`) as its options say. */
const queue = (s: RunState, id: number, now: number): void => {
  const n = s.nodes[id]!;
  const { dueAt, expiresAt } = readyTimes(s, id, now);
  n.state = "queued";
  if (dueAt !== undefined) n.dueAt = dueAt;
  if (expiresAt !== undefined) n.expiresAt = expiresAt;
};

/** What {@link addToChord} did. */
export type ChordAddition =
  | {
      readonly kind: "added";
      /** The ids of the nodes added, in declaration order. */
      readonly added: number[];
      /** Nodes that became ready (the roots of what was added), in declaration order. */
      readonly ready: number[];
    }
  /** The node is not running (its lease was lost), or its run is not running: nothing added. */
  | { readonly kind: "lost" | "cancelled" | "ended" }
  /** The node is not a chord header member: nothing added. */
  | { readonly kind: "not-in-chord" };

/** The error of `addToChord` from a node that is not a chord header member. */
export const notInChord = (claim: { readonly nodeId: number; readonly spec: DagNode }) =>
  new InvalidCanvas({
    reason: `ctx.addToChord: node ${claim.nodeId} (${claim.spec.task}) is not a chord header member (no chord body takes its output in a list)`,
  });

/**
 * A running chord header member adds a member to its chord (Celery's
 * `add_to_chord`; docs/concepts.md, "Adding to a running chord"): the
 * compiled canvas's nodes are appended as {@link replaceNode} appends them
 * (marked `addedBy: id`, an `added` event, roots queued), and each chord
 * body entry node ({@link chordBodies}) waits for them too: its argument's
 * list gains the canvas's output after the declared members'. The caller
 * goes on running.
 */
export const addToChord = (s: RunState, id: number, dag: Dag, now: number): ChordAddition => {
  const n = readNode(s, id, now);
  if (n.state !== "running") return { kind: "lost" };
  if (s.run.status === "cancelled") return { kind: "cancelled" };
  if (s.run.status !== "running") return { kind: "ended" };
  const spec = s.graph[id]!;
  const bodies = chordBodies(spec, (d) => s.graph[d]!);
  if (bodies.length === 0) return { kind: "not-in-chord" };
  const base = s.graph.length;
  const { nodes, output } = appendDag(dag, base, spec, bodies);
  const timing: RunTiming = {
    ...(s.run.notBefore === undefined ? {} : { notBefore: s.run.notBefore }),
    ...(s.run.expiresAt === undefined ? {} : { expiresAt: s.run.expiresAt }),
  };
  for (const node of nodes) {
    s.graph.push(node);
    s.nodes.push(freshNode(node, timing));
  }
  s.run.total += nodes.length;
  for (const b of bodies) {
    const body = s.graph[b.id]!;
    const joined = joinChord(body, output);
    s.graph[b.id] = joined;
    s.nodes[b.id]!.pending += joined.deps.length - body.deps.length;
  }
  const added = nodes.map((x) => x.id);
  s.events?.push({ kind: "added", runId: s.run.id, at: now, nodeIds: added });
  const ready: number[] = [];
  for (const a of added) {
    if (s.nodes[a]!.pending === 0) {
      queue(s, a, now);
      nodeEvent(s, a, now);
      ready.push(a);
    }
  }
  return { kind: "added", added, ready };
};

/**
 * Reads node `id` as a store reads its record. A record found corrupt (see
 * {@link RunState.corrupt}) is replaced by a `failed` one with a
 * `CorruptRecord` error, the run fails, and every node not started is
 * skipped (see {@link corruptNode}).
 */
export const readNode = (s: RunState, id: number, now: number): NodeRecord => {
  const n = read(s, id, now);
  conclude(s, now);
  return n;
};

/**
 * Fails node `id` because its record field `field` cannot be decoded, and
 * with it the run (`CorruptRecord`, `failedNode`), unless the run already
 * ended; the first corruption of a run that is not cancelled then sweeps it:
 * every node not started (waiting, queued, retrying) ends `skipped` with a
 * reason naming the corrupt field, and leaves its queue. Running nodes finish
 * normally. `replaced`: the node's own record was the corrupt part, so what
 * it held (attempts, stalls, times) is lost and it counts as ended now.
 * Deferred to the end of the transition: call {@link readNode} or a
 * transition, which conclude.
 */
export const corruptNode = (
  s: RunState,
  id: number,
  field: string,
  why: string,
  now: number,
  replaced: boolean,
): void => {
  const n = s.nodes[id]!;
  const error = corruptRecordInfo(s.key ?? `run:${s.run.id}`, field, why);
  if (replaced) {
    n.attempts = 0;
    n.stalls = 0;
    n.pending = 0;
    delete n.startedAt;
    delete n.worker;
    delete n.token;
  } else if (TERMINAL_NODE_STATES.has(n.state)) return;
  end(s, id, "failed", error, now);
  if (s.run.status === "running" || s.run.status === "pending") {
    s.run.status = "failed";
    s.run.error = error;
    s.run.failedNode = id;
    runEvent(s, "run", now);
  }
  if (s.corruption === undefined) {
    s.corruption = field;
    if (s.run.status !== "cancelled") s.sweepDue = true;
  }
};

/** Appends node `id`'s event: it entered the state its record holds. */
const nodeEvent = (s: RunState, id: number, now: number, errorTag?: string): void => {
  if (!s.events) return;
  const n = s.nodes[id]!;
  s.events.push({
    kind: n.state === "running" ? "started" : (n.state as "queued"),
    runId: s.run.id,
    at: now,
    nodeId: id,
    task: s.graph[id]!.task,
    attempt: n.attempts,
    ...(errorTag === undefined ? {} : { errorTag }),
  });
};

/** Appends the run's event: `run` (it failed or was cancelled) or `run-ended`. */
const runEvent = (s: RunState, kind: "run" | "run-ended", now: number): void => {
  s.events?.push({ kind, runId: s.run.id, at: now, status: s.run.status });
};

const read = (s: RunState, id: number, now: number): NodeRecord => {
  const why = s.corrupt?.get(id);
  if (why !== undefined) {
    s.corrupt!.delete(id);
    corruptNode(s, id, `n${id}`, why, now, true);
  }
  return s.nodes[id]!;
};

/** Runs a due sweep, then sets `finishedAt` when every node has ended. */
const conclude = (s: RunState, now: number): void => {
  while (s.sweepDue) {
    s.sweepDue = false;
    for (let id = 0; id < s.nodes.length; id++) {
      const n = read(s, id, now);
      if (n.state === "waiting" || n.state === "queued" || n.state === "retrying") {
        if (n.state !== "waiting") {
          s.swept ??= [];
          s.swept.push(id);
        }
        end(s, id, "skipped", sweepReason(s), now);
      }
    }
  }
  finishRunIfDone(s, now);
};

/**
 * Result of {@link startNode}. `refused` includes a node found corrupt (now
 * `failed`); `expired`: the node was past its `expiresAt` and ended `expired`.
 */
export type StartResult =
  | { readonly kind: "started"; readonly attempt: number; readonly stalled: boolean }
  | { readonly kind: "refused"; readonly state: NodeState }
  | { readonly kind: "stalled-out"; readonly ready: number[] }
  | { readonly kind: "expired"; readonly ready: number[] };

/**
 * Starts an attempt of a delivered node. A node found `running` was
 * re-delivered after its lease expired: that counts a stall, and a node over
 * `maxStalls` fails instead of starting. A queued or retrying node at or past
 * its `expiresAt` ends `expired` instead (see {@link expireNode}).
 */
export const startNode = (
  s: RunState,
  id: number,
  worker: string,
  maxStalls: number,
  now: number,
): StartResult => {
  const n = readNode(s, id, now);
  if (n.state !== "queued" && n.state !== "retrying" && n.state !== "running") {
    return { kind: "refused", state: n.state };
  }
  const stalled = n.state === "running";
  if (!stalled && n.expiresAt !== undefined && now >= n.expiresAt) {
    return { kind: "expired", ready: finishNode(s, id, "expired", expiredInfo(n.expiresAt), now) };
  }
  if (stalled) {
    n.stalls += 1;
    record(n, "stalled", now);
    if (n.stalls > maxStalls) {
      const error: ErrorInfo = {
        tag: ErrorTag.Stalled,
        message: `lease expired ${n.stalls} times (maxStalls ${maxStalls}): the worker running it died or stopped heartbeating`,
        retryable: false,
      };
      return { kind: "stalled-out", ready: finishNode(s, id, "failed", error, now) };
    }
  }
  n.state = "running";
  n.attempts += 1;
  n.startedAt = now;
  n.worker = worker;
  delete n.dueAt;
  nodeEvent(s, id, now);
  return { kind: "started", attempt: n.attempts, stalled };
};

/**
 * Ends a queued or retrying node whose `expiresAt` is at or before `now`
 * (maintenance: a node nobody claims still expires): `expired` with an
 * `Expired` error, its dependents skipped (a settled group receives the
 * error), and its run failed unless the node is tolerated. Returns the nodes
 * that became ready, or `undefined` when the node is not expirable.
 */
export const expireNode = (s: RunState, id: number, now: number): number[] | undefined => {
  const n = readNode(s, id, now);
  if (n.state !== "queued" && n.state !== "retrying") return undefined;
  if (n.expiresAt === undefined || now < n.expiresAt) return undefined;
  return finishNode(s, id, "expired", expiredInfo(n.expiresAt), now);
};

/**
 * Puts back a started node its worker will not run (graceful shutdown): it
 * is `queued` again and the attempt is not counted.
 */
export const releaseNode = (s: RunState, id: number, now: number): boolean => {
  const n = readNode(s, id, now);
  if (n.state !== "running") return false;
  record(n, "released", now);
  n.state = "queued";
  n.attempts = Math.max(0, n.attempts - 1);
  nodeEvent(s, id, now);
  return true;
};

/**
 * Puts back a started node whose task the worker has no handler for (see
 * `Store.park`): it is `queued` again, the attempt is not counted and leaves
 * no history entry; its worker and start time are cleared (a stall counted
 * when it started stays counted: the lease really expired).
 */
export const parkNode = (s: RunState, id: number, now = 0): boolean => {
  const n = s.nodes[id]!;
  if (n.state !== "running") return false;
  n.state = "queued";
  n.attempts = Math.max(0, n.attempts - 1);
  delete n.worker;
  delete n.startedAt;
  nodeEvent(s, id, now);
  return true;
};

/**
 * Hands back a claimed node held back by its task's rate limit
 * (`options.rateLimit`): `queued` again, its attempt not counted, delayed
 * until `dueAt` (epoch ms, when the limit frees), as {@link parkNode} does
 * without the delay. False when the node is not running.
 */
export const holdNode = (s: RunState, id: number, dueAt: number, now = 0): boolean => {
  if (!parkNode(s, id, now)) return false;
  s.nodes[id]!.dueAt = dueAt;
  return true;
};

/** What {@link completeNode} did. */
export interface Completion {
  /** Nodes that became ready, in declaration order. */
  readonly ready: number[];
  /** True when the run had been cancelled: the node ended `cancelled` and its result is not recorded. */
  readonly cancelled: boolean;
}

/** The error of a node whose completion came after its run was cancelled. */
export const CANCELLED_COMPLETION: ErrorInfo = {
  tag: ErrorTag.Cancelled,
  message: "the run was cancelled while this node ran: its result was discarded",
  retryable: false,
};

/**
 * Records a success, or, when the run was cancelled, ends the node
 * `cancelled` without recording its result. `undefined` when the node is not
 * running (a stale report).
 */
export const completeNode = (s: RunState, id: number, now: number): Completion | undefined => {
  const n = readNode(s, id, now);
  if (n.state !== "running") return undefined;
  if (s.run.status === "cancelled") {
    record(n, "cancelled", now);
    return { ready: finishNode(s, id, "cancelled", CANCELLED_COMPLETION, now), cancelled: true };
  }
  return { ready: finishNode(s, id, "succeeded", undefined, now), cancelled: false };
};

/**
 * Records a failed attempt: `retryAt` (epoch ms) schedules the next attempt
 * (`retrying`); `null` fails the node for good, skips its dependents and
 * fails the run (unless the node sits in a settled group).
 */
export const failNode = (
  s: RunState,
  id: number,
  error: ErrorInfo,
  retryAt: number | null,
  now: number,
): number[] | undefined => {
  const n = readNode(s, id, now);
  if (n.state !== "running") return undefined;
  if (s.run.status === "cancelled") {
    record(n, "cancelled", now, error);
    return finishNode(s, id, "cancelled", error, now);
  }
  record(n, "failed", now, error);
  if (retryAt !== null) {
    n.state = "retrying";
    n.dueAt = retryAt;
    n.error = error;
    nodeEvent(s, id, now, error.tag);
    return [];
  }
  return finishNode(s, id, "failed", error, now);
};

/**
 * Cancels a run: every node not yet started is `cancelled`; running nodes
 * are signalled by the store's heartbeat and end `cancelled` when they report. Returns those that were queued or retrying. */
export const cancelRun = (s: RunState, now: number): number[] => {
  if (s.run.status !== "pending" && s.run.status !== "running") return [];
  s.run.status = "cancelled";
  runEvent(s, "run", now);
  const removed: number[] = [];
  for (let id = 0; id < s.nodes.length; id++) {
    const n = read(s, id, now);
    if (n.state === "waiting" || n.state === "queued" || n.state === "retrying") {
      if (n.state !== "waiting") removed.push(id);
      end(s, id, "cancelled", undefined, now);
    }
  }
  conclude(s, now);
  return removed;
};

/** Why {@link redriveRun} refused a run. */
export type RedriveRefusal = "not-ended" | "not-quiet" | "succeeded";

/**
 * Re-drives a run that ended `failed` or `cancelled` (docs/concepts.md,
 * "Re-driving a run"; Temporal's reset, BullMQ's retry of failed jobs): the
 * run is `running` again, every succeeded node keeps its result and every
 * node keeps its attempt history; every failed, skipped,
 * cancelled or expired node is `waiting` again (but a callback whose event
 * can no longer happen: see `staysEnded`), its deadline counted anew (an
 * `expiresInMs` from when it is ready again), with its pending
 * dependencies counted anew (a succeeded dependency stays resolved; a
 * replaced node waits on its replacement's output nodes again) and a
 * fresh retry budget (its attempt and stall counts start again from 0, as
 * BullMQ's retry of a failed job does: its history then shows attempt 1
 * again after the earlier ones), and those with none pending are queued. Returns the nodes queued, in id order,
 * or why the run was refused: it has not ended (`not-ended`), a node of it
 * is still running (`not-quiet`), or it succeeded (`succeeded`).
 */
export const redriveRun = (s: RunState, now: number): number[] | RedriveRefusal => {
  if (s.run.status === "succeeded") return "succeeded";
  if (s.run.status !== "failed" && s.run.status !== "cancelled") return "not-ended";
  if (s.run.finishedAt === undefined) return "not-quiet";
  s.run.status = "running";
  s.run.redrives = (s.run.redrives ?? 0) + 1;
  delete s.run.error;
  delete s.run.failedNode;
  delete s.run.finishedAt;
  s.run.ended = 0;
  // nodes left as they ended: succeeded ones, and callbacks whose event can no longer happen
  const kept = new Set<number>();
  for (let id = 0; id < s.nodes.length; id++) {
    const n = s.nodes[id]!;
    if (n.state === "succeeded" || staysEnded(s, id, kept)) {
      kept.add(id);
      s.run.ended += 1;
      continue;
    }
    n.state = "waiting";
    n.attempts = 0;
    n.stalls = 0;
    delete n.finishedAt;
    delete n.error;
    delete n.dueAt;
    // its deadline is its absolute one again: `expiresInMs` counts from when it is ready again
    const limits = [s.graph[id]!.options.expiresAt, s.run.expiresAt].filter((v) => v !== undefined);
    if (limits.length === 0) delete n.expiresAt;
    else n.expiresAt = Math.min(...limits);
    // it waits on what it waited on when it ended: a replaced node on its replacement's output;
    // a node added after it (its replacement's, or one added to its chord) is re-driven later
    // in this walk, so it is pending unless it succeeded
    n.pending = waitsOn(s.graph[id]!).filter((d) =>
      d > id ? s.nodes[d]!.state !== "succeeded" : !kept.has(d),
    ).length;
  }
  runEvent(s, "run", now);
  const ready: number[] = [];
  for (let id = 0; id < s.nodes.length; id++) {
    const n = s.nodes[id]!;
    if (n.state === "waiting" && n.pending === 0) {
      queue(s, id, now);
      nodeEvent(s, id, now);
      ready.push(id);
    }
  }
  conclude(s, now);
  return ready;
};

/**
 * Whether node `id`, not succeeded, stays as it ended on a re-drive: when the
 * event it waits on can no longer happen, because an error edge's node
 * succeeded (or stays ended without failing), or a plain edge's node stays
 * ended without succeeding. `kept`: the nodes before `id` that stay ended
 * (its declared dependencies come before it; one added after it, to its
 * chord, is never kept). A settled edge never keeps a node: a
 * node that stays ended counts as resolved there.
 */
const staysEnded = (s: RunState, id: number, kept: ReadonlySet<number>): boolean =>
  s.graph[id]!.deps.some((d) => {
    if (!kept.has(d)) return false;
    const g = s.graph[d]!;
    if (g.errorDependents?.includes(id)) return true;
    if (g.settledDependents.includes(id)) return false;
    return s.nodes[d]!.state !== "succeeded";
  });

/**
 * Ends a node (`succeeded`, `failed` or `cancelled`) and cascades: each
 * dependent whose dependency succeeded (or that receives it through a
 * settled group) has that dependency resolved, and the dependents of a node
 * that did not succeed are skipped, transitively; an error callback's
 * dependency resolves only when the node failed or expired, and it is skipped
 * otherwise. Returns the nodes that became ready.
 */
const finishNode = (
  s: RunState,
  id: number,
  outcome: "succeeded" | "failed" | "cancelled" | "expired" | "skipped",
  error: ErrorInfo | undefined,
  now: number,
): number[] => {
  const ready: number[] = [];
  end(s, id, outcome, error, now);
  const failure = outcome === "failed" || outcome === "expired";
  if (failure && !s.graph[id]!.tolerant && s.run.status === "running") {
    s.run.status = "failed";
    s.run.error = error!;
    s.run.failedNode = id;
    runEvent(s, "run", now);
  }
  const stack: number[] = [id];
  while (stack.length > 0) {
    const from = stack.pop()!;
    const ok = s.nodes[from]!.state === "succeeded";
    const g = s.graph[from]!;
    for (const d of g.dependents) {
      if (ok) resolveDependency(s, d, from, now, ready, stack);
      else if (!TERMINAL_NODE_STATES.has(read(s, d, now).state)) {
        end(s, d, "skipped", skipReason(s, from), now);
        stack.push(d);
      }
    }
    for (const d of g.settledDependents) resolveDependency(s, d, from, now, ready, stack);
    // error callbacks: ready when `from` failed for good or expired (its failure record carries
    // the Expired error), skipped when it ended any other way
    const failed = s.nodes[from]!.state === "failed" || s.nodes[from]!.state === "expired";
    for (const d of g.errorDependents ?? []) {
      if (failed) resolveDependency(s, d, from, now, ready, stack);
      else if (!TERMINAL_NODE_STATES.has(read(s, d, now).state)) {
        end(s, d, "skipped", skipReason(s, from), now);
        stack.push(d);
      }
    }
  }
  conclude(s, now);
  // a sweep (a corrupt record found on the way) skips nodes made ready before it
  return ready.filter((id) => s.nodes[id]!.state === "queued");
};

/**
 * Resolves one dependency (`from`) of node `d`: when it was the last one, `d`
 * is ready (`queued`), or ends with the run when the run has ended (an
 * error callback's node is still made ready in a failed run).
 */
const resolveDependency = (
  s: RunState,
  d: number,
  from: number,
  now: number,
  ready: number[],
  stack: number[],
): void => {
  const n = read(s, d, now);
  if (TERMINAL_NODE_STATES.has(n.state)) return;
  n.pending -= 1;
  if (n.pending > 0) return;
  // an error callback also runs after its run failed (its event happened): never after a cancel
  if (
    s.run.status === "running" ||
    (s.run.status === "failed" && s.graph[d]!.callback === "error")
  ) {
    queue(s, d, now);
    if (n.expiresAt !== undefined && now >= n.expiresAt) {
      // already past its deadline: it cannot start, and ends as if claimed now
      const error = expiredInfo(n.expiresAt);
      end(s, d, "expired", error, now);
      if (!s.graph[d]!.tolerant) {
        s.run.status = "failed";
        s.run.error = error;
        s.run.failedNode = d;
        runEvent(s, "run", now);
      }
      stack.push(d);
      return;
    }
    nodeEvent(s, d, now);
    ready.push(d);
  } else {
    end(s, d, s.run.status === "cancelled" ? "cancelled" : "skipped", runEndedReason(s, from), now);
    stack.push(d);
  }
};

const end = (
  s: RunState,
  id: number,
  state: NodeState,
  error: ErrorInfo | undefined,
  now: number,
): void => {
  const n = s.nodes[id]!;
  n.state = state;
  n.finishedAt = now;
  delete n.dueAt;
  if (error) n.error = error;
  else delete n.error;
  s.run.ended += 1;
  const failure = state === "failed" || state === "expired";
  nodeEvent(s, id, now, failure ? (error?.tag ?? ErrorTag.CorruptRecord) : undefined);
};

/** Sets the run's `finishedAt` (and its final status) once every node has ended. */
const finishRunIfDone = (s: RunState, now: number): void => {
  if (s.run.ended < s.run.total || s.run.finishedAt !== undefined) return;
  s.run.finishedAt = now;
  if (s.run.status === "running") s.run.status = "succeeded";
  runEvent(s, "run-ended", now);
};

const skipReason = (s: RunState, from: number): ErrorInfo => ({
  tag: ErrorTag.Skipped,
  message: `upstream node ${from} (${s.graph[from]!.task}) ${s.nodes[from]!.state}`,
  retryable: false,
});

const sweepReason = (s: RunState): ErrorInfo => ({
  tag: ErrorTag.Skipped,
  message: `a corrupt record (field ${s.corruption}) stopped the run before this node could start`,
  retryable: false,
});

const runEndedReason = (s: RunState, from: number): ErrorInfo => ({
  tag: s.run.status === "cancelled" ? ErrorTag.Cancelled : ErrorTag.Skipped,
  message: `run ${s.run.status} before this node could start (last upstream: node ${from})`,
  retryable: false,
});
