/**
 * Node and run events (docs/events.md): every node transition and every run
 * end, appended by the store in the same atomic step as the transition to a
 * bounded stream (on Redis, one stream per shard, trimmed with
 * `XADD ... MAXLEN ~`). `weft watch`, `client.events()` and `run.watch()`
 * read them. Events are small: ids, a kind, a time, and the few fields the
 * kind needs (never inputs or results: read those with `client.get`).
 */
import type { Progress, RunStatus } from "./Machine.ts";

/** The kinds of a node's state transitions, named after the state the node entered. */
export const NODE_TRANSITION_KINDS = [
  "queued",
  "started",
  "retrying",
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
  "expired",
] as const;

/** A node state transition's kind. */
export type NodeTransitionKind = (typeof NODE_TRANSITION_KINDS)[number];

/** Every event kind. */
export const EVENT_KINDS = [
  ...NODE_TRANSITION_KINDS,
  "progress",
  "lease-expired",
  "added",
  "run",
  "run-ended",
] as const;

/** An event's kind. */
export type EventKind = (typeof EVENT_KINDS)[number];

/** What every event carries. */
interface EventBase {
  /**
   * The event's cursor: pass it as `after` to read the events that follow
   * it (opaque; on Redis with several shards it names a position in each).
   */
  readonly id: string;
  readonly runId: string;
  /** When it happened, epoch ms (the clock reading of the call that made it). */
  readonly at: number;
}

/**
 * A node entered a state: `queued` (ready in its queue: made ready, put back
 * by a worker stopping, or parked for a worker that has its task),
 * `started` (an attempt began under a new lease), `retrying` (an attempt
 * failed and another is scheduled), `succeeded`, `failed` (for good),
 * `skipped`, `cancelled`, `expired` (not started by its deadline).
 * `attempt` is the node's attempt count at that moment (1 for the first
 * attempt once started, 0 before). `errorTag` (a tag of `ErrorTag`, or a
 * handler's own) is set on `failed`, `retrying` and `expired` (`Expired`).
 */
export interface NodeTransitionEvent extends EventBase {
  readonly kind: NodeTransitionKind;
  readonly nodeId: number;
  readonly task: string;
  readonly attempt: number;
  readonly errorTag?: string;
}

/** A running node reported progress (`ctx.progress`). */
export interface NodeProgressEvent extends EventBase {
  readonly kind: "progress";
  readonly nodeId: number;
  readonly progress: Progress;
}

/**
 * A running node's lease expired (its worker died or stopped
 * heartbeating): the node is back in its queue, and a stall is counted
 * when it starts again.
 */
export interface LeaseExpiredEvent extends EventBase {
  readonly kind: "lease-expired";
  readonly nodeId: number;
}

/**
 * Nodes were added to a running DAG (dynamic nodes). Reserved: the engine
 * adds no nodes at run time yet, so no store emits it today.
 */
export interface NodesAddedEvent extends EventBase {
  readonly kind: "added";
  readonly nodeIds: ReadonlyArray<number>;
}

/**
 * The run's status changed: `run` when it failed or was cancelled (nodes
 * that were running may still finish), `run-ended` when every node has
 * ended (its final status; a succeeded run has only this one). Every run
 * ends with exactly one `run-ended`.
 */
export interface RunEvent extends EventBase {
  readonly kind: "run" | "run-ended";
  readonly status: RunStatus;
}

/** One event of the stream. Narrow on `kind`. */
export type WeftEvent =
  | NodeTransitionEvent
  | NodeProgressEvent
  | LeaseExpiredEvent
  | NodesAddedEvent
  | RunEvent;

/** What {@link Store.readEvents} reads. */
export interface ReadEventsOptions {
  /**
   * A cursor (an event's `id`, or a batch's `cursor`): read the events after
   * it. Omitted: from the oldest event the stream still keeps. `"now"`: only
   * events appended after the call.
   */
  readonly after?: string;
  /** Only this run's events (on Redis, only its shard's stream is read). */
  readonly runId?: string;
  /**
   * When no event is there yet, wait up to this long (ms of real time, or of
   * the in-memory store's clock) for one. Default 0: answer at once.
   */
  readonly blockMs?: number;
  /** At most this many events. Default 1 000. */
  readonly count?: number;
}

/** A batch of events and the cursor to read on from (the last event's id, or where the read ended). */
export interface EventBatch {
  readonly events: ReadonlyArray<WeftEvent>;
  readonly cursor: string;
}

/** True for the event that ends a run's stream of events (`run-ended`). */
export const endsRun = (e: WeftEvent): e is RunEvent => e.kind === "run-ended";
