/**
 * A deterministic driver of a store: it plays a worker's part through the
 * Store API with a manual clock and a plan of report faults per delivery, and
 * checks the contract (docs/guarantees.md) at every step. Running the same
 * plan on two stores must give the same final state (model-based testing:
 * the in-memory store is the model). A plan may also repeat calls with
 * identical arguments (a command re-sent after a reconnect: the repeat must
 * change nothing and give the same answer), cancel the run, and corrupt a
 * node's stored record through a store-specific hook.
 */
import { ErrorTag, type RunSnapshot, type Store } from "@weft/core";
import {
  type Claim,
  compile,
  type Dag,
  decode,
  encode,
  fingerprint,
  type ReportResult,
} from "@weft/core/store";
import { Data } from "effect";

/**
 * What the driver reports for one delivery of a node: a completion (`ok`),
 * a failure (`retry`: retryable, `fail`: for good), nothing (`crash`: the
 * worker died and the lease expires), or a completion sent late, after the
 * node was re-delivered (`late`: the store must reject it).
 */
export type ReportFault = "ok" | "retry" | "fail" | "crash" | "late";

/**
 * A plan for {@link drive}: the report fault of each delivery of each node,
 * in delivery order (missing = "ok"), and how the driver claims. The
 * simulator's plan is `FaultPlan`.
 */
export interface DrivePlan {
  readonly faults: ReadonlyArray<ReadonlyArray<ReportFault>>;
  /** Nodes claimed per call. */
  readonly batch: number;
  /** Process each batch in reverse claim order. */
  readonly reverse: boolean;
  /** Lease next ready nodes straight from `complete`. */
  readonly chainNext: boolean;
  /**
   * Send the completions of consecutive nodes without faults together,
   * through `completeMany` (when the store has it), as a busy worker does.
   */
  readonly many?: boolean;
  /** Send the submission twice, identical (same nonce): the repeat must answer the same and change nothing. */
  readonly resubmit?: boolean;
  /**
   * Which failure reports are sent twice with identical arguments, by report
   * number (cycled). Completions are always repeated (with other bytes).
   */
  readonly resend?: ReadonlyArray<boolean>;
  /** Cancel the run (twice: the second must answer false) at this driver step. */
  readonly cancelAt?: number | undefined;
  /**
   * Corrupt the record of a node not yet started (waiting or queued) at
   * driver step `step`: the `pick`-th such node, modulo their number. Needs
   * a `tamper` hook (see {@link drive}).
   */
  readonly tamper?: { readonly step: number; readonly pick: number } | undefined;
}

/** Store-specific hooks of a drive. */
export interface DriveHooks {
  /** Makes node `nodeId`'s stored record unreadable (garbage bytes in Redis, a test hook in memory). */
  readonly tamper?: (runId: string, nodeId: number) => Promise<void>;
}

/** The driver saw the store break a guarantee (docs/guarantees.md); `reason` says which and where. */
export class ContractViolation extends Data.TaggedError(ErrorTag.ContractViolation)<{
  readonly reason: string;
}> {
  override get message() {
    return `contract violation: ${this.reason}`;
  }
}

const LEASE = 1_000;
const RETRY_DELAY = 100;

/** What a drive ends with: the final snapshot, the number of steps and the compiled DAG. */
export interface DriveResult {
  readonly snapshot: RunSnapshot;
  readonly steps: number;
  readonly dag: Dag;
}

/**
 * Submits `canvas` and drives it to the end under `plan`.
 *
 * @throws ContractViolation when the store breaks a guarantee: a node
 *   delivered before its dependencies succeeded, dependency results out of
 *   declaration order, a second completion recorded, a repeated call that
 *   changed something or answered otherwise, or a run that never ends.
 */
export const drive = async (
  store: Store,
  canvas: Parameters<typeof compile>[0],
  plan: DrivePlan,
  runId = `run-${Math.random().toString(36).slice(2, 10)}`,
  hooks: DriveHooks = {},
): Promise<DriveResult> => {
  const dag = compile(canvas);
  const queues = dag.queues;
  let now = 1_000;
  const submission = {
    runId,
    dag,
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 3_600_000,
    now,
    fingerprint: fingerprint(dag),
    nonce: `${runId}-nonce`,
  };
  const sub = await store.submit(submission);
  const id = sub.runId;
  if (sub.existing)
    throw new ContractViolation({ reason: `a fresh run ${id} was reported as existing` });
  if (plan.resubmit) {
    const again = await store.submit(submission);
    if (again.runId !== id || again.existing)
      throw new ContractViolation({
        reason: `a re-sent submission answered ${JSON.stringify(again)}, not ${JSON.stringify(sub)}`,
      });
  }
  const deliveries = new Map<number, number>();
  const late = new Map<number, Claim>();
  let cancelled = false;
  let reports = 0;
  let steps = 0;
  for (;;) {
    if (++steps > 20 * dag.nodes.length + 100)
      throw new ContractViolation({ reason: `run ${id} did not end` });
    if (plan.tamper?.step === steps && hooks.tamper) {
      const snap = await store.getRun(id);
      const fresh = (snap?.nodes ?? []).filter(
        (n) => n.state === "waiting" || n.state === "queued",
      );
      const victim = fresh[plan.tamper.pick % Math.max(1, fresh.length)];
      if (victim) await hooks.tamper(id, victim.id);
    }
    if (plan.cancelAt === steps) {
      const first = await store.cancel(id, { now });
      const second = await store.cancel(id, { now });
      if (second) throw new ContractViolation({ reason: `run ${id} was cancelled twice` });
      cancelled ||= first;
    }
    let work = [
      ...(await store.claim({ workerId: "w", queues, max: plan.batch, leaseMs: LEASE, now })),
    ];
    if (work.length === 0) {
      const snap = await store.getRun(id);
      if (!snap) throw new ContractViolation({ reason: `run ${id} vanished` });
      if (snap.run.finishedAt !== undefined) {
        if (snap.run.ended !== snap.run.total)
          throw new ContractViolation({ reason: "finished with nodes not ended" });
        return { snapshot: snap, steps, dag };
      }
      now += LEASE + RETRY_DELAY;
      await store.maintain({ now, queues });
      continue;
    }
    if (plan.reverse) work.reverse();
    while (work.length > 0) {
      const c = work.shift()!;
      checkDeps(dag, c);
      const stale = late.get(c.nodeId);
      if (stale) {
        late.delete(c.nodeId);
        const r = await store.complete(stale, encode(-2), {
          now,
          workerId: "w",
          queues,
          nextMax: 0,
          leaseMs: LEASE,
        });
        if (r.ok)
          throw new ContractViolation({
            reason: `a late completion of node ${c.nodeId} was accepted after re-delivery`,
          });
      }
      const k = deliveries.get(c.nodeId) ?? 0;
      deliveries.set(c.nodeId, k + 1);
      const fault = plan.faults[c.nodeId]?.[k] ?? "ok";
      now += 1;
      if (fault === "ok" && plan.many && store.completeMany) {
        // this node and the next ones of the batch that complete without a fault, in one call
        const batch = [c];
        while (work.length > 0) {
          const d = work[0]!;
          if (
            late.has(d.nodeId) ||
            (plan.faults[d.nodeId]?.[deliveries.get(d.nodeId) ?? 0] ?? "ok") !== "ok"
          )
            break;
          checkDeps(dag, d);
          deliveries.set(d.nodeId, (deliveries.get(d.nodeId) ?? 0) + 1);
          batch.push(work.shift()!);
        }
        const opts = { now, workerId: "w", queues, leaseMs: LEASE };
        const nextMax = plan.chainNext ? 1 : 0;
        const rs = await store.completeMany(
          batch.map((b) => ({ claim: b, result: encode(b.nodeId), nextMax })),
          opts,
        );
        // the same call again, with other bytes: each recorded once, each first answer replayed
        const again = await store.completeMany(
          batch.map((b) => ({ claim: b, result: encode(-1), nextMax })),
          opts,
        );
        const next: Claim[] = [];
        for (const [i, b] of batch.entries()) {
          const r = rs[i]!;
          if (!r.ok && !(r.reason === "cancelled" && cancelled))
            throw new ContractViolation({
              reason: `completion of node ${b.nodeId} (in a batch of ${batch.length}) rejected (${r.reason}) though its lease was held`,
            });
          const want = r.ok ? { ...r, replayed: true } : r;
          if (!sameAnswer(again[i]!, want))
            throw new ContractViolation({
              reason: `a repeated batched completion of node ${b.nodeId} answered ${show(again[i]!)}, not ${show(want)}`,
            });
          if (r.ok) next.push(...r.next);
        }
        work = [...next, ...work];
      } else if (fault === "ok") {
        const opts = {
          now,
          workerId: "w",
          queues,
          nextMax: plan.chainNext ? 1 : 0,
          leaseMs: LEASE,
        };
        const r = await store.complete(c, encode(c.nodeId), opts);
        if (!r.ok && !(r.reason === "cancelled" && cancelled))
          throw new ContractViolation({
            reason: `completion of node ${c.nodeId} rejected (${r.reason}) though its lease was held`,
          });
        // the same report again, with other bytes: recorded once, the first answer replayed
        const again = await store.complete(c, encode(-1), opts);
        const want = r.ok ? { ...r, replayed: true } : r;
        if (!sameAnswer(again, want))
          throw new ContractViolation({
            reason: `a repeated completion of node ${c.nodeId} answered ${show(again)}, not ${show(want)}`,
          });
        if (r.ok) work = [...r.next, ...work];
      } else if (fault === "retry" || fault === "fail") {
        const error = {
          tag: "Boom",
          message: `planned ${fault} of node ${c.nodeId}`,
          retryable: fault === "retry",
        };
        const opts = { now, retryAt: fault === "retry" ? now + RETRY_DELAY : null };
        const r = await store.fail(c, error, opts);
        if (!r.ok)
          throw new ContractViolation({
            reason: `failure of node ${c.nodeId} rejected (${r.reason}) though its lease was held`,
          });
        const resend = plan.resend ?? [];
        if (resend.length > 0 && resend[reports++ % resend.length]) {
          const again = await store.fail(c, error, opts);
          if (!sameAnswer(again, { ok: true, next: [], replayed: true }))
            throw new ContractViolation({
              reason: `a re-sent failure of node ${c.nodeId} answered ${show(again)}`,
            });
        }
      }
      if (fault === "late") late.set(c.nodeId, c);
      // "crash" and "late": the worker goes silent; the lease expires and the node is re-delivered
    }
  }
};

/** Two answers to a report agree: same status, same replay flag, the same claims handed out. */
const sameAnswer = (a: ReportResult, b: ReportResult): boolean =>
  show(a) === show(b) && a.ok === b.ok;

const show = (r: ReportResult): string =>
  r.ok
    ? `ok${r.replayed ? " (replayed)" : ""} next [${r.next.map((c) => `${c.nodeId}@${c.token}/${c.attempt}/${c.leaseUntil}`).join(", ")}]`
    : `refused (${r.reason})`;

/** A delivered node's dependencies all ended as its edges require, and come in declaration order. */
const checkDeps = (dag: Dag, c: Claim): void => {
  const spec = dag.nodes[c.nodeId]!;
  if (c.deps.length !== spec.deps.length)
    throw new ContractViolation({ reason: `node ${c.nodeId}: wrong number of dependency results` });
  c.deps.forEach((d, i) => {
    const dep = spec.deps[i]!;
    const settled = dag.nodes[dep]!.settledDependents.includes(c.nodeId);
    // an error callback waits on its node's failure
    if (dag.nodes[dep]!.errorDependents?.includes(c.nodeId)) {
      if (d.ok)
        throw new ContractViolation({
          reason: `error callback ${c.nodeId} delivered though node ${dep} succeeded`,
        });
      return;
    }
    if (!d.ok && !settled) {
      throw new ContractViolation({
        reason: `node ${c.nodeId} delivered though dependency ${dep} did not succeed`,
      });
    }
    if (d.ok && decode(d.value) !== dep) {
      throw new ContractViolation({
        reason: `node ${c.nodeId}: dependency results out of declaration order at ${i}`,
      });
    }
  });
};

/**
 * The comparable part of a snapshot: states, counts, errors and times, no
 * ids. A `CorruptRecord` message is reduced to the field it names (the key
 * and the decoder's words differ between stores).
 */
export const normalize = (snap: RunSnapshot) => ({
  run: {
    status: snap.run.status,
    total: snap.run.total,
    ended: snap.run.ended,
    startedAt: snap.run.startedAt,
    finishedAt: snap.run.finishedAt,
    failedNode: snap.run.failedNode,
    error: snap.run.error && comparable(snap.run.error),
  },
  nodes: snap.nodes.map((n) => ({
    id: n.id,
    state: n.state,
    attempts: n.attempts,
    stalls: n.stalls,
    startedAt: n.startedAt,
    finishedAt: n.finishedAt,
    error: n.error && comparable(n.error),
    history: n.history.map((h) => ({
      ...h,
      error: h.error && comparable(h.error),
    })),
  })),
});

const comparable = (e: { readonly tag: string; readonly message: string }) => ({
  tag: e.tag,
  message:
    e.tag === ErrorTag.CorruptRecord
      ? `field ${/ field (\S+):/.exec(e.message)?.[1] ?? "?"}`
      : e.message,
});
