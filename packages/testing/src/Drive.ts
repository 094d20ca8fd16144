/**
 * A deterministic driver of a store: it plays a worker's part through the
 * Store API with a manual clock and a plan of outcomes per delivery, and
 * checks the contract (DESIGN.md §2) at every step. Running the same plan on
 * two stores must give the same final state (model-based testing: the
 * in-memory store is the model).
 *
 * @since 0.1.0
 */
import {
  type Claim,
  compile,
  type Dag,
  decode,
  encode,
  type RunSnapshot,
  type Store,
} from "@weft/core";

/**
 * What happens to one delivery of a node: it succeeds, fails (retryable or
 * not), the worker crashes (the lease expires), or the worker stalls and
 * reports late, after the node was re-delivered (the report must be rejected).
 */
export type Outcome = "ok" | "retry" | "fail" | "crash" | "late";

/** A plan: outcomes per node, in delivery order (missing = "ok"), and how the driver claims. */
export interface Plan {
  readonly outcomes: ReadonlyArray<ReadonlyArray<Outcome>>;
  /** Nodes claimed per call. */
  readonly batch: number;
  /** Process each batch in reverse claim order. */
  readonly reverse: boolean;
  /** Lease next ready nodes straight from `complete`. */
  readonly chainNext: boolean;
}

/** A contract violation seen by the driver. */
export class ContractViolation extends Error {
  override readonly name = "ContractViolation";
}

const LEASE = 1_000;
const RETRY_DELAY = 100;

/** The outcome of a drive: the final snapshot and the number of steps. */
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
 *   declaration order, a second completion accepted, or a run that never ends.
 */
export const drive = async (
  store: Store,
  canvas: Parameters<typeof compile>[0],
  plan: Plan,
  runId = `run-${Math.random().toString(36).slice(2, 10)}`,
): Promise<DriveResult> => {
  const dag = compile(canvas);
  const queues = dag.queues;
  let now = 1_000;
  const sub = await store.submit({
    runId,
    dag,
    tags: [],
    idempotencyWindowMs: 0,
    retentionMs: 3_600_000,
    now,
  });
  const id = sub.runId;
  const deliveries = new Map<number, number>();
  const late = new Map<number, Claim>();
  let steps = 0;
  for (;;) {
    if (++steps > 20 * dag.nodes.length + 100) throw new ContractViolation(`run ${id} did not end`);
    let work = [
      ...(await store.claim({ workerId: "w", queues, max: plan.batch, leaseMs: LEASE, now })),
    ];
    if (work.length === 0) {
      const snap = await store.getRun(id);
      if (!snap) throw new ContractViolation(`run ${id} vanished`);
      if (snap.run.finishedAt !== undefined) {
        if (snap.run.ended !== snap.run.total)
          throw new ContractViolation("finished with nodes not ended");
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
          throw new ContractViolation(
            `a late completion of node ${c.nodeId} was accepted after re-delivery`,
          );
      }
      const k = deliveries.get(c.nodeId) ?? 0;
      deliveries.set(c.nodeId, k + 1);
      const outcome = plan.outcomes[c.nodeId]?.[k] ?? "ok";
      now += 1;
      if (outcome === "ok") {
        const r = await store.complete(c, encode(c.nodeId), {
          now,
          workerId: "w",
          queues,
          nextMax: plan.chainNext ? 1 : 0,
          leaseMs: LEASE,
        });
        if (!r.ok)
          throw new ContractViolation(
            `completion of node ${c.nodeId} rejected though its lease was held`,
          );
        const again = await store.complete(c, encode(-1), {
          now,
          workerId: "w",
          queues,
          nextMax: 0,
          leaseMs: LEASE,
        });
        if (again.ok) throw new ContractViolation(`node ${c.nodeId} recorded twice`);
        work = [...r.next, ...work];
      } else if (outcome === "retry" || outcome === "fail") {
        const error = {
          tag: "Boom",
          message: `planned ${outcome} of node ${c.nodeId}`,
          retryable: outcome === "retry",
        };
        const r = await store.fail(c, error, {
          now,
          retryAt: outcome === "retry" ? now + RETRY_DELAY : null,
        });
        if (!r.ok)
          throw new ContractViolation(
            `failure of node ${c.nodeId} rejected though its lease was held`,
          );
      }
      if (outcome === "late") late.set(c.nodeId, c);
      // "crash" and "late": the worker goes silent; the lease expires and the node is re-delivered
    }
  }
};

/** A delivered node's dependencies all ended as its edges require, and come in declaration order. */
const checkDeps = (dag: Dag, c: Claim): void => {
  const spec = dag.nodes[c.nodeId]!;
  if (c.deps.length !== spec.deps.length)
    throw new ContractViolation(`node ${c.nodeId}: wrong number of dependency results`);
  c.deps.forEach((d, i) => {
    const dep = spec.deps[i]!;
    const settled = dag.nodes[dep]!.settledDependents.includes(c.nodeId);
    if (!d.ok && !settled) {
      throw new ContractViolation(
        `node ${c.nodeId} delivered though dependency ${dep} did not succeed`,
      );
    }
    if (d.ok && decode(d.value) !== dep) {
      throw new ContractViolation(
        `node ${c.nodeId}: dependency results out of declaration order at ${i}`,
      );
    }
  });
};

/** The comparable part of a snapshot: states, counts, errors and times, no ids. */
export const normalize = (snap: RunSnapshot) => ({
  run: {
    status: snap.run.status,
    total: snap.run.total,
    ended: snap.run.ended,
    startedAt: snap.run.startedAt,
    finishedAt: snap.run.finishedAt,
    failedNode: snap.run.failedNode,
    error: snap.run.error && { tag: snap.run.error.tag, message: snap.run.error.message },
  },
  nodes: snap.nodes.map((n) => ({
    id: n.id,
    state: n.state,
    attempts: n.attempts,
    stalls: n.stalls,
    startedAt: n.startedAt,
    finishedAt: n.finishedAt,
    error: n.error && { tag: n.error.tag, message: n.error.message },
    history: n.history.map((h) => ({
      ...h,
      error: h.error && { tag: h.error.tag, message: h.error.message },
    })),
  })),
});
