/**
 * A store wrapper that injects delivery faults around a real store, per node
 * and per delivery, and checks the recording guarantees (docs/guarantees.md
 * #2) as it goes: every injected stale completion must be rejected, no node
 * is recorded twice, and a second report under the same lease (a duplicate
 * delivery) is answered as a replay of the first and changes nothing.
 */
import type { ErrorInfo, Progress, RunRecord, RunSnapshot, Store } from "@weft/core";
import type {
  Claim,
  ClaimRequest,
  CompleteOptions,
  Dag,
  EventBatch,
  FailOptions,
  LeaseRef,
  LeaseState,
  ListRunsOptions,
  LockInfo,
  LockRelease,
  LockRenewal,
  LockRequest,
  MaintainReport,
  Memo,
  MemoRequest,
  QueueStats,
  ReadEventsOptions,
  RedriveOptions,
  RedriveResult,
  ReportResult,
  RunListing,
  StoreSignal,
  Submission,
  SubmitManyResult,
  SubmitResult,
  WaitForRunOptions,
  WorkerInfo,
  WorkerPresence,
} from "@weft/core/store";

/**
 * What happens to one delivery of a node:
 * - `crash-before`: the worker dies after claiming, before the handler (it never sees the node);
 * - `crash-after`: the worker dies after the handler, before reporting (the report is lost);
 * - `duplicate`: the node is delivered twice under the same lease (two handlers run; one report may be recorded);
 * - `late`: the report is held until the lease expired and the node was re-delivered, then sent (it must be rejected).
 */
export type DeliveryFault = "none" | "crash-before" | "crash-after" | "duplicate" | "late";

/** One report a worker sent, as the store saw it. */
export interface ReportLog {
  readonly nodeId: number;
  readonly token: number;
  readonly attempt: number;
  readonly stalls: number;
  readonly kind: "complete" | "fail" | "replace";
  readonly at: number;
  readonly retryAt: number | null;
  readonly error?: ErrorInfo;
  /** The random draw the worker made just before this report (its retry jitter), if any. */
  readonly draw: number | undefined;
  /** The store recorded this report (a replay of an earlier one is not accepted again). */
  readonly accepted: boolean;
  /** The store answered that this very report had already been recorded. */
  readonly replayed: boolean;
  readonly fault: DeliveryFault;
}

/** A delivery of a node, as the worker saw it. */
export interface DeliveryLog {
  readonly nodeId: number;
  readonly token: number;
  readonly attempt: number;
  readonly at: number;
  readonly fault: DeliveryFault;
}

/** Wraps `inner`, injecting `faults[node][delivery]` (missing = `none`). */
export class FaultyStore implements Store {
  readonly name: string;
  readonly reports: ReportLog[] = [];
  readonly deliveries: DeliveryLog[] = [];
  readonly violations: string[] = [];
  private readonly count = new Map<number, number>();
  private readonly marked = new Map<number, DeliveryFault>();
  private readonly held = new Map<number, () => Promise<ReportResult>>();
  private lastDraw: number | undefined;

  constructor(
    private readonly inner: Store,
    private readonly faults: ReadonlyArray<ReadonlyArray<DeliveryFault>>,
    private readonly now: () => number,
  ) {
    this.name = `faulty(${inner.name})`;
  }

  /** Wraps a random source so the store can pair each draw with the report that follows it. */
  observe(random: () => number): () => number {
    return () => {
      const v = random();
      this.lastDraw = v;
      return v;
    };
  }

  submitMany(subs: ReadonlyArray<Submission>): Promise<ReadonlyArray<SubmitManyResult>> {
    return this.inner.submitMany(subs);
  }

  submit(sub: Submission): Promise<SubmitResult> {
    return this.inner.submit(sub);
  }

  async claim(req: ClaimRequest): Promise<ReadonlyArray<Claim>> {
    return this.deliver(await this.inner.claim(req), true);
  }

  async complete(claim: Claim, result: Uint8Array, opts: CompleteOptions): Promise<ReportResult> {
    return this.report(claim, "complete", null, undefined, () =>
      this.inner.complete(claim, result, opts),
    );
  }

  async replace(claim: Claim, dag: Dag, opts: CompleteOptions): Promise<ReportResult> {
    return this.report(claim, "replace", null, undefined, () =>
      this.inner.replace(claim, dag, opts),
    );
  }

  addToChord(
    claim: Claim,
    dag: Dag,
    opts: { readonly now: number },
  ): Promise<"added" | "lost" | "cancelled" | "ended"> {
    // a crashed worker's handler no longer runs: what it would add is lost with it
    if (this.crashed(claim)) return Promise.resolve("lost");
    return this.inner.addToChord(claim, dag, opts);
  }

  fail(claim: Claim, error: ErrorInfo, opts: FailOptions): Promise<ReportResult> {
    return this.report(claim, "fail", opts.retryAt, error, () =>
      this.inner.fail(claim, error, opts),
    );
  }

  heartbeat(
    claims: ReadonlyArray<Claim>,
    opts: { now: number; leaseMs: number },
  ): Promise<ReadonlyArray<LeaseState>> {
    // a crashed worker's lease is not renewed: its heartbeats are lost with it
    const live = claims.map((c) => !this.crashed(c));
    return this.inner
      .heartbeat(
        claims.filter((_, i) => live[i]),
        opts,
      )
      .then((states) => {
        let j = 0;
        return live.map((l) => (l ? states[j++]! : "held"));
      });
  }

  release(claim: Claim, opts: { now: number }): Promise<void> {
    return this.inner.release(claim, opts);
  }

  park(claim: Claim, opts: { now: number }): Promise<void> {
    return this.inner.park(claim, opts);
  }

  progress(claim: Claim, progress: Progress): Promise<LeaseState> {
    return this.inner.progress(claim, progress);
  }

  nextDueAt(queues: ReadonlyArray<string>): Promise<number | undefined> {
    return this.inner.nextDueAt(queues);
  }

  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    return this.inner.subscribe(listener);
  }

  registerWorker(info: WorkerInfo, opts: { now: number; ttlMs: number }): Promise<void> {
    return this.inner.registerWorker(info, opts);
  }

  unregisterWorker(workerId: string): Promise<void> {
    return this.inner.unregisterWorker(workerId);
  }

  listWorkers(opts: { now: number }): Promise<ReadonlyArray<WorkerPresence>> {
    return this.inner.listWorkers(opts);
  }

  acquireLock(req: LockRequest): Promise<number | undefined> {
    return this.inner.acquireLock(req);
  }

  renewLock(req: LockRenewal): Promise<boolean> {
    return this.inner.renewLock(req);
  }

  releaseLock(req: LockRelease): Promise<void> {
    return this.inner.releaseLock(req);
  }

  getMemo(req: MemoRequest): Promise<Uint8Array | undefined> {
    return this.inner.getMemo(req);
  }

  putMemo(memo: Memo): Promise<void> {
    return this.inner.putMemo(memo);
  }

  maintain(opts: { now: number; queues: ReadonlyArray<string> }): Promise<MaintainReport> {
    return this.inner.maintain(opts);
  }

  cancel(runId: string, opts: { now: number }): Promise<boolean> {
    return this.inner.cancel(runId, opts);
  }

  redrive(runId: string, opts: RedriveOptions): Promise<RedriveResult> {
    return this.inner.redrive(runId, opts);
  }

  getRun(runId: string): Promise<RunSnapshot | undefined> {
    return this.inner.getRun(runId);
  }

  getResult(runId: string, nodeId: number): Promise<Uint8Array | undefined> {
    return this.inner.getResult(runId, nodeId);
  }

  listRuns(opts: ListRunsOptions): Promise<ReadonlyArray<RunListing>> {
    return this.inner.listRuns(opts);
  }

  queueStats(queues: ReadonlyArray<string>): Promise<ReadonlyArray<QueueStats>> {
    return this.inner.queueStats(queues);
  }

  pauseQueue(queue: string): Promise<void> {
    return this.inner.pauseQueue(queue);
  }

  resumeQueue(queue: string): Promise<void> {
    return this.inner.resumeQueue(queue);
  }

  listLocks(): Promise<ReadonlyArray<LockInfo>> {
    return this.inner.listLocks();
  }

  leaseExpiries(leases: ReadonlyArray<LeaseRef>): Promise<ReadonlyArray<number | undefined>> {
    return this.inner.leaseExpiries(leases);
  }

  waitForRun(
    runId: string,
    timeoutMs: number,
    opts?: WaitForRunOptions,
  ): Promise<RunRecord | undefined> {
    return this.inner.waitForRun(runId, timeoutMs, opts);
  }

  waitForWork(
    queues: ReadonlyArray<string>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.inner.waitForWork(queues, timeoutMs, signal);
  }

  readEvents(opts: ReadEventsOptions): Promise<EventBatch> {
    return this.inner.readEvents(opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Sends reports still held (their node was never re-delivered); each must be rejected. */
  async flushHeld(): Promise<void> {
    for (const [nodeId, send] of [...this.held]) {
      this.held.delete(nodeId);
      if ((await send()).ok) this.violations.push(`a late report of node ${nodeId} was accepted`);
    }
  }

  private crashed(c: Claim): boolean {
    const f = this.marked.get(c.token);
    return f === "crash-after" || f === "late";
  }

  /** Applies the planned fault to each delivery; before a re-delivery, sends the held late report. */
  private async deliver(claims: ReadonlyArray<Claim>, canDuplicate: boolean): Promise<Claim[]> {
    const out: Claim[] = [];
    for (const c of claims) {
      const k = this.count.get(c.nodeId) ?? 0;
      this.count.set(c.nodeId, k + 1);
      const late = this.held.get(c.nodeId);
      if (late) {
        this.held.delete(c.nodeId);
        const r = await late();
        if (r.ok)
          this.violations.push(`a late report of node ${c.nodeId} was accepted after re-delivery`);
      }
      let fault = this.faults[c.nodeId]?.[k] ?? "none";
      if (fault === "duplicate" && !canDuplicate) fault = "none";
      this.deliveries.push({
        nodeId: c.nodeId,
        token: c.token,
        attempt: c.attempt,
        at: this.now(),
        fault,
      });
      if (fault === "crash-before") continue; // the worker died holding the lease
      this.marked.set(c.token, fault);
      out.push(c);
      if (fault === "duplicate") out.push(c);
    }
    return out;
  }

  private async report(
    claim: Claim,
    kind: "complete" | "fail" | "replace",
    retryAt: number | null,
    error: ErrorInfo | undefined,
    send: () => Promise<ReportResult>,
  ): Promise<ReportResult> {
    const draw = this.lastDraw;
    this.lastDraw = undefined;
    const fault = this.marked.get(claim.token) ?? "none";
    const log = (r: ReportResult) => {
      const replayed = r.ok && r.replayed === true;
      const accepted = r.ok && !replayed;
      const earlier = this.reports.find((x) => x.token === claim.token && x.accepted);
      if (accepted && earlier)
        this.violations.push(`node ${claim.nodeId} was recorded twice under token ${claim.token}`);
      if (replayed && !earlier)
        this.violations.push(
          `a report of node ${claim.nodeId} was answered as a replay, but none was recorded under token ${claim.token}`,
        );
      this.reports.push({
        nodeId: claim.nodeId,
        token: claim.token,
        attempt: claim.attempt,
        stalls: claim.stalls,
        kind,
        at: this.now(),
        retryAt,
        ...(error ? { error } : {}),
        draw,
        accepted,
        replayed,
        fault,
      });
    };
    if (fault === "crash-after") return { ok: true, next: [] }; // lost with the worker
    if (fault === "late") {
      this.held.set(claim.nodeId, async () => {
        const r = await send();
        log(r);
        return r;
      });
      return { ok: true, next: [] };
    }
    const r = await send();
    log(r);
    if (!r.ok) return r;
    // a duplicate delivery's second report is a replay: the claims it hands back are the
    // ones the first report got, already running in the first handler's slot
    if (r.replayed) return { ok: true, next: [], replayed: true };
    return { ok: true, next: await this.deliver(r.next, false) };
  }
}
