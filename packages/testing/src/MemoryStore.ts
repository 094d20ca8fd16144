/**
 * The in-memory store: the same semantics as the Redis store, built directly
 * on core's state machine. For users' unit tests (`runEager`), for
 * simulation, and as the model the Redis store is held to.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type Clock,
  DuplicateRun,
  type ErrorInfo,
  IdempotencyConflict,
  InvalidEventCursor,
  liveClock,
  type Progress,
  RunNotFound,
  type RunRecord,
  type RunSnapshot,
  type Schedule,
  type ScheduleRecord,
  type ScheduleState,
  type Store,
  TERMINAL_RUN_STATUSES,
  type WeftEvent,
  WeftStore,
} from "@weft/core";
import {
  addToChord,
  type Claim,
  type ClaimRequest,
  CONCURRENCY_RETRY_MS,
  type CompleteItem,
  type CompleteOptions,
  cancelRun,
  checkProgress,
  closedWhileWaiting,
  commitRun,
  completeNode,
  corruptRecordInfo,
  createRun,
  type Dag,
  type DagNode,
  type DepResult,
  type EventBatch,
  expireNode,
  type FailOptions,
  failNode,
  fingerprint,
  holdNode,
  isSpanId,
  type LeaseRef,
  type LeaseState,
  type ListRunsOptions,
  type LockInfo,
  type LockRelease,
  type LockRenewal,
  type LockRequest,
  limitedQueues,
  type MaintainReport,
  type Memo,
  type MemoRequest,
  maxStallsOf,
  missingResultInfo,
  notInChord,
  parkNode,
  type QueueStats,
  type ReadEventsOptions,
  type RedriveOptions,
  type RedriveResult,
  type ReportResult,
  type RunListing,
  type RunState,
  readNode,
  redriveRun,
  releaseNode,
  replaceNode,
  type ScheduleStore,
  type Shape,
  type StoreSignal,
  type Submission,
  type SubmitManyResult,
  type SubmitResult,
  settleSubmit,
  startNode,
  type WaitForRunOptions,
  type WorkerInfo,
  type WorkerPresence,
  waitsOn,
} from "@weft/core/store";
import { Effect, type Layer } from "effect";

interface Ready {
  readonly runId: string;
  readonly nodeId: number;
  readonly priority: number;
  readonly seq: number;
}

/** A parked node: handed only to claims naming its task. */
interface Parked extends Ready {
  readonly task: string;
}

interface Lease {
  readonly token: number;
  until: number;
  readonly queue: string;
}

interface StoredRun {
  readonly state: RunState;
  readonly tags: ReadonlyArray<string>;
  /** The run's queues: those of its plan, then those its dynamic nodes brought. */
  queues: ReadonlyArray<string>;
  readonly results: Map<number, Uint8Array>;
  /** The trace span id each succeeded node's attempt recorded with its result (`CompleteOptions.span`). */
  readonly spans: Map<number, string>;
  readonly progress: Map<number, Progress>;
  readonly retentionMs: number;
  readonly fingerprint: string;
  /** Nonce of the submission that wrote the run: a repeat of that call is a re-send. */
  readonly nonce: string;
  readonly output: Shape;
  /** The run's headers as submitted, handed back with every claim. */
  readonly headers?: Uint8Array;
  /** The (node, token) pairs each completion leased to its worker, replayed by a repeated completion. */
  readonly handed: Map<number, ReadonlyArray<readonly [number, number]>>;
}

/** Why a node planted by {@link MemoryStore.corruptNodeRecord} reads as garbage. */
const PLANTED = "planted by the corruptNodeRecord test hook";

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /** Clock for `waitForRun` / `waitForWork` timeouts. Default the live clock; the simulator passes a virtual one. */
  readonly clock?: Clock;
  /** Ready nodes and expired leases handled per `maintain` call, and due retries promoted per `claim`. Default 1 000. */
  readonly batch?: number;
  /** About how many events the store keeps (docs/events.md); older ones are dropped. Default 10 000. */
  readonly eventsMaxLen?: number;
}

/** How long a dead worker's registration is kept before `maintain` prunes it, ms. */
const DEAD_WORKER_KEPT_MS = 86_400_000;

/**
 * An in-memory {@link Store}. State lives in this object only; `structuredClone`
 * snapshots keep callers from aliasing it.
 */
export class MemoryStore implements Store, ScheduleStore {
  readonly name = "memory";
  private readonly runs = new Map<string, StoredRun>();
  private readonly schedules = new Map<string, ScheduleRecord>();
  /** Each rate-limited queue's claim times within its window (a sliding log). */
  private readonly limiters = new Map<string, number[]>();
  /** The same for each rate-limited task (`options.rateLimit`), by task name. */
  private readonly taskLimiters = new Map<string, number[]>();
  /** The held slots of each concurrency key, by node key: the attempt's fencing token and the slot's expiry (epoch ms). */
  private readonly concurrency = new Map<string, Map<string, { token: number; until: number }>>();
  /** When the rate limit that held back a queue's last claim frees (epoch ms). */
  private readonly limitedUntil = new Map<string, number>();
  private readonly ready = new Map<string, Ready[]>();
  /** Paused queues (`pauseQueue`): no claim or completion leases their nodes. */
  private readonly paused = new Set<string>();
  private readonly parked = new Map<string, Parked[]>();
  /** Queues with a wake-up nobody has taken yet (the Redis store's wake lists). */
  private readonly wakeups = new Set<string>();
  /** Each worker's last claim request and the claims it returned. */
  private readonly lastClaim = new Map<
    string,
    { readonly requestId: string; readonly until: number; readonly claims: Claim[] }
  >();
  private readonly delayed = new Map<
    string,
    Array<{ runId: string; nodeId: number; dueAt: number }>
  >();
  private readonly leases = new Map<string, Lease>();
  private readonly idempotency = new Map<
    string,
    { runId: string; fingerprint: string; until: number }
  >();
  private readonly events = new EventEmitter();
  /** Pending `waitFor` calls, ended by `close`. */
  private readonly waiting = new Set<(v: undefined) => void>();
  private token = 0;
  /** Set by `close`: a wait for a run then fails instead of timing out. */
  private closed = false;
  private readonly locks = new Map<string, { owner: string; token: number; until: number }>();
  private readonly fences = new Map<string, number>();
  private readonly memos = new Map<string, { bytes: Uint8Array; until: number }>();
  private readonly workers = new Map<string, { info: WorkerInfo; seenAt: number; until: number }>();
  private seq = 0;
  private readonly batch: number;
  private readonly clock: Clock;
  /** The events kept, oldest first; an event's id is its number in `eventSeq`'s count. */
  private readonly stream: WeftEvent[] = [];
  private eventSeq = 0;
  private readonly eventsMax: number;

  /**
   * The Effect-native in-memory store (docs/effect.md): a layer providing a
   * new, empty `MemoryStore` as `WeftStore` each time it is built (on the
   * live clock), closed when its scope closes.
   *
   * @example
   * it.effect("...", () => program.pipe(Effect.provide(WeftClient.layer.pipe(Layer.provide(MemoryStore.layer)))))
   */
  static readonly layer: Layer.Layer<WeftStore> = MemoryStore.layerWith();

  /** {@link MemoryStore.layer} with options (a clock, a batch size). */
  static layerWith(opts: MemoryStoreOptions = {}): Layer.Layer<WeftStore> {
    return WeftStore.scoped(Effect.sync(() => new MemoryStore(opts)));
  }

  constructor(opts: MemoryStoreOptions = {}) {
    this.batch = opts.batch ?? 1_000;
    this.eventsMax = opts.eventsMaxLen ?? 10_000;
    this.clock = opts.clock ?? liveClock;
    this.events.setMaxListeners(0);
  }

  /** One `submit` per submission, in order (see `Store.submitMany`). */
  async submitMany(subs: ReadonlyArray<Submission>): Promise<ReadonlyArray<SubmitManyResult>> {
    const out: SubmitManyResult[] = [];
    for (const sub of subs) out.push(await settleSubmit(this.submit(sub)));
    return out;
  }

  async submit(sub: Submission): Promise<SubmitResult> {
    const fp = sub.fingerprint ?? fingerprint(sub.dag);
    const nonce = sub.nonce ?? randomUUID();
    const taken = this.runs.get(sub.runId);
    if (taken) {
      if (taken.nonce === nonce) return { runId: sub.runId, existing: false }; // this very call, repeated
      // (no fingerprint, "": a run id made at random met again is another run, never this one)
      if (fp !== "" && taken.fingerprint === fp) return { runId: sub.runId, existing: true };
      throw new DuplicateRun({ runId: sub.runId });
    }
    const key = sub.idempotencyKey;
    if (key !== undefined && sub.idempotencyWindowMs > 0) {
      const hit = this.idempotency.get(key);
      const run = hit && hit.until > sub.now ? this.runs.get(hit.runId) : undefined;
      // a key whose run no longer exists is free
      if (hit && run) {
        if (hit.fingerprint !== fp) throw new IdempotencyConflict({ key, runId: hit.runId });
        const status = run.state.run.status;
        const reuse =
          sub.idempotencyReuse === "allow-if-failed" &&
          (status === "failed" || status === "cancelled");
        if (!reuse) return { runId: hit.runId, existing: true };
      }
      this.idempotency.set(key, {
        runId: sub.runId,
        fingerprint: fp,
        until: sub.now + sub.idempotencyWindowMs,
      });
    }
    const state = createRun(sub.runId, sub.dag, sub.now, {
      ...(sub.notBefore === undefined ? {} : { notBefore: sub.notBefore }),
      ...(sub.expiresAt === undefined ? {} : { expiresAt: sub.expiresAt }),
    });
    state.key = `memory:run:${sub.runId}`;
    state.events = [];
    const run: StoredRun = {
      state,
      tags: [...sub.tags],
      queues: sub.dag.queues,
      results: new Map(),
      spans: new Map(),
      progress: new Map(),
      retentionMs: sub.retentionMs,
      fingerprint: fp,
      nonce,
      output: sub.dag.output,
      ...(sub.headers === undefined ? {} : { headers: new Uint8Array(sub.headers) }),
      handed: new Map(),
    };
    this.runs.set(sub.runId, run);
    this.enqueue(state, commitRun(state, sub.now));
    this.afterTransition(run);
    return { runId: sub.runId, existing: false };
  }

  claim(req: ClaimRequest): Promise<ReadonlyArray<Claim>> {
    let limited: ReadonlyArray<string>;
    try {
      limited = limitedQueues(req);
    } catch (e) {
      return Promise.reject(e);
    }
    // no extra promise hop without limits: the simulator counts the claim's continuations
    return limited.length === 0 ? this.claimFrom(req) : this.claimLimited(req, limited);
  }

  /** A claim with rate-limited queues among its queues (`limited`). */
  private async claimLimited(
    req: ClaimRequest,
    limited: ReadonlyArray<string>,
  ): Promise<ReadonlyArray<Claim>> {
    const last = this.lastClaim.get(req.workerId);
    if (req.requestId !== undefined && last?.requestId === req.requestId && last.until > req.now) {
      return last.claims.filter((c) => this.leases.get(key(c.runId, c.nodeId))?.token === c.token);
    }
    // the queues without a limit first, then each limited queue up to what its limit grants
    const { requestId, ...plain } = req;
    const out: Claim[] = [];
    const free = req.queues.filter((q) => !limited.includes(q));
    if (free.length > 0) out.push(...(await this.claimFrom({ ...plain, queues: free })));
    for (const q of limited) {
      const want = req.max - out.length;
      if (want <= 0) break;
      const limit = req.rateLimits![q]!;
      // a sliding log of claim times, as ratelimit.lua keeps it: clock readings may arrive out
      // of order, so every window holding `now` is counted (those within one interval either
      // side) and entries are kept two intervals
      const I = limit.intervalMs;
      const log = (this.limiters.get(q) ?? []).filter((t) => t > req.now - 2 * I);
      const near = log.filter((t) => t > req.now - I && t < req.now + I);
      const granted = Math.max(0, Math.min(want, limit.limit - near.length));
      // reserved before the claim (another claim may run meanwhile), the unused given back after
      for (let i = 0; i < granted; i++) log.push(req.now);
      this.limiters.set(q, log);
      if (granted < want) {
        this.limitedUntil.set(q, (near.length > 0 ? Math.min(...near) : req.now) + I);
      } else this.limitedUntil.delete(q);
      const got = granted > 0 ? await this.claimFrom({ ...plain, queues: [q], max: granted }) : [];
      const current = this.limiters.get(q) ?? [];
      for (let i = got.length; i < granted; i++) {
        const at = current.indexOf(req.now);
        if (at >= 0) current.splice(at, 1);
      }
      out.push(...got);
    }
    if (requestId !== undefined) {
      this.lastClaim.set(req.workerId, { requestId, until: req.now + req.leaseMs, claims: out });
    }
    return out;
  }

  /** Claims from `req.queues`, none of them rate limited. */
  private async claimFrom(req: ClaimRequest): Promise<ReadonlyArray<Claim>> {
    const last = this.lastClaim.get(req.workerId);
    if (req.requestId !== undefined && last?.requestId === req.requestId && last.until > req.now) {
      // a re-sent request: what the first one leased, where its lease still holds
      return last.claims.filter((c) => this.leases.get(key(c.runId, c.nodeId))?.token === c.token);
    }
    for (const q of req.queues) this.promote(q, req.now);
    // a paused queue's nodes wait (due retries made ready above, as on Redis): none is popped
    const open = req.queues.filter((q) => !this.paused.has(q));
    const tasks = new Set(req.tasks ?? []);
    const out: Claim[] = [];
    while (out.length < req.max) {
      const popped: Ready[] = [];
      while (popped.length < req.max - out.length) {
        const next = this.popBest(open, tasks);
        if (!next) break;
        popped.push(next);
      }
      if (popped.length === 0) break;
      // as the Redis store does with a batch: every popped node starts first; one found
      // corrupt or over its stalls is handled after, in pop order (the sweep of a corrupt
      // run spares the nodes of the batch that already started)
      const after: Ready[] = [];
      for (const p of popped) {
        if (this.startsLater(p, req.now)) after.push(p);
        else {
          const claim = this.start(p.runId, p.nodeId, req.workerId, req.leaseMs, req.now);
          if (claim) out.push(claim);
        }
      }
      for (const p of after) {
        const claim = this.start(p.runId, p.nodeId, req.workerId, req.leaseMs, req.now);
        if (claim) out.push(claim);
      }
    }
    if (req.requestId !== undefined) {
      this.lastClaim.set(req.workerId, {
        requestId: req.requestId,
        until: req.now + req.leaseMs,
        claims: out,
      });
    }
    return out;
  }

  /** A popped node whose start will not start it but end it: its record is corrupt, it stalls out, or it expired. */
  private startsLater(p: Ready, now: number): boolean {
    const run = this.runs.get(p.runId);
    if (!run) return false;
    if (run.state.corrupt?.has(p.nodeId)) return true;
    const n = run.state.nodes[p.nodeId]!;
    if (n.state !== "running") return n.expiresAt !== undefined && now >= n.expiresAt;
    return n.stalls + 1 > maxStallsOf(run.state.graph[p.nodeId]!);
  }

  /** Each item as {@link complete}, in order (the Redis store sends them in one call per shard). */
  async completeMany(
    items: ReadonlyArray<CompleteItem>,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): Promise<ReadonlyArray<ReportResult>> {
    const out: ReportResult[] = [];
    for (const it of items) {
      const span = it.span === undefined ? {} : { span: it.span };
      out.push(await this.complete(it.claim, it.result, { ...opts, nextMax: it.nextMax, ...span }));
    }
    return out;
  }

  async complete(claim: Claim, result: Uint8Array, opts: CompleteOptions): Promise<ReportResult> {
    const run = this.runs.get(claim.runId);
    if (!run) return { ok: false, reason: "stale" };
    // the node is read before its lease is checked, as the Redis script does
    const node = readNode(run.state, claim.nodeId, opts.now);
    this.afterTransition(run);
    if (node.state !== "running") {
      // the same report again (a re-sent command): answer what the first one did, change nothing
      if (node.token === claim.token && node.state === "succeeded")
        return { ok: true, next: this.replayNext(run, claim.nodeId), replayed: true };
      if (node.token === claim.token && node.state === "cancelled")
        return { ok: false, reason: "cancelled" };
      return { ok: false, reason: "stale" };
    }
    if (!this.holder(claim)) return { ok: false, reason: "stale" };
    const done = completeNode(run.state, claim.nodeId, opts.now)!;
    this.leases.delete(key(claim.runId, claim.nodeId));
    run.progress.delete(claim.nodeId);
    if (done.cancelled) {
      this.enqueue(run.state, done.ready);
      this.afterTransition(run);
      return { ok: false, reason: "cancelled" };
    }
    run.results.set(claim.nodeId, result);
    if (isSpanId(opts.span)) run.spans.set(claim.nodeId, opts.span);
    const next: Claim[] = [];
    const rest: number[] = [];
    // a run that stopped on the way (a corrupt record) hands nothing out
    const leasing = run.state.run.status === "running";
    for (const id of done.ready) {
      const spec = run.state.graph[id]!;
      // a delayed dependent waits for its time in the delayed set
      const delayed = run.state.nodes[id]!.dueAt !== undefined;
      if (
        leasing &&
        !delayed &&
        next.length < opts.nextMax &&
        // only a dependent whose one dependency this node is (see complete.lua): a re-sent
        // completion then knows exactly what it handed out
        spec.deps.length === 1 &&
        opts.queues.includes(spec.queue) &&
        !this.paused.has(spec.queue)
      ) {
        const c = this.start(claim.runId, id, opts.workerId, opts.leaseMs, opts.now);
        if (c) next.push(c);
      } else rest.push(id);
    }
    if (next.length > 0)
      run.handed.set(
        claim.nodeId,
        next.map((c) => [c.nodeId, c.token] as const),
      );
    this.enqueue(run.state, rest);
    this.afterTransition(run);
    return { ok: true, next };
  }

  async replace(claim: Claim, dag: Dag, opts: CompleteOptions): Promise<ReportResult> {
    const run = this.runs.get(claim.runId);
    if (!run) return { ok: false, reason: "stale" };
    const node = readNode(run.state, claim.nodeId, opts.now);
    this.afterTransition(run);
    if (node.state !== "running") {
      // the same report again (a re-sent command): answer what the first one did, change nothing
      if (node.token === claim.token && node.state === "cancelled")
        return { ok: false, reason: "cancelled" };
      if (node.token === claim.token && run.state.graph[claim.nodeId]!.replacedBy !== undefined)
        return { ok: true, next: [], replayed: true };
      if (node.token === claim.token && node.state === "skipped")
        return { ok: true, next: [], replayed: true };
      return { ok: false, reason: "stale" };
    }
    if (!this.holder(claim)) return { ok: false, reason: "stale" };
    const done = replaceNode(run.state, claim.nodeId, dag, opts.now)!;
    this.leases.delete(key(claim.runId, claim.nodeId));
    run.progress.delete(claim.nodeId);
    if (done.kind === "replaced") {
      for (const id of done.added) {
        const q = run.state.graph[id]!.queue;
        if (!run.queues.includes(q)) run.queues = [...run.queues, q];
      }
    }
    this.enqueue(run.state, done.ready);
    this.afterTransition(run);
    if (done.kind === "cancelled" && run.state.nodes[claim.nodeId]!.state === "cancelled")
      return { ok: false, reason: "cancelled" };
    return { ok: true, next: [] };
  }

  async addToChord(
    claim: Claim,
    dag: Dag,
    opts: { readonly now: number },
  ): Promise<"added" | "lost" | "cancelled" | "ended"> {
    const run = this.runs.get(claim.runId);
    if (!run || !this.holder(claim)) return "lost";
    const done = addToChord(run.state, claim.nodeId, dag, opts.now);
    this.afterTransition(run);
    if (done.kind === "not-in-chord") throw notInChord(claim);
    if (done.kind !== "added") return done.kind;
    for (const id of done.added) {
      const q = run.state.graph[id]!.queue;
      if (!run.queues.includes(q)) run.queues = [...run.queues, q];
    }
    this.enqueue(run.state, done.ready);
    this.afterTransition(run);
    return "added";
  }

  async fail(claim: Claim, error: ErrorInfo, opts: FailOptions): Promise<ReportResult> {
    const run = this.runs.get(claim.runId);
    if (!run) return { ok: false, reason: "stale" };
    const node = readNode(run.state, claim.nodeId, opts.now);
    this.afterTransition(run);
    if (node.state !== "running") {
      const recorded =
        node.state === "retrying" || node.state === "failed" || node.state === "cancelled";
      if (node.token === claim.token && recorded) return { ok: true, next: [], replayed: true };
      return { ok: false, reason: "stale" };
    }
    if (!this.holder(claim)) return { ok: false, reason: "stale" };
    const ready = failNode(run.state, claim.nodeId, error, opts.retryAt, opts.now);
    if (!ready) return { ok: false, reason: "stale" };
    this.leases.delete(key(claim.runId, claim.nodeId));
    run.progress.delete(claim.nodeId);
    const after = run.state.nodes[claim.nodeId]!;
    if (after.state === "retrying") {
      const q = run.state.graph[claim.nodeId]!.queue;
      list(this.delayed, q).push({ runId: claim.runId, nodeId: claim.nodeId, dueAt: after.dueAt! });
      this.signalWork(q);
    }
    this.enqueue(run.state, ready);
    this.afterTransition(run);
    return { ok: true, next: [] };
  }

  async heartbeat(
    claims: ReadonlyArray<Claim>,
    opts: { now: number; leaseMs: number },
  ): Promise<ReadonlyArray<LeaseState>> {
    return claims.map((c) => {
      const lease = this.leases.get(key(c.runId, c.nodeId));
      if (!lease || lease.token !== c.token) return "lost";
      lease.until = opts.now + opts.leaseMs;
      // its concurrency slot follows, unless it already lapsed (as ZADD XX after a purge)
      const conc = c.spec.options.concurrency;
      const slot =
        conc === undefined
          ? undefined
          : this.concurrency.get(String(conc.key))?.get(key(c.runId, c.nodeId));
      if (slot !== undefined && slot.token === c.token && slot.until > opts.now)
        slot.until = opts.now + opts.leaseMs;
      return this.runs.get(c.runId)?.state.run.status === "cancelled" ? "cancelled" : "held";
    });
  }

  async release(claim: Claim, opts: { now: number }): Promise<void> {
    const run = this.holder(claim);
    if (!run) return;
    // the lease goes whatever the node's state, as in the Redis script
    this.leases.delete(key(claim.runId, claim.nodeId));
    const released = releaseNode(run.state, claim.nodeId, opts.now);
    this.afterTransition(run);
    if (!released) return;
    this.push(claim.runId, run.state.graph[claim.nodeId]!.queue, claim.nodeId, 16);
  }

  async park(claim: Claim, opts: { now: number }): Promise<void> {
    const run = this.holder(claim);
    if (!run || !parkNode(run.state, claim.nodeId, opts.now)) return;
    this.flushEvents(run);
    this.leases.delete(key(claim.runId, claim.nodeId));
    const spec = run.state.graph[claim.nodeId]!;
    list(this.parked, spec.queue).push({
      runId: claim.runId,
      nodeId: claim.nodeId,
      priority: spec.priority,
      seq: ++this.seq,
      task: spec.task,
    });
    this.signalWork(spec.queue);
  }

  async progress(claim: Claim, progress: Progress): Promise<LeaseState> {
    const checked = checkProgress(progress); // refused before anything is read, as on Redis
    const run = this.holder(claim);
    if (!run) return "lost";
    run.progress.set(claim.nodeId, checked);
    this.append({
      kind: "progress",
      runId: claim.runId,
      at: this.clock.now(),
      nodeId: claim.nodeId,
      progress: checked,
    });
    return run.state.run.status === "cancelled" ? "cancelled" : "held";
  }

  async nextDueAt(queues: ReadonlyArray<string>): Promise<number | undefined> {
    const due = queues.flatMap((q) => (this.delayed.get(q) ?? []).map((d) => d.dueAt));
    for (const q of queues) {
      const until = this.limitedUntil.get(q);
      if (until !== undefined) due.push(until);
    }
    return due.length === 0 ? undefined : Math.min(...due);
  }

  async subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    this.events.on("signal", listener);
    return async () => {
      this.events.off("signal", listener);
    };
  }

  async registerWorker(info: WorkerInfo, opts: { now: number; ttlMs: number }): Promise<void> {
    this.workers.set(info.id, {
      info: structuredClone(info),
      seenAt: opts.now,
      until: opts.now + opts.ttlMs,
    });
  }

  async unregisterWorker(workerId: string): Promise<void> {
    this.workers.delete(workerId);
  }

  async listWorkers(opts: { now: number }): Promise<ReadonlyArray<WorkerPresence>> {
    return [...this.workers.values()]
      .map((w) => ({
        ...structuredClone(w.info),
        lastSeenAt: w.seenAt,
        alive: w.until > opts.now,
      }))
      .sort((a, b) => a.startedAt - b.startedAt || cmp(a.id, b.id));
  }

  async maintain(opts: { now: number; queues: ReadonlyArray<string> }): Promise<MaintainReport> {
    let promoted = 0;
    let redelivered = 0;
    let expired = 0;
    // same order as the Redis store: queue by queue, promotions then re-deliveries,
    // each by time and then by member string (sorted-set order)
    for (const q of opts.queues) {
      promoted += this.promote(q, opts.now);
      const leases = [...this.leases]
        .filter(([, l]) => l.until <= opts.now && l.queue === q)
        .map(([k, l]) => ({ k, l, member: `${k}#${l.token}` }))
        .sort((a, b) => a.l.until - b.l.until || cmp(a.member, b.member))
        .slice(0, this.batch);
      for (const { k, l } of leases) {
        this.leases.delete(k);
        const [runId, node] = splitKey(k);
        this.push(runId, l.queue, node, 16);
        this.append({ kind: "lease-expired", runId, at: opts.now, nodeId: node });
        redelivered += 1;
      }
      expired += this.expire(q, opts.now);
    }
    let gone = false;
    for (const [id, run] of this.runs) {
      const f = run.state.run.finishedAt;
      if (f !== undefined && f + run.retentionMs <= opts.now) {
        this.runs.delete(id);
        gone = true;
      }
    }
    for (const [k, hit] of this.idempotency) if (hit.until <= opts.now) this.idempotency.delete(k);
    if (gone) this.events.emit("run"); // waiters on an expired run learn it is gone
    for (const [id, w] of this.workers) {
      if (w.until + DEAD_WORKER_KEPT_MS <= opts.now) this.workers.delete(id);
    }
    return { promoted, redelivered, expired };
  }

  /**
   * Ends `expired` up to `batch` queued or retrying nodes of `queue` past
   * their `expiresAt` at `now` (earliest deadline first), taking them out of
   * their queue; returns how many.
   */
  private expire(queue: string, now: number): number {
    const due: Array<{ run: StoredRun; id: number; at: number }> = [];
    for (const run of this.runs.values()) {
      const s = run.state;
      if (s.run.finishedAt !== undefined) continue; // every node ended
      s.nodes.forEach((n, id) => {
        if (
          (n.state === "queued" || n.state === "retrying") &&
          n.expiresAt !== undefined &&
          n.expiresAt <= now &&
          s.graph[id]!.queue === queue
        )
          due.push({ run, id, at: n.expiresAt });
      });
    }
    due.sort((a, b) => a.at - b.at);
    let n = 0;
    for (const { run, id } of due.slice(0, this.batch)) {
      const ready = expireNode(run.state, id, now);
      if (ready === undefined) continue;
      run.state.swept ??= [];
      run.state.swept.push(id);
      this.enqueue(run.state, ready);
      this.afterTransition(run);
      n += 1;
    }
    return n;
  }

  async cancel(runId: string, opts: { now: number }): Promise<boolean> {
    const run = this.runs.get(runId);
    if (!run) return false;
    const before = run.state.run.status;
    const removed = new Set(cancelRun(run.state, opts.now));
    if (run.state.run.status === before) return false;
    for (const [q, items] of this.ready) {
      this.ready.set(
        q,
        items.filter((r) => !(r.runId === runId && removed.has(r.nodeId))),
      );
    }
    for (const [q, items] of this.delayed) {
      this.delayed.set(
        q,
        items.filter((r) => !(r.runId === runId && removed.has(r.nodeId))),
      );
    }
    for (const [q, items] of this.parked) {
      this.parked.set(
        q,
        items.filter((r) => !(r.runId === runId && removed.has(r.nodeId))),
      );
    }
    this.afterTransition(run);
    this.events.emit("signal", { kind: "cancelled", runId } satisfies StoreSignal);
    return true;
  }

  async redrive(runId: string, opts: RedriveOptions): Promise<RedriveResult> {
    const run = this.runs.get(runId);
    if (!run) return { ok: false, reason: "not-found" };
    const s = run.state;
    const edit = opts.edit;
    const status = s.run.status;
    if (status === "succeeded") return { ok: false, reason: "succeeded" };
    if (status !== "failed" && status !== "cancelled") return { ok: false, reason: "not-ended" };
    if (s.run.finishedAt === undefined) return { ok: false, reason: "not-quiet" };
    if (
      edit !== undefined &&
      !(
        Number.isInteger(edit.node) &&
        edit.node >= 0 &&
        edit.node < s.nodes.length &&
        s.nodes[edit.node]!.state !== "succeeded"
      )
    )
      return { ok: false, reason: "bad-node" };
    const ready = redriveRun(s, opts.now);
    if (typeof ready === "string") return { ok: false, reason: ready };
    if (edit !== undefined) (s.graph as DagNode[])[edit.node] = structuredClone(edit.spec);
    this.enqueue(s, ready);
    this.afterTransition(run);
    return { ok: true, queued: ready.length };
  }

  async acquireLock({ name, owner, ttlMs, now }: LockRequest): Promise<number | undefined> {
    const held = this.locks.get(name);
    if (held && held.until > now && held.owner !== owner) return undefined;
    const token = (this.fences.get(name) ?? 0) + 1;
    this.fences.set(name, token);
    this.locks.set(name, { owner, token, until: now + ttlMs });
    return token;
  }

  async renewLock(req: LockRenewal): Promise<boolean> {
    const held = this.locks.get(req.name);
    if (!held || held.owner !== req.owner || held.token !== req.token || held.until <= req.now)
      return false;
    held.until = req.now + req.ttlMs;
    return true;
  }

  async releaseLock(req: LockRelease): Promise<void> {
    const held = this.locks.get(req.name);
    if (held && held.owner === req.owner && held.token === req.token) this.locks.delete(req.name);
  }

  async getMemo({ task, key, now }: MemoRequest): Promise<Uint8Array | undefined> {
    const m = this.memos.get(`${task}\u0000${key}`);
    return m && m.until > now ? m.bytes : undefined;
  }

  async putMemo({ task, key, result, ttlMs, now }: Memo): Promise<void> {
    this.memos.set(`${task}\u0000${key}`, { bytes: result, until: now + ttlMs });
  }

  async getRun(runId: string): Promise<RunSnapshot | undefined> {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    const s = run.state;
    return structuredClone({
      run: { ...s.run, tags: run.tags, queues: run.queues },
      nodes: s.nodes.map((n, id) => {
        const p = run.progress.get(id);
        const why = s.corrupt?.get(id);
        // a planted corrupt record reads as the Redis store shows one it cannot decode
        const rec =
          why === undefined
            ? n
            : {
                state: "failed" as const,
                attempts: 0,
                stalls: 0,
                pending: 0,
                error: corruptRecordInfo(s.key ?? `run:${runId}`, `n${id}`, why),
                history: n.history,
              };
        return { ...rec, id, spec: s.graph[id]!, ...(p ? { progress: p } : {}) };
      }),
      output: run.output,
    });
  }

  async getResult(runId: string, nodeId: number): Promise<Uint8Array | undefined> {
    return this.runs.get(runId)?.results.get(nodeId);
  }

  async listRuns(opts: ListRunsOptions): Promise<ReadonlyArray<RunListing>> {
    return [...this.runs.values()]
      .map((r) =>
        structuredClone({
          ...r.state.run,
          tags: r.tags,
          queues: r.queues,
          task: r.state.graph[0]?.task ?? "",
        }),
      )
      .filter(
        (r) =>
          (opts.status === undefined || r.status === opts.status) &&
          (opts.task === undefined || r.task === opts.task) &&
          (opts.tag === undefined || r.tags.includes(opts.tag)),
      )
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
      .slice(0, opts.limit);
  }

  async queueStats(queues: ReadonlyArray<string>): Promise<ReadonlyArray<QueueStats>> {
    return queues.map((queue) => {
      const parked = this.parked.get(queue) ?? [];
      const tasks = new Map<string, number>();
      for (const p of parked) tasks.set(p.task, (tasks.get(p.task) ?? 0) + 1);
      return {
        queue,
        ready: this.ready.get(queue)?.length ?? 0,
        delayed: this.delayed.get(queue)?.length ?? 0,
        leased: [...this.leases.values()].filter((l) => l.queue === queue).length,
        parked: parked.length,
        parkedTasks: [...tasks]
          .map(([task, count]) => ({ task, count }))
          .sort((a, b) => cmp(a.task, b.task)),
        paused: this.paused.has(queue),
      };
    });
  }

  async pauseQueue(queue: string): Promise<void> {
    this.paused.add(queue);
  }

  async resumeQueue(queue: string): Promise<void> {
    if (this.paused.delete(queue)) this.signalWork(queue);
  }

  async leaseExpiries(leases: ReadonlyArray<LeaseRef>): Promise<ReadonlyArray<number | undefined>> {
    return leases.map((l) => {
      const lease = this.leases.get(key(l.runId, l.nodeId));
      return lease && lease.token === l.token && lease.queue === l.queue ? lease.until : undefined;
    });
  }

  async listLocks(): Promise<ReadonlyArray<LockInfo>> {
    return [...this.locks]
      .map(([name, l]) => ({ name, owner: l.owner, token: l.token, expiresAt: l.until }))
      .sort((a, b) => cmp(a.name, b.name));
  }

  async waitForRun(
    runId: string,
    timeoutMs: number,
    opts: WaitForRunOptions = {},
  ): Promise<RunRecord | undefined> {
    const final = (): { run?: RunRecord } | undefined => {
      const r = this.runs.get(runId)?.state.run;
      if (!r) return {}; // gone: never written, or expired
      const ended =
        TERMINAL_RUN_STATUSES.has(r.status) && (!opts.quiet || r.finishedAt !== undefined);
      return ended ? { run: structuredClone(r) } : undefined;
    };
    const got = await this.waitFor("run", final, timeoutMs);
    if (got && !got.run) throw new RunNotFound({ runId });
    if (!got && this.closed) throw closedWhileWaiting("memory", runId);
    return got?.run;
  }

  waitForWork(
    queues: ReadonlyArray<string>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    // a wait ended by its signal takes no wake-up (a woken waiter takes none either: only a
    // wait that finds one kept when it starts takes it)
    if (signal?.aborted) return Promise.resolve();
    // work made ready, or a wake-up sent, before the caller started waiting must not be missed
    // (a queue held back by its rate limit has no work until the limit frees: see nextDueAt)
    // (nor has a paused queue until it is resumed)
    const held = (q: string) =>
      (this.limitedUntil.get(q) ?? 0) > this.clock.now() || this.paused.has(q);
    if (
      queues.some(
        (q) => ((this.ready.get(q)?.length ?? 0) > 0 && !held(q)) || this.wakeups.delete(q),
      )
    ) {
      return Promise.resolve();
    }
    return this.waitFor("work", () => undefined, timeoutMs, signal).then(() => undefined);
  }

  /**
   * Resolves with `check()` once it is defined (checked now and on each `event`), or
   * `undefined` after `timeoutMs` on the store's clock or when `signal` aborts.
   */
  private waitFor<T>(
    event: "run" | "work" | "event",
    check: () => T | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timeout = new AbortController();
      const done = (v: T | undefined) => {
        timeout.abort("done");
        this.events.off(event, onEvent);
        signal?.removeEventListener("abort", aborted);
        this.waiting.delete(done);
        resolve(v);
      };
      this.waiting.add(done);
      const onEvent = () => {
        const v = check();
        if (v !== undefined || event === "work") done(v);
      };
      const aborted = () => done(undefined);
      this.events.on(event, onEvent);
      signal?.addEventListener("abort", aborted, { once: true });
      void this.clock.sleep(timeoutMs, timeout.signal).then(() => {
        if (!timeout.signal.aborted) done(undefined);
      });
    });
  }

  async putSchedule(schedule: Schedule, opts: { now: number }): Promise<ScheduleRecord> {
    const old = this.schedules.get(schedule.id);
    const rec: ScheduleRecord = {
      schedule: structuredClone(schedule),
      state: old?.state ?? { version: 0 },
      createdAt: old?.createdAt ?? opts.now,
      updatedAt: opts.now,
    };
    this.schedules.set(schedule.id, rec);
    return structuredClone(rec);
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const rec = this.schedules.get(id);
    return rec && structuredClone(rec);
  }

  async listSchedules(): Promise<ReadonlyArray<ScheduleRecord>> {
    return [...this.schedules.keys()].sort().map((id) => structuredClone(this.schedules.get(id)!));
  }

  async removeSchedule(id: string): Promise<boolean> {
    return this.schedules.delete(id);
  }

  async pauseSchedule(id: string, paused: boolean, opts: { now: number }): Promise<boolean> {
    const rec = this.schedules.get(id);
    if (!rec) return false;
    this.schedules.set(id, { ...rec, schedule: { ...rec.schedule, paused }, updatedAt: opts.now });
    return true;
  }

  async advanceSchedule(
    id: string,
    version: number,
    next: Omit<ScheduleState, "version">,
  ): Promise<boolean> {
    const rec = this.schedules.get(id);
    if (!rec || rec.state.version !== version) return false;
    this.schedules.set(id, { ...rec, state: { ...structuredClone(next), version: version + 1 } });
    return true;
  }

  /**
   * Ends every pending wait and drops listeners: a wait for work ends as
   * timed out, a wait for a run fails with `StoreUnavailable`.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const done of [...this.waiting]) done(undefined);
    this.events.removeAllListeners();
  }

  /** The run's internal state, for the conformance suite's model comparisons. */
  peek(runId: string): RunState | undefined {
    return this.runs.get(runId)?.state;
  }

  /**
   * Test hook: makes node `nodeId`'s stored record read as garbage from now
   * on, as bytes planted in a Redis hash field would. The store finds it
   * where the Redis scripts read a node record (starting it, settling it or
   * a dependency, a cancel or a sweep): the node fails with `CorruptRecord`,
   * the run fails, and its nodes not started are skipped. `getRun` shows the
   * node `failed` with that error as soon as it is planted.
   *
   * @throws RunNotFound when the run does not exist.
   */
  corruptNodeRecord(runId: string, nodeId: number): void {
    const run = this.runs.get(runId);
    if (!run || nodeId < 0 || nodeId >= run.state.nodes.length) throw new RunNotFound({ runId });
    run.state.corrupt ??= new Map();
    run.state.corrupt.set(nodeId, PLANTED);
  }

  private holder(claim: Claim): StoredRun | undefined {
    const lease = this.leases.get(key(claim.runId, claim.nodeId));
    if (!lease || lease.token !== claim.token) return undefined;
    return this.runs.get(claim.runId);
  }

  private start(
    runId: string,
    nodeId: number,
    workerId: string,
    leaseMs: number,
    now: number,
  ): Claim | undefined {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    const spec = run.state.graph[nodeId]!;
    const r = startNode(run.state, nodeId, workerId, maxStallsOf(spec), now);
    if (r.kind === "refused") {
      this.afterTransition(run); // a corrupt record found on the way ended nodes
      return undefined;
    }
    if (r.kind === "expired") {
      this.enqueue(run.state, r.ready);
      this.afterTransition(run);
      return undefined;
    }
    if (r.kind === "stalled-out") {
      // the re-delivery's lease was granted, then refused: a late report of the stalled attempt is stale
      run.state.nodes[nodeId]!.token = ++this.token;
      this.enqueue(run.state, r.ready);
      this.afterTransition(run);
      return undefined;
    }
    const token = ++this.token;
    run.state.nodes[nodeId]!.token = token;
    this.flushEvents(run);
    const hold = (dueAt: number): boolean => {
      if (!holdNode(run.state, nodeId, dueAt, now)) return false;
      this.flushEvents(run);
      list(this.delayed, spec.queue).push({ runId, nodeId, dueAt });
      this.signalWork(spec.queue);
      return true;
    };
    const conc = spec.options.concurrency;
    const slots = conc === undefined ? undefined : this.concurrencySlots(String(conc.key), now);
    if (conc !== undefined && slots !== undefined) {
      // a slot of its concurrency key first, as concurrency.lua admits it: refused, the node is
      // held (queued, attempt not counted) until the first slot lapses, or a short retry delay
      if (slots.size >= conc.max) {
        const first = Math.min(...[...slots.values()].map((v) => v.until));
        if (hold(Math.min(first, now + CONCURRENCY_RETRY_MS))) return undefined;
      }
      slots.set(key(runId, nodeId), { token, until: now + leaseMs });
    }
    const limit = spec.options.rateLimit;
    if (limit !== undefined) {
      // its task's rate limit, as the Redis store applies it after the start: held back, the
      // node is queued again (attempt not counted) and delayed until the limit frees
      const freeAt = this.reserve(spec.task, limit, now);
      if (freeAt !== undefined) {
        slots?.delete(key(runId, nodeId));
        if (hold(freeAt)) return undefined;
      }
    }
    this.leases.set(key(runId, nodeId), { token, until: now + leaseMs, queue: spec.queue });
    return this.claimOf(run, nodeId, token, now + leaseMs);
  }

  /**
   * The held slots of concurrency key `key` (`options.concurrency`) at
   * `now`, by node: a slot lapses when its expiry passes (as concurrency.lua
   * purges it) and is freed when its attempt's lease ends in any way (the
   * lease is gone or has another fencing token). Pruned in place.
   */
  private concurrencySlots(
    key: string,
    now: number,
  ): Map<string, { token: number; until: number }> {
    const slots = this.concurrency.get(key) ?? new Map<string, { token: number; until: number }>();
    this.concurrency.set(key, slots);
    for (const [node, slot] of slots) {
      const lease = this.leases.get(node);
      if (slot.until <= now || lease === undefined || lease.token !== slot.token)
        slots.delete(node);
    }
    return slots;
  }

  /**
   * Reserves one claim in the sliding log of task `name`, as ratelimit.lua
   * does: `undefined` when granted, else when the limit
   * frees (epoch ms).
   */
  private reserve(
    name: string,
    limit: { readonly limit: number; readonly intervalMs: number },
    now: number,
  ): number | undefined {
    const I = limit.intervalMs;
    const log = (this.taskLimiters.get(name) ?? []).filter((t) => t > now - 2 * I);
    this.taskLimiters.set(name, log);
    const near = log.filter((t) => t > now - I && t < now + I);
    if (near.length < limit.limit) {
      log.push(now);
      return undefined;
    }
    return Math.min(...near) + I;
  }

  /** The claims a completion handed out that still run under their lease, rebuilt for a repeated completion. */
  private replayNext(run: StoredRun, nodeId: number): Claim[] {
    const out: Claim[] = [];
    for (const [id, token] of run.handed.get(nodeId) ?? []) {
      const lease = this.leases.get(key(run.state.run.id, id));
      const n = run.state.nodes[id]!;
      if (lease?.token === token && n.state === "running" && n.token === token)
        out.push(this.claimOf(run, id, token, lease.until));
    }
    return out;
  }

  private claimOf(run: StoredRun, nodeId: number, token: number, leaseUntil: number): Claim {
    const spec = run.state.graph[nodeId]!;
    const ids = waitsOn(spec);
    const deps: DepResult[] = ids.map((d) => {
      const bytes = run.results.get(d);
      const n = run.state.nodes[d]!;
      return bytes && n.state === "succeeded"
        ? { ok: true, value: bytes }
        : { ok: false, error: n.error ?? missingResultInfo(`node ${d} ${n.state}`) };
    });
    const n = run.state.nodes[nodeId]!;
    return {
      runId: run.state.run.id,
      nodeId,
      token,
      attempt: n.attempts,
      stalls: n.stalls,
      spec,
      deps,
      ...(ids.some((d) => run.spans.has(d))
        ? { depSpans: ids.map((d) => run.spans.get(d) ?? "") }
        : {}),
      runQueues: run.queues,
      ...(run.headers === undefined ? {} : { headers: new Uint8Array(run.headers) }),
      leaseUntil,
    };
  }

  /** Puts ready nodes in their queue: a delayed one (`dueAt`) in its delayed set, due by the earlier of `dueAt` and `expiresAt`. */
  private enqueue(state: RunState, ids: ReadonlyArray<number>): void {
    for (const id of ids) {
      const spec = state.graph[id]!;
      const n = state.nodes[id]!;
      if (n.dueAt !== undefined) {
        const dueAt = Math.min(n.dueAt, n.expiresAt ?? n.dueAt);
        list(this.delayed, spec.queue).push({ runId: state.run.id, nodeId: id, dueAt });
        this.signalWork(spec.queue);
      } else this.push(state.run.id, spec.queue, id, spec.priority);
    }
  }

  private push(runId: string, queue: string, nodeId: number, priority: number): void {
    const items = list(this.ready, queue);
    const item = { runId, nodeId, priority, seq: ++this.seq };
    let i = items.length;
    while (i > 0 && items[i - 1]!.priority < priority) i -= 1;
    items.splice(i, 0, item);
    this.signalWork(queue);
  }

  /** Wakes every waiter on `queue` and keeps a wake-up for the next one (as the Redis store's wake list). */
  private signalWork(queue: string): void {
    this.wakeups.add(queue);
    this.events.emit("work");
  }

  /** Moves up to `batch` retries and delayed nodes of `queue` due at `now` to its ready queue; returns how many. */
  private promote(queue: string, now: number): number {
    const due = list(this.delayed, queue);
    const member = (d: { runId: string; nodeId: number }) =>
      `${d.runId}#${d.nodeId}#${this.runs.get(d.runId)?.state.graph[d.nodeId]?.priority ?? 0}`;
    due.sort((a, b) => a.dueAt - b.dueAt || cmp(member(a), member(b)));
    let n = 0;
    while (due.length > 0 && due[0]!.dueAt <= now && n < this.batch) {
      const d = due.shift()!;
      const run = this.runs.get(d.runId);
      const state = run?.state.nodes[d.nodeId]?.state;
      if (!run || (state !== "retrying" && state !== "queued")) continue;
      this.push(d.runId, queue, d.nodeId, run.state.graph[d.nodeId]!.priority);
      n += 1;
    }
    return n;
  }

  /**
   * Takes the best node of `queues`: highest priority, then earliest arrival,
   * among ready nodes and the parked nodes of `tasks`.
   */
  private popBest(queues: ReadonlyArray<string>, tasks: ReadonlySet<string>): Ready | undefined {
    let best: { items: Ready[]; at: number; r: Ready } | undefined;
    const consider = (items: Ready[], at: number) => {
      const r = items[at]!;
      if (
        !best ||
        r.priority > best.r.priority ||
        (r.priority === best.r.priority && r.seq < best.r.seq)
      ) {
        best = { items, at, r };
      }
    };
    for (const q of queues) {
      const items = this.ready.get(q);
      if (items && items.length > 0) consider(items, 0);
      const parked = this.parked.get(q);
      if (!parked || tasks.size === 0) continue;
      for (let i = 0; i < parked.length; i++) {
        if (tasks.has(parked[i]!.task)) consider(parked, i);
      }
    }
    if (!best) return undefined;
    const { items, at, r } = best;
    items.splice(at, 1);
    return r;
  }

  async readEvents(opts: ReadEventsOptions): Promise<EventBatch> {
    const after = this.cursorOf(opts.after);
    const count = opts.count ?? 1_000;
    const now = this.readFrom(after, opts.runId, count);
    if (now.events.length > 0 || !opts.blockMs || opts.blockMs <= 0) return now;
    // a read that passed only other runs' events moved the cursor on: wait from there
    const from = Number(now.cursor);
    const got = await this.waitFor(
      "event",
      () => {
        const b = this.readFrom(from, opts.runId, count);
        return b.events.length > 0 ? b : undefined;
      },
      opts.blockMs,
    );
    return got ?? this.readFrom(from, opts.runId, count);
  }

  /** Events after `from` (of `runId`), at most `count`. */
  private readFrom(from: number, runId: string | undefined, count: number): EventBatch {
    const first = this.eventSeq - this.stream.length + 1;
    const events: WeftEvent[] = [];
    let cursor = Math.max(from, first - 1);
    for (let i = Math.max(0, from + 1 - first); i < this.stream.length; i++) {
      const e = this.stream[i]!;
      cursor = first + i;
      if (runId !== undefined && e.runId !== runId) continue;
      events.push(structuredClone(e));
      if (events.length >= count) break;
    }
    return { events, cursor: String(cursor) };
  }

  /** The event number a cursor names (0: before every event). */
  private cursorOf(after: string | undefined): number {
    if (after === undefined) return 0;
    if (after === "now") return this.eventSeq;
    if (!/^\d{1,15}$/.test(after))
      throw new InvalidEventCursor({
        cursor: after,
        reason: "the in-memory store's cursors are event numbers",
      });
    return Number(after);
  }

  /** Appends an event (its id the next number), drops the oldest past the bound, and wakes readers. */
  private append(e: Unstamped): void {
    this.stream.push({ ...e, id: String(++this.eventSeq) } as WeftEvent);
    // trimmed in steps, as Redis's MAXLEN ~ does
    if (this.stream.length > this.eventsMax + Math.ceil(this.eventsMax / 10))
      this.stream.splice(0, this.stream.length - this.eventsMax);
    this.events.emit("event");
  }

  /** Moves the events the run's transitions emitted to the stream. */
  private flushEvents(run: StoredRun): void {
    const drafts = run.state.events;
    if (!drafts || drafts.length === 0) return;
    run.state.events = [];
    for (const d of drafts) this.append(d);
  }

  /** Drops nodes a sweep took out of their queue, and wakes waiters once the run is final. */
  private afterTransition(run: StoredRun): void {
    this.flushEvents(run);
    const swept = run.state.swept;
    if (swept && swept.length > 0) {
      const gone = new Set(swept);
      run.state.swept = [];
      const id = run.state.run.id;
      const keep = (r: { runId: string; nodeId: number }) =>
        !(r.runId === id && gone.has(r.nodeId));
      for (const [q, items] of this.ready) this.ready.set(q, items.filter(keep));
      for (const [q, items] of this.delayed) this.delayed.set(q, items.filter(keep));
      for (const [q, items] of this.parked) this.parked.set(q, items.filter(keep));
    }
    if (TERMINAL_RUN_STATUSES.has(run.state.run.status)) this.events.emit("run");
  }
}

/** An event before the store gives it its id. */
type Unstamped = WeftEvent extends infer E ? (E extends WeftEvent ? Omit<E, "id"> : never) : never;

const key = (runId: string, nodeId: number) => `${runId}#${nodeId}`;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const splitKey = (k: string): [string, number] => {
  const i = k.lastIndexOf("#");
  return [k.slice(0, i), Number(k.slice(i + 1))];
};
const list = <T>(m: Map<string, T[]>, k: string): T[] => {
  let l = m.get(k);
  if (!l) {
    l = [];
    m.set(k, l);
  }
  return l;
};
