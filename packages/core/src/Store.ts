/**
 * The storage contract (docs/lifecycle.md): what a store must do for the worker
 * and client runtimes. Stores are the in-memory store (`@weft/testing`) and
 * the Redis store (`@weft/redis`); both pass one conformance suite. Every
 * method takes the caller's clock reading `now` (epoch ms) so a simulation
 * can drive time.
 *
 * Values (inputs, results) cross this interface as msgpack bytes (see `Codec`).
 */
import type { Dag, DagNode, Shape } from "./Dag.ts";
import { described } from "./Described.ts";
import {
  DuplicateRun,
  type ErrorInfo,
  IdempotencyConflict,
  InvalidStore,
  InvalidWorkerOptions,
  type Settled,
  StoreUnavailable,
  SubmitInterrupted,
} from "./Errors.ts";
import type { EventBatch, ReadEventsOptions } from "./Events.ts";
import type { NodeRecord, Progress, RedriveRefusal, RunRecord, RunStatus } from "./Machine.ts";

/**
 * What a submission does with an idempotency key whose run ended `failed` or
 * `cancelled` (Temporal's workflow-id reuse policy):
 * - `"return-existing"` (default): return that run, whatever its status;
 * - `"allow-if-failed"` (Temporal's ALLOW_DUPLICATE_FAILED_ONLY): start a new
 *   run and move the key to it; a key whose run is pending, running or
 *   succeeded still returns that run.
 */
export type IdempotencyReuse = "return-existing" | "allow-if-failed";

/**
 * A run to write.
 *
 * Submitting is exactly-once as the caller sees it: repeating the very same
 * call (same `nonce`, e.g. a command re-sent after a reconnect) returns what
 * the first one did; another call with the same `runId` and the same
 * `fingerprint` gets that run back (`existing: true`); another fingerprint
 * is a `DuplicateRun`.
 */
export interface Submission {
  readonly runId: string;
  readonly dag: Dag;
  /** Encoded spec of every node is derived by the store from `dag`. */
  readonly tags: ReadonlyArray<string>;
  /**
   * With a key, a second submission within `idempotencyWindowMs` returns the
   * first run while that run exists (a key never outlives its run). The same
   * key with another fingerprint is an `IdempotencyConflict`.
   */
  readonly idempotencyKey?: string;
  readonly idempotencyWindowMs: number;
  /** What a key whose run failed or was cancelled does. Default `"return-existing"`. */
  readonly idempotencyReuse?: IdempotencyReuse;
  /** How long a finished run is kept, ms. */
  readonly retentionMs: number;
  /**
   * No node of the run starts before this time, epoch ms: its roots wait in
   * their queues' delayed sets (server-side) until then.
   */
  readonly notBefore?: number;
  /** A node of the run not started by this time, epoch ms, ends `expired` (see `expireNode`). */
  readonly expiresAt?: number;
  readonly now: number;
  /**
   * The run's headers (`SubmitOptions.headers`), msgpack-encoded by the
   * client, at most `MAX_HEADERS_BYTES`; the store keeps them with the run
   * and hands them back, unread, with every claim of its nodes.
   */
  readonly headers?: Uint8Array;
  /**
   * `fingerprint(dag)` (see `Fingerprint`); computed by the store when
   * absent. `""`: none, for a run whose id was just made at random and that
   * has no idempotency key, so that no other submission can meet it (the
   * client's default). The store keeps none, and a run id met again without
   * a fingerprint on either side is a `DuplicateRun`, never `existing`.
   */
  readonly fingerprint?: string;
  /**
   * A random id of this call: a store that finds its own nonce on the run
   * knows the call is being repeated (re-sent) and changes nothing. A new
   * random one per call when absent. `""`: the run id, made at random for
   * this call, names it (the client's default when it makes the id): a
   * store may keep no nonce for it, so the same id met again with `""` is
   * this call re-sent.
   */
  readonly nonce?: string;
}

/** What a submission answers: the run it names. */
export interface SubmitResult {
  readonly runId: string;
  /**
   * True when an earlier submission's run is returned instead: the
   * idempotency key named it, or the run id exists with the same fingerprint.
   */
  readonly existing: boolean;
}

/**
 * What {@link Store.submitMany} answers for one submission: its
 * {@link SubmitResult}, or the error `submit` would have raised for it
 * alone (the other submissions of the call are not affected).
 */
export type SubmitManyResult =
  | ({ readonly ok: true } & SubmitResult)
  | { readonly ok: false; readonly error: SubmitRefusal };

/** The errors of one submission that leave the others of a {@link Store.submitMany} call written. */
export type SubmitRefusal = DuplicateRun | IdempotencyConflict | SubmitInterrupted;

/**
 * `submit`'s outcome as an entry of {@link Store.submitMany}'s answer: a
 * {@link SubmitRefusal} becomes `{ ok: false, error }`; any other error
 * (the store cannot serve) is raised.
 */
export const settleSubmit = async (submitted: Promise<SubmitResult>): Promise<SubmitManyResult> => {
  try {
    const r = await submitted;
    return { ok: true, runId: r.runId, existing: r.existing };
  } catch (error) {
    if (
      error instanceof DuplicateRun ||
      error instanceof IdempotencyConflict ||
      error instanceof SubmitInterrupted
    )
      return { ok: false, error };
    throw error;
  }
};

/** How {@link Store.waitForRun} waits. */
export interface WaitForRunOptions {
  /**
   * Wait until the run is quiet: ended and every node ended (`finishedAt`
   * set), so a failed or cancelled run's nodes still in flight have settled.
   * Default false: resolve as soon as the status is final.
   */
  readonly quiet?: boolean;
}

/** A dependency's result as a claim hands it to the dependent node: its recorded bytes, or why it has none. */
export type DepResult = Settled<Uint8Array>;

/** A node delivered to a worker under a lease. */
export interface Claim {
  readonly runId: string;
  readonly nodeId: number;
  /** Fencing token of this attempt's lease: grows with every acquisition. */
  readonly token: number;
  /** 1-based attempt number, as persisted (stalled attempts included). */
  readonly attempt: number;
  /** Lease expiries so far; `attempt - stalls` attempts have run to a reported end or are this one. */
  readonly stalls: number;
  readonly spec: DagNode;
  /** Results of `spec.deps`, in the same order (a failed dependency reaches a settled group only). */
  readonly deps: ReadonlyArray<DepResult>;
  /**
   * The trace span ids (16 hex digits) that the dependencies' succeeded
   * attempts recorded with their results (`CompleteOptions.span`), in the
   * order of `deps`, `""` for one that recorded none. Absent when none did
   * (tracing off): tracing links the attempt's span to them exactly.
   */
  readonly depSpans?: ReadonlyArray<string>;
  /** The run's queues (a store may need them to route dependents). */
  readonly runQueues: ReadonlyArray<string>;
  /** The run's headers as submitted ({@link Submission.headers}); absent when it has none. */
  readonly headers?: Uint8Array;
  /** Lease expiry, epoch ms. */
  readonly leaseUntil: number;
}

/** What a worker asks for. */
export interface ClaimRequest {
  readonly workerId: string;
  readonly queues: ReadonlyArray<string>;
  /**
   * Tasks this worker has handlers for. Ready nodes are handed out whatever
   * their task; a parked node (see {@link Store.park}) is handed only to a
   * claim that names its task, in the same priority-then-arrival order as
   * ready nodes. Omitted: no parked node is handed out.
   */
  readonly tasks?: ReadonlyArray<string>;
  readonly max: number;
  readonly leaseMs: number;
  readonly now: number;
  /**
   * Identifies this claim call. A claim with the same `workerId` and
   * `requestId` as that worker's last one (a command re-sent after a
   * reconnect, or a call the worker retries after an error) returns the
   * nodes the first one leased, those whose lease it still holds, instead
   * of leasing more: no lease is orphaned. The store keeps a worker's last
   * request for `leaseMs`. Omitted: every call leases new nodes.
   */
  readonly requestId?: string;
  /**
   * Rate limits by queue name (BullMQ's global limiter): across every
   * worker and process sharing the store, at most `limit` nodes of that
   * queue are claimed in any window of `intervalMs` (measured on the
   * claims' `now`). A limited node waits in its queue (not failed), and
   * {@link Store.nextDueAt} answers when the limit frees, so the worker
   * sleeps until then instead of polling. Give every worker of a queue
   * the same limit.
   */
  readonly rateLimits?: Readonly<Record<string, RateLimit>>;
}

/** A rate limit: at most `limit` claims in any window of `intervalMs` ms. */
export interface RateLimit {
  /** Claims allowed per window, an integer >= 1. */
  readonly limit: number;
  /** The window's length, ms (an integer >= 1). */
  readonly intervalMs: number;
}

/**
 * The longest a node refused by its concurrency key (`options.concurrency`)
 * waits before it is tried again, ms: it is due at the earlier of this and
 * the first held slot's lease expiry (docs/schedules.md, "Concurrency keys").
 */
export const CONCURRENCY_RETRY_MS = 250;

/**
 * The queues of a claim request that have a rate limit, in request order
 * (empty when none has).
 *
 * @throws InvalidWorkerOptions when a limit is not two positive integers.
 */
export const limitedQueues = (req: ClaimRequest): ReadonlyArray<string> => {
  const limits = req.rateLimits;
  if (limits === undefined) return [];
  return req.queues.filter((q) => {
    const l = limits[q];
    if (l === undefined) return false;
    if (
      !Number.isSafeInteger(l.limit) ||
      l.limit < 1 ||
      !Number.isSafeInteger(l.intervalMs) ||
      l.intervalMs < 1
    ) {
      throw new InvalidWorkerOptions({
        reason: `rateLimits.${q} must be { limit, intervalMs } with two integers >= 1, got ${JSON.stringify(l)}`,
      });
    }
    return true;
  });
};

/**
 * Whether `s` is a trace span id a store keeps (`CompleteOptions.span`): 16
 * lower-case hex digits, not all zero (OpenTelemetry's invalid span id).
 */
export const isSpanId = (s: unknown): s is string =>
  typeof s === "string" && /^[0-9a-f]{16}$/.test(s) && s !== "0000000000000000";

/** How a completion is recorded and what the worker takes next. */
export interface CompleteOptions {
  readonly now: number;
  readonly workerId: string;
  /** Queues the worker serves: the next nodes it may be handed. */
  readonly queues: ReadonlyArray<string>;
  /** Ready dependents to lease to this worker in the same call (0 = none). */
  readonly nextMax: number;
  readonly leaseMs: number;
  /**
   * The span id (16 hex digits) of the attempt's trace span, kept with the
   * result (on Redis a field of the same `HSET`) and handed to dependents in
   * `Claim.depSpans`. Given only while tracing; absent, or not a span id
   * (`isSpanId`), nothing is kept.
   */
  readonly span?: string;
}

/** One completion of {@link Store.completeMany}: a claim, its result bytes, and how many dependents to lease back. */
export interface CompleteItem {
  readonly claim: Claim;
  readonly result: Uint8Array;
  /** Ready dependents to lease to the worker with this completion (0 = none). */
  readonly nextMax: number;
  /** The attempt's trace span id, as {@link CompleteOptions.span}. */
  readonly span?: string;
}

/** How a failed attempt is recorded. */
export interface FailOptions {
  readonly now: number;
  /** When to run the next attempt (epoch ms), or `null` to fail the node for good. */
  readonly retryAt: number | null;
}

/**
 * What a report (`complete` / `fail`) answers. `replayed` is true when this
 * very report (same claim and token) had already been recorded (a command
 * re-sent after a reconnect): nothing changed and `next` is what the first
 * call handed out.
 * `reason` is `"stale"` when the lease was lost, `"cancelled"` when the run
 * was cancelled (the node ends `cancelled`; no result is recorded).
 */
export type ReportResult =
  | { readonly ok: true; readonly next: ReadonlyArray<Claim>; readonly replayed?: boolean }
  | { readonly ok: false; readonly reason: "stale" | "cancelled" };

/** A lease's state after a heartbeat. */
export type LeaseState = "held" | "lost" | "cancelled";

/** What `maintain` did. */
export interface MaintainReport {
  /** Retrying nodes whose backoff ended, moved to their ready queue. */
  readonly promoted: number;
  /** Nodes whose lease expired, put back in their ready queue. */
  readonly redelivered: number;
  /** Queued or retrying nodes past their `expiresAt` that nobody claimed, ended `expired`. */
  readonly expired: number;
}

/** A worker as it registers itself (`weft workers`; inspect's "no live worker handles this task"). */
export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly queues: ReadonlyArray<string>;
  /** Names of the tasks it has handlers for. */
  readonly tasks: ReadonlyArray<string>;
  readonly concurrency: number;
  /** Epoch ms. */
  readonly startedAt: number;
  /**
   * Attempts this worker finished per queue (by queue name) in the
   * `THROUGHPUT_WINDOW_MS` (60 s) before this registration, as counted by
   * the worker itself and published with each heartbeat (docs/dashboard.md,
   * "Throughput"). Absent from a worker that does not count.
   */
  readonly finished?: Readonly<Record<string, FinishedCounts>>;
}

/** Attempts finished: reported succeeded (a result or a replacement recorded), and reported failed (retried or not). */
export interface FinishedCounts {
  readonly succeeded: number;
  readonly failed: number;
}

/** A registered worker and when it was last seen. */
export interface WorkerPresence extends WorkerInfo {
  /** Epoch ms of its last registration (heartbeat). */
  readonly lastSeenAt: number;
  /** True while its last registration has not expired. */
  readonly alive: boolean;
}

/**
 * A request to take or extend a lock (see `Locks`): the lock's name, the
 * owner asking (one attempt: worker, run, node and fencing token), the
 * expiry in ms and the caller's clock reading (epoch ms).
 */
export interface LockRequest {
  readonly name: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly now: number;
}

/** A request to extend a held lock: a {@link LockRequest} with the fencing token it was taken with. */
export type LockRenewal = LockRequest & { readonly token: number };

/** A request to unlock a held lock: its name, its owner and the fencing token it was taken with. */
export interface LockRelease {
  readonly name: string;
  readonly owner: string;
  readonly token: number;
}

/** A memo to look up: task `task`'s result under result key `key`, unexpired at `now` (epoch ms). */
export interface MemoRequest {
  readonly task: string;
  readonly key: string;
  readonly now: number;
}

/** A memo to record: `result` (bytes) under its task and result key, kept `ttlMs` from `now`. */
export interface Memo extends MemoRequest {
  readonly result: Uint8Array;
  readonly ttlMs: number;
}

/** A signal the store pushes as soon as it happens (not polled). */
export type StoreSignal = { readonly kind: "cancelled"; readonly runId: string };

/**
 * A run with every node, for inspection. A record that cannot be decoded
 * never makes the read throw: a corrupt node shows `failed` with a
 * `CorruptRecord` error (and a placeholder spec when the spec is the corrupt
 * part), a corrupt run record shows status `failed`, and a corrupt attempt
 * history shows as one entry (attempt 0, `failed`) whose error is a
 * `CorruptRecord` (the node's own state is kept).
 */
export interface RunSnapshot {
  readonly run: RunRecord & {
    readonly tags: ReadonlyArray<string>;
    readonly queues: ReadonlyArray<string>;
  };
  /** Every node, in id order (`nodes[i].id === i`). */
  readonly nodes: ReadonlyArray<
    NodeRecord & { readonly id: number; readonly spec: DagNode; readonly progress?: Progress }
  >;
  /** The run's output shape as stored at submit (absent for runs written before it was stored). */
  readonly output?: Shape;
}

/** A run's output as {@link Store.getOutput} reads it. */
export interface RunOutput {
  /** The output shape stored at submit; absent for a run written before it was stored. */
  readonly output?: Shape;
  /** The nodes `output` names, in its order (each once), with their result bytes when they have one. */
  readonly nodes: ReadonlyArray<RunSnapshot["nodes"][number] & { readonly result?: Uint8Array }>;
}

/** What {@link Store.listRuns} lists: the most recent runs, filtered. */
export interface ListRunsOptions {
  /** At most this many runs. */
  readonly limit: number;
  /** Only runs with this status. */
  readonly status?: RunStatus;
  /** Only runs whose first node (node 0, the canvas's first declared task) runs this task. */
  readonly task?: string;
  /** Only runs with this tag. */
  readonly tag?: string;
}

/** A run as {@link Store.listRuns} lists it: its record, tags, queues and first task. */
export type RunListing = RunRecord & {
  readonly tags: ReadonlyArray<string>;
  readonly queues: ReadonlyArray<string>;
  /** The task of node 0 (the canvas's first declared task); `""` when its record cannot be read. */
  readonly task: string;
};

/** One queue's nodes as {@link Store.queueStats} counts them, over every shard. */
export interface QueueStats {
  readonly queue: string;
  /** Nodes ready to be claimed. */
  readonly ready: number;
  /** Retrying nodes waiting for their backoff to end. */
  readonly delayed: number;
  /** Nodes leased to a worker (running, or held by a worker that died until its lease expires). */
  readonly leased: number;
  /** Queued nodes a worker handed back for want of a handler: they wait for a worker with their task. */
  readonly parked: number;
  /** The tasks of the parked nodes and how many of each (at most 1 000 parked nodes looked at per shard). */
  readonly parkedTasks: ReadonlyArray<{ readonly task: string; readonly count: number }>;
  /** Whether the queue is paused ({@link Store.pauseQueue}): no claim takes its nodes. */
  readonly paused: boolean;
}

/**
 * A running node's lease as {@link Store.leaseExpiries} looks it up: the
 * node, its queue and the fencing token of its attempt (all in its
 * {@link NodeSnapshot}: `spec.queue`, `token`).
 */
export interface LeaseRef {
  readonly runId: string;
  readonly nodeId: number;
  readonly queue: string;
  readonly token: number;
}

/** A lock as {@link Store.listLocks} shows it. */
export interface LockInfo {
  readonly name: string;
  /** Who took it: one attempt (`worker/run/node/token`), see `Locks`. */
  readonly owner: string;
  /** Its fencing token. */
  readonly token: number;
  /** When it expires unless renewed, epoch ms (in the past: expired, not yet removed). */
  readonly expiresAt: number;
}

/**
 * How {@link Store.redrive} re-drives a run: at `now` (epoch ms), and with
 * `edit`, node `edit.node` runs again with spec `edit.spec` instead of its
 * own (the client builds it: same task and dependencies, an edited input).
 */
export interface RedriveOptions {
  readonly now: number;
  readonly edit?: { readonly node: number; readonly spec: DagNode };
}

/**
 * What {@link Store.redrive} answers: the run is running again, with
 * `queued` nodes queued; or why not: no such run (`not-found`), it has not
 * ended (`not-ended`), a node of it is still running (`not-quiet`), it
 * succeeded (`succeeded`), or `edit.node` is not a node of the run that
 * will run again (`bad-node`: out of range or succeeded). A refused
 * re-drive changes nothing.
 */
export type RedriveResult =
  | { readonly ok: true; readonly queued: number }
  | { readonly ok: false; readonly reason: RedriveRefusal | "not-found" | "bad-node" };

/** The storage contract. */
export interface Store {
  /** Human-readable name (`memory`, `redis://host:port`). */
  readonly name: string;
  /**
   * Writes a run atomically (docs/guarantees.md #1) and makes its roots ready.
   *
   * @throws DuplicateRun when `runId` exists with another fingerprint.
   * @throws IdempotencyConflict when the key names a live run with another fingerprint.
   */
  submit(sub: Submission): Promise<SubmitResult>;
  /**
   * Writes many runs, each exactly as {@link Store.submit} writes it (its
   * own atomic write, idempotency key, fingerprint and nonce; a re-sent
   * call changes nothing), and answers one entry per submission, in order:
   * a refused submission (`DuplicateRun`, `IdempotencyConflict`,
   * `SubmitInterrupted`) is an `{ ok: false, error }` entry and the others
   * are written all the same. An empty array answers `[]`. A store may
   * write several small runs per round trip (BullMQ's `addBulk`).
   *
   * @throws StoreUnavailable when the store cannot serve: some runs may be
   *   written then; sending the same submissions again (same run ids and
   *   nonces) writes each at most once.
   */
  submitMany(subs: ReadonlyArray<Submission>): Promise<ReadonlyArray<SubmitManyResult>>;
  /**
   * Leases up to `max` ready nodes from `queues`, highest priority first,
   * then arrival (parked nodes of `req.tasks` included). Retries whose
   * backoff has ended on those queues are made ready first (a bounded
   * number per call), so a due retry needs no maintenance tick.
   */
  claim(req: ClaimRequest): Promise<ReadonlyArray<Claim>>;
  /**
   * Records a node's result if `claim.token` still holds its lease
   * (docs/guarantees.md #2) and makes dependents ready; with `nextMax > 0`, leases
   * up to that many of them (on `queues`) to the same worker in the same call.
   */
  complete(claim: Claim, result: Uint8Array, opts: CompleteOptions): Promise<ReportResult>;
  /**
   * Completes many nodes, each exactly as {@link Store.complete} with its own
   * `nextMax` and `span` and the shared `opts`, in the order given, and answers one
   * report per item in that order. A store may send them in fewer round
   * trips (Redis: one script call per shard); optional: a store without it is
   * called once per item. A worker sends together the completions that
   * finished while its previous report was in flight.
   */
  completeMany?(
    items: ReadonlyArray<CompleteItem>,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): Promise<ReadonlyArray<ReportResult>>;
  /**
   * Replaces a running node with a compiled canvas (its handler returned
   * `replace(canvas)`; core's `replaceNode`) if `claim.token` still holds
   * its lease: the canvas's nodes are appended to the run atomically (ids
   * from the run's node count on, marked `addedBy`), an `added` event names
   * them, their roots become ready, and the node waits for their output.
   * Answers like {@link Store.complete} (`next` is empty); re-sent, it
   * changes nothing and answers `replayed`.
   */
  replace(claim: Claim, dag: Dag, opts: CompleteOptions): Promise<ReportResult>;
  /**
   * A running chord header member adds a member to its chord (core's
   * `addToChord`, Celery's `add_to_chord`) if `claim.token` still holds its
   * lease: the compiled canvas's nodes are appended atomically as by
   * {@link Store.replace}, and each chord body waits for them too. Answers
   * `"added"`, or `"lost"` / `"cancelled"` (the lease is gone, the run
   * cancelled) or `"ended"` (the run failed), adding nothing.
   *
   * @throws InvalidCanvas when the node is not a chord header member.
   */
  addToChord(
    claim: Claim,
    dag: Dag,
    opts: { readonly now: number },
  ): Promise<"added" | "lost" | "cancelled" | "ended">;
  /** Records a failed attempt: `retryAt` schedules a retry, `null` fails the node for good. */
  fail(claim: Claim, error: ErrorInfo, opts: FailOptions): Promise<ReportResult>;
  /**
   * Extends leases; reports for each claim whether it is still held, lost, or
   * its run was cancelled. `"lost"` means the store answered that the claim's
   * token no longer holds the lease (it expired and the node was
   * re-delivered): a store that cannot be reached answers nothing.
   *
   * @throws StoreUnavailable when the store cannot be reached (a connection
   *   lost or timed out): whether the leases were extended is unknown, and
   *   they still hold until they expire. The worker keeps its handlers
   *   running and heartbeats again on its next tick.
   */
  heartbeat(
    claims: ReadonlyArray<Claim>,
    opts: { readonly now: number; readonly leaseMs: number },
  ): Promise<ReadonlyArray<LeaseState>>;
  /** Puts back a claim a worker will not run (graceful shutdown): the node is ready again at once, no stall counted. */
  release(claim: Claim, opts: { readonly now: number }): Promise<void>;
  /**
   * Puts back a claimed node whose task this worker has no handler for: the
   * node is `queued` again, the attempt is not counted and leaves no
   * history entry (its worker and start time are cleared), and the node is
   * handed only to claims whose {@link ClaimRequest.tasks} include its task
   * (it waits for one). Cancelling the run removes it. Does nothing when
   * `claim.token` no longer holds the lease (a re-sent park is harmless).
   */
  park(claim: Claim, opts: { readonly now: number }): Promise<void>;
  /**
   * Records a running node's progress; answers whether its lease is still
   * held, lost, or its run cancelled.
   *
   * @throws InvalidProgress, recording nothing, when `progress` is not
   *   progress (see `checkProgress`); checked before anything is read.
   */
  progress(claim: Claim, progress: Progress): Promise<LeaseState>;
  /**
   * Promotes due retries and delayed nodes and re-delivers expired leases
   * on `queues`, and ends `expired` the queued or retrying nodes of `queues`
   * past their `expiresAt`, in bounded batches; also prunes bounded batches of bookkeeping (the index
   * of runs that expired, worker registrations dead for a day).
   */
  maintain(opts: {
    readonly now: number;
    readonly queues: ReadonlyArray<string>;
  }): Promise<MaintainReport>;
  /**
   * Earliest time (epoch ms) a delayed node (a retry, or a node held by
   * `delayMs`) on `queues` becomes due, or a rate limit that held back this
   * process's last claim of one of `queues` frees, if any.
   */
  nextDueAt(queues: ReadonlyArray<string>): Promise<number | undefined>;
  /**
   * Calls `listener` as soon as a signal happens (a run cancelled), from any
   * process sharing the store; resolves with a function that unsubscribes.
   * Delivery is best effort: heartbeats remain the fallback.
   */
  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>>;
  /** Registers (or refreshes) a worker until `now + ttlMs`. */
  registerWorker(
    info: WorkerInfo,
    opts: { readonly now: number; readonly ttlMs: number },
  ): Promise<void>;
  /** Removes a worker's registration (it stopped). */
  unregisterWorker(workerId: string): Promise<void>;
  /** Registered workers, alive ones and dead ones not yet pruned (maintenance prunes those dead for a day). */
  listWorkers(opts: { readonly now: number }): Promise<ReadonlyArray<WorkerPresence>>;
  /**
   * Cancels a run; returns false when it had already ended or does not
   * exist. A cancel re-sent after a reconnect (the same call) answers what
   * the first send did.
   */
  cancel(runId: string, opts: { readonly now: number }): Promise<boolean>;
  /**
   * Re-drives a run that ended `failed` or `cancelled` and is quiet (see
   * `redriveRun` in the state machine): succeeded nodes keep their results,
   * every node keeps its attempt history, and the others run again (attempt
   * numbers go on from the last one). The run's keys stop expiring until it
   * ends again. Refused, changing nothing, as {@link RedriveResult} says.
   */
  redrive(runId: string, opts: RedriveOptions): Promise<RedriveResult>;
  /** The run with every node, or `undefined`. */
  getRun(runId: string): Promise<RunSnapshot | undefined>;
  /** One node's recorded result bytes, or `undefined`. */
  getResult(runId: string, nodeId: number): Promise<Uint8Array | undefined>;
  /**
   * What `result()` reads of a run: its output shape as stored at submit and
   * the nodes that shape names (`flatten(output, false)`), each with its
   * record, spec, error and result bytes, but no progress, history or
   * worker (a store may leave the worker out); the
   * run's other nodes are not read (a 10,000-wide chord's output is its
   * body: one node). `undefined` when the run does not exist; no `output`
   * (and no nodes) for a run written before the shape was stored. `expect`:
   * the node ids the caller expects the shape to name (those of the canvas it
   * submitted), which a store may read together with the shape. Optional:
   * without it, `result()` reads {@link Store.getRun} and
   * {@link Store.getResult}.
   */
  getOutput?(runId: string, expect?: ReadonlyArray<number>): Promise<RunOutput | undefined>;
  /**
   * Recent runs, newest first, those that match every filter given (a store
   * may look at only a bounded number of recent runs per shard to find them,
   * 10 000 on Redis).
   */
  listRuns(opts: ListRunsOptions): Promise<ReadonlyArray<RunListing>>;
  /** Node counts of each of `queues` (ready, delayed, leased, parked) and whether it is paused, in the order given. */
  queueStats(queues: ReadonlyArray<string>): Promise<ReadonlyArray<QueueStats>>;
  /**
   * Pauses `queue` (Celery's `cancel_consumer`, BullMQ's `queue.pause()`,
   * for every worker at once): from now on no claim leases its nodes, and
   * no completion hands one of them to its worker. Its nodes wait where
   * they are, queued or retrying (due retries are still made ready), none
   * failed; nodes already leased run on. Pausing a paused queue does
   * nothing; the pause lasts until {@link Store.resumeQueue}.
   */
  pauseQueue(queue: string): Promise<void>;
  /**
   * Resumes a paused `queue`: its nodes are claimed again, and workers
   * waiting for work on it are woken ({@link Store.waitForWork}). Resuming a
   * queue that is not paused does nothing.
   */
  resumeQueue(queue: string): Promise<void>;
  /** Every lock the store keeps (held ones, and expired ones not yet removed), by name. */
  listLocks(): Promise<ReadonlyArray<LockInfo>>;
  /**
   * When each lease of `leases` expires unless its worker heartbeats (epoch
   * ms; in the past: expired, not yet re-delivered), or `undefined` where
   * that token no longer holds the node's lease (the attempt ended, or the
   * node was re-delivered), in the order given. Reads only the leases
   * asked for (on Redis one `ZSCORE` each, pipelined per shard), so a
   * dashboard asks for one node, never for every node of a run.
   */
  leaseExpiries(leases: ReadonlyArray<LeaseRef>): Promise<ReadonlyArray<number | undefined>>;
  /**
   * Resolves with the run's record once its status is final (`succeeded`,
   * `failed`, `cancelled`) — with `quiet`, once every node has ended too —
   * or `undefined` after `timeoutMs` of real time.
   *
   * @throws RunNotFound at once when the run does not exist (never written,
   *   or expired after its retention), or when it disappears while waited on.
   */
  waitForRun(
    runId: string,
    timeoutMs: number,
    opts?: WaitForRunOptions,
  ): Promise<RunRecord | undefined>;
  /**
   * {@link Store.waitForRun} and, when the run succeeded, {@link Store.getOutput}
   * (with `opts.expect`) in one: what `result()` needs, in as few round trips
   * as the store can (on Redis the output is read with the run's last read).
   * Optional: without it, `result()` calls the two.
   *
   * @throws RunNotFound when the run does not exist.
   */
  waitForOutput?(
    runId: string,
    timeoutMs: number,
    opts?: WaitForRunOptions & { readonly expect?: ReadonlyArray<number> },
  ): Promise<{ readonly run: RunRecord; readonly output?: RunOutput } | undefined>;
  /**
   * Takes lock `req.name` for `req.owner` until `req.now + req.ttlMs` unless
   * another owner holds it unexpired (the same owner takes it again); returns
   * the lock's fencing token (it grows with every acquisition of that name),
   * or `undefined` when another owner holds it.
   */
  acquireLock(req: LockRequest): Promise<number | undefined>;
  /**
   * Extends a lock still held by `req.owner` with `req.token` to
   * `req.now + req.ttlMs`; false when it was lost (expired, or taken by
   * another owner).
   */
  renewLock(req: LockRenewal): Promise<boolean>;
  /** Unlocks a lock if `req.owner` with `req.token` still holds it; otherwise does nothing. */
  releaseLock(req: LockRelease): Promise<void>;
  /**
   * The memo of task `req.task` under result key `req.key` (the result an
   * earlier attempt recorded, see the task option `resultKey`), if recorded
   * and unexpired at `req.now`.
   */
  getMemo(req: MemoRequest): Promise<Uint8Array | undefined>;
  /** Records a memo: `memo.result` of its task under its result key, until `memo.now + memo.ttlMs`. */
  putMemo(memo: Memo): Promise<void>;
  /**
   * Resolves when new work may be ready on `queues` (a node was made ready or
   * parked, or a retry was scheduled), or after `timeoutMs` of real time,
   * whichever is first. A wake-up that happens while nobody waits is kept
   * for the next caller, so work made ready between a caller's `claim` and
   * its `waitForWork` is not missed.
   *
   * With `signal`, the wait ends when it aborts (at once when it is aborted
   * already; on Redis, a round trip later: its `BLPOP` is ended with
   * `CLIENT UNBLOCK`), and a wait ended by its signal takes no wake-up: one
   * it had already taken when the abort came is put back for the next
   * caller. A worker passes the signal its `stop()` aborts, so that a
   * stopped worker's wait takes no wake-up meant for another worker.
   * `signal` is optional for a store too: one that ignores it is still a
   * store, whose wait ends on a wake-up or after `timeoutMs` (and may,
   * aborted, take a wake-up no one is waiting for any more).
   */
  waitForWork(
    queues: ReadonlyArray<string>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void>;
  /**
   * Reads node and run events (docs/events.md) after `opts.after`, oldest
   * first, at most `opts.count`; with `opts.blockMs`, waits that long for
   * one when none is there yet. Every transition a store makes appends its
   * events in the same atomic step; the stream keeps about the last N
   * (trimmed), so a cursor older than what it keeps reads on from the oldest
   * event kept.
   *
   * @throws InvalidEventCursor when `opts.after` is not a cursor of this store.
   */
  readEvents(opts: ReadEventsOptions): Promise<EventBatch>;
  /**
   * Closes the store: its connections are closed (the Redis store); a
   * pending wait for work ends as timed out, a pending wait for a run
   * (`waitForRun`, `waitForOutput`) fails with `StoreUnavailable` (see
   * `closedWhileWaiting`). Call it once, last.
   */
  close(): Promise<void>;
}

/**
 * Refuses what is not a store, at once rather than at its first call:
 * `createClient`, `startWorker`, `startBeat` and `createDashboard` take the
 * store itself (what `await RedisStore.connect(url)` or `new MemoryStore()`
 * gives). A store is recognised by its `submit`, `claim` and `getRun` methods.
 *
 * @throws InvalidStore naming what `where` was given: a Promise
 *   (`RedisStore.connect` without `await`), an object's keys, or its type.
 */
export const checkStore = (value: unknown, where: string): void => {
  if (
    typeof value === "object" &&
    value !== null &&
    ["submit", "claim", "getRun"].every((m) => typeof Reflect.get(value, m) === "function")
  )
    return;
  const got =
    value instanceof Promise
      ? "a Promise (await RedisStore.connect(url) before passing its store)"
      : described(value);
  throw new InvalidStore({
    reason: `${where} takes a store (RedisStore, MemoryStore); it got ${got}`,
  });
};

/**
 * What a wait for a run (`waitForRun`, `waitForOutput`, and so `result()`)
 * fails with when its store is closed under it: the run may still end, but
 * this store will not see it. Both stores raise it, so that a closed store
 * is not mistaken for a run that took too long (`ResultTimeout`).
 */
export const closedWhileWaiting = (url: string, runId: string): StoreUnavailable =>
  new StoreUnavailable({
    url,
    reason: `store.close() was called while waiting for run ${runId}`,
    failure: "closed",
  });
