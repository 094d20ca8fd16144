/**
 * The node/run state machine, written once (DESIGN.md §3): functions over a
 * run's data that apply a start, a completion, a failure or a cancellation
 * and return the nodes that became ready. They mutate the `RunState` they
 * are given and do no I/O; the in-memory store uses them directly and the
 * Redis store's Lua scripts implement the same transitions, held to these by
 * the conformance suite.
 *
 * Node states: `waiting` → `queued` → `running` → `succeeded` | `failed`,
 * with `running` → `retrying` → `running` for a retried attempt, and
 * `skipped` (an upstream node failed, or the run ended) / `cancelled`.
 *
 * @since 0.1.0
 */
import type { Dag } from "./Dag.ts";
import type { ErrorInfo } from "./Errors.ts";

/** A node's state. */
export type NodeState =
  | "waiting"
  | "queued"
  | "running"
  | "retrying"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "skipped";

/** A run's status. */
export type RunStatus = "pending" | "running" | "succeeded" | "failed" | "cancelled";

/** States a node never leaves. */
export const TERMINAL: ReadonlySet<NodeState> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "skipped",
]);

/** Progress reported by a running handler. */
export interface Progress {
  readonly current: number;
  readonly total?: number;
  readonly message?: string;
}

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
  /** When a `retrying` node is due, epoch ms. */
  dueAt?: number;
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
  /** Number of nodes. */
  readonly total: number;
  /** Nodes in a terminal state. */
  ended: number;
  /** The failure that failed the run. */
  error?: ErrorInfo;
  failedNode?: number;
}

/** A run's data: the record, one record per node and the static graph. */
export interface RunState {
  readonly run: RunRecord;
  readonly nodes: NodeRecord[];
  readonly graph: Dag["nodes"];
}

/** Creates the state of a freshly written run (`pending`: nothing is runnable yet). */
export const createRun = (id: string, dag: Dag, now: number): RunState => ({
  run: { id, status: "pending", createdAt: now, total: dag.nodes.length, ended: 0 },
  nodes: dag.nodes.map((n) => ({
    state: "waiting",
    attempts: 0,
    stalls: 0,
    pending: n.deps.length,
    history: [],
  })),
  graph: dag.nodes,
});

/** Makes a pending run runnable; returns its root nodes, now `queued`, in id order. */
export const commitRun = (s: RunState, now: number): number[] => {
  if (s.run.status !== "pending") return [];
  s.run.status = "running";
  s.run.startedAt = now;
  const ready: number[] = [];
  s.nodes.forEach((n, id) => {
    if (n.state === "waiting" && n.pending === 0) {
      n.state = "queued";
      ready.push(id);
    }
  });
  return ready;
};

/** Result of {@link startNode}. */
export type StartResult =
  | { readonly kind: "started"; readonly attempt: number; readonly stalled: boolean }
  | { readonly kind: "refused"; readonly state: NodeState }
  | { readonly kind: "stalled-out"; readonly ready: number[] };

/**
 * Starts an attempt of a delivered node. A node found `running` was
 * re-delivered after its lease expired: that counts a stall, and a node over
 * `maxStalls` fails instead of starting.
 */
export const startNode = (
  s: RunState,
  id: number,
  worker: string,
  maxStalls: number,
  now: number,
): StartResult => {
  const n = s.nodes[id]!;
  if (n.state !== "queued" && n.state !== "retrying" && n.state !== "running") {
    return { kind: "refused", state: n.state };
  }
  const stalled = n.state === "running";
  if (stalled) {
    n.stalls += 1;
    record(n, "stalled", now);
    if (n.stalls > maxStalls) {
      const error: ErrorInfo = {
        tag: "Stalled",
        message: `lease expired ${n.stalls} times (maxStalls ${maxStalls}): the worker running it died or stopped heartbeating`,
        retryable: false,
      };
      return { kind: "stalled-out", ready: settle(s, id, "failed", error, now) };
    }
  }
  n.state = "running";
  n.attempts += 1;
  n.startedAt = now;
  n.worker = worker;
  delete n.dueAt;
  return { kind: "started", attempt: n.attempts, stalled };
};

/**
 * Puts back a started node its worker will not run (graceful shutdown): it
 * is `queued` again and the attempt is not counted.
 */
export const releaseNode = (s: RunState, id: number, now: number): boolean => {
  const n = s.nodes[id]!;
  if (n.state !== "running") return false;
  record(n, "released", now);
  n.state = "queued";
  n.attempts = Math.max(0, n.attempts - 1);
  return true;
};

/**
 * Puts back a started node whose task the worker has no handler for (see
 * `Store.park`): it is `queued` again, the attempt is not counted and leaves
 * no history entry; its worker and start time are cleared (a stall counted
 * when it started stays counted: the lease really expired).
 */
export const parkNode = (s: RunState, id: number): boolean => {
  const n = s.nodes[id]!;
  if (n.state !== "running") return false;
  n.state = "queued";
  n.attempts = Math.max(0, n.attempts - 1);
  delete n.worker;
  delete n.startedAt;
  return true;
};

/** Records a success; returns the nodes that became ready, in declaration order. */
export const completeNode = (s: RunState, id: number, now: number): number[] | undefined => {
  if (s.nodes[id]!.state !== "running") return undefined;
  return settle(s, id, "succeeded", undefined, now);
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
  const n = s.nodes[id]!;
  if (n.state !== "running") return undefined;
  if (s.run.status === "cancelled") {
    record(n, "cancelled", now, error);
    return settle(s, id, "cancelled", error, now);
  }
  record(n, "failed", now, error);
  if (retryAt !== null) {
    n.state = "retrying";
    n.dueAt = retryAt;
    n.error = error;
    return [];
  }
  return settle(s, id, "failed", error, now);
};

/**
 * Cancels a run: every node not yet started is `cancelled`; running nodes
 * are signalled by the store's heartbeat and end `cancelled` when they report. Returns those that were queued or retrying. */
export const cancelRun = (s: RunState, now: number): number[] => {
  if (s.run.status !== "pending" && s.run.status !== "running") return [];
  s.run.status = "cancelled";
  const removed: number[] = [];
  s.nodes.forEach((n, id) => {
    if (n.state === "waiting" || n.state === "queued" || n.state === "retrying") {
      if (n.state !== "waiting") removed.push(id);
      n.state = "cancelled";
      n.finishedAt = now;
      s.run.ended += 1;
    }
  });
  finish(s, now);
  return removed;
};

/** Moves a node to a terminal state and resolves its dependents; returns newly ready nodes. */
const settle = (
  s: RunState,
  id: number,
  outcome: "succeeded" | "failed" | "cancelled",
  error: ErrorInfo | undefined,
  now: number,
): number[] => {
  const ready: number[] = [];
  end(s, id, outcome, error, now);
  if (outcome === "failed" && !s.graph[id]!.tolerant && s.run.status === "running") {
    s.run.status = "failed";
    s.run.error = error!;
    s.run.failedNode = id;
  }
  const stack: number[] = [id];
  while (stack.length > 0) {
    const from = stack.pop()!;
    const ok = s.nodes[from]!.state === "succeeded";
    const g = s.graph[from]!;
    for (const d of g.dependents) {
      if (ok) release(s, d, from, now, ready, stack);
      else if (!TERMINAL.has(s.nodes[d]!.state)) {
        end(s, d, "skipped", skipReason(s, from), now);
        stack.push(d);
      }
    }
    for (const d of g.settledDependents) release(s, d, from, now, ready, stack);
  }
  finish(s, now);
  return ready;
};

const release = (
  s: RunState,
  d: number,
  from: number,
  now: number,
  ready: number[],
  stack: number[],
): void => {
  const n = s.nodes[d]!;
  if (TERMINAL.has(n.state)) return;
  n.pending -= 1;
  if (n.pending > 0) return;
  if (s.run.status === "running") {
    n.state = "queued";
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
};

const finish = (s: RunState, now: number): void => {
  if (s.run.ended < s.run.total || s.run.finishedAt !== undefined) return;
  s.run.finishedAt = now;
  if (s.run.status === "running") s.run.status = "succeeded";
};

const skipReason = (s: RunState, from: number): ErrorInfo => ({
  tag: "Skipped",
  message: `upstream node ${from} (${s.graph[from]!.task}) ${s.nodes[from]!.state}`,
  retryable: false,
});

const runEndedReason = (s: RunState, from: number): ErrorInfo => ({
  tag: s.run.status === "cancelled" ? "Cancelled" : "Skipped",
  message: `run ${s.run.status} before this node could start (last upstream: node ${from})`,
  retryable: false,
});
