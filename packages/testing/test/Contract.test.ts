/**
 * The contract (docs/guarantees.md) under the deterministic simulator:
 * random canvases, random handler outcomes and random fault plans, run by
 * the real worker and client runtimes on virtual time. Each property names
 * the guarantee it holds by its number in docs/guarantees.md.
 * WEFT_PROPERTY_RUNS sets the number of cases, and the time limit grows with
 * it.
 */
import { test } from "@fast-check/vitest";
import { delay, handle, type RetryPolicy, Schema, type Settled, task } from "@weft/core";
import { type CanvasNode, compile, policyOf, shapeValue } from "@weft/core/store";
import fc from "fast-check";
import { describe, expect } from "vitest";
import { arbCanvas, arbFaultPlan, arbRetryPolicy, simulate } from "../src/index.ts";
import { propertyRuns, propertyTimeoutMs } from "../src/internal/properties.ts";

const runs = propertyRuns(30);
/** A generous bound per case: a simulated case takes about 20 ms on a quiet 2-core machine. */
const timeout = propertyTimeoutMs(runs, 250);

/**
 * A generated case: a canvas whose every node echoes its own id, a policy, a
 * fault plan and a seed; with `links`, random callbacks attached.
 */
const arbCaseOf = (links: boolean) =>
  fc
    .record({
      policy: arbRetryPolicy(),
      plan: arbFaultPlan(),
      seed: fc.integer(),
      workers: fc.integer({ min: 1, max: 3 }),
    })
    .chain(({ policy, ...rest }) => {
      const echo = task({
        name: "echo",
        input: Schema.Unknown,
        output: Schema.Int,
        timeoutMs: 3_000,
        retry: policy,
      });
      const leaf = (queue: string): CanvasNode => ({
        kind: "sig",
        task: echo,
        bind: { kind: "whole" },
        bound: undefined,
        options: { queue },
      });
      const root: CanvasNode = {
        kind: "sig",
        task: echo,
        bind: { kind: "immutable" },
        bound: null,
        options: {},
      };
      return arbCanvas({ queues: ["default", "io"], leaf, links }).map((c) => ({
        ...rest,
        policy,
        echo,
        canvas: { node: { kind: "chain", steps: [root, c.node] } as CanvasNode },
      }));
    });
const arbCase = arbCaseOf(false);

type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

const run = async (c: Case) => {
  const handlers = [handle(c.echo, async (_input, ctx) => ctx.nodeId)];
  const r = await simulate({
    canvas: c.canvas,
    handlers,
    seed: c.seed,
    faults: c.plan,
    workers: c.workers,
    queues: ["default", "io"],
  });
  return { r, dag: compile(c.canvas) };
};

describe("the contract under simulation (memory store, real runtimes, virtual time)", () => {
  test.prop([arbCase], { numRuns: runs })(
    "guarantee 5: every run ends: succeeded, failed or cancelled",
    async (c) => {
      const { r } = await run(c);
      expect(r.ended).toBe(true);
      expect(["succeeded", "failed", "cancelled"]).toContain(r.snapshot.run.status);
      expect(r.snapshot.run.ended).toBe(r.snapshot.run.total);
    },
    timeout,
  );

  test.prop([arbCase], { numRuns: runs })(
    "guarantee 3: a node runs only after all its dependencies succeeded (settled edges: ended)",
    async (c) => {
      const { r } = await run(c);
      for (const e of r.executions) expect(e.unmetDeps).toEqual([]);
    },
    timeout,
  );

  test.prop([arbCase], { numRuns: runs })(
    "guarantee 2: each node's result is recorded exactly once; stale reports are rejected",
    async (c) => {
      const { r } = await run(c);
      expect(r.store.violations).toEqual([]);
      r.snapshot.nodes.forEach((n) => {
        const accepted = r.store.reports.filter(
          (x) => x.nodeId === n.id && x.kind === "complete" && x.accepted,
        );
        expect(accepted.length).toBe(n.state === "succeeded" ? 1 : 0);
      });
      for (const x of r.store.reports) if (x.fault === "late") expect(x.accepted).toBe(false);
    },
    timeout,
  );

  test.prop([arbCase], { numRuns: runs })(
    "guarantee 4: a node receives its upstream results in declaration order, whatever the completion order",
    async (c) => {
      const { r, dag } = await run(c);
      const outcome = (id: number): Settled<unknown> => {
        const n = r.snapshot.nodes[id]!;
        return n.state === "succeeded"
          ? { ok: true, value: id }
          : { ok: false, error: n.error ?? { tag: n.state, message: n.state, retryable: false } };
      };
      for (const e of r.executions) {
        const arg = dag.nodes[e.nodeId]!.arg;
        expect(e.input).toEqual(arg === null ? null : shapeValue(arg, outcome));
      }
    },
    timeout,
  );

  test.prop([arbCase], { numRuns: runs })(
    "guarantee 7: attempts and delays follow the policy exactly (same random source)",
    async (c) => {
      const { r, dag } = await run(c);
      for (const x of r.store.reports.filter((y) => y.kind === "fail" && y.accepted)) {
        const policy: RetryPolicy = policyOf(dag.nodes[x.nodeId]!);
        const failures = x.attempt - x.stalls;
        if (x.retryAt === null) {
          // failed for good: the error could not be retried or the attempts were used up
          expect(x.error!.retryable === false || failures >= policy.maxAttempts).toBe(true);
        } else {
          expect(x.error!.retryable).toBe(true);
          expect(failures).toBeLessThan(policy.maxAttempts);
          expect(x.retryAt - x.at).toBe(delay(policy, failures, () => x.draw!));
          // the next delivery of the node comes no earlier than the retry time
          const next = r.store.deliveries.find(
            (d) => d.nodeId === x.nodeId && d.attempt === x.attempt + 1,
          );
          if (next) expect(next.at).toBeGreaterThanOrEqual(x.retryAt);
        }
      }
    },
    timeout,
  );

  test.prop([arbCase], { numRuns: runs })(
    "guarantees 5 and 7: a non-retryable error stops at once; a node failed for good skips its dependents with the reason",
    async (c) => {
      const { r, dag } = await run(c);
      for (const x of r.store.reports.filter(
        (y) => y.kind === "fail" && y.accepted && !y.error!.retryable,
      )) {
        expect(x.retryAt).toBeNull();
        expect(r.snapshot.nodes[x.nodeId]!.state).toBe("failed");
      }
      for (const n of r.snapshot.nodes.filter((m) => m.state === "failed")) {
        for (const d of dag.nodes[n.id]!.dependents) {
          const dep = r.snapshot.nodes[d]!;
          expect(dep.state).toBe("skipped");
        }
        if (!dag.nodes[n.id]!.tolerant) expect(r.snapshot.run.status).toBe("failed");
      }
      for (const n of r.snapshot.nodes.filter((m) => m.state === "skipped")) {
        expect(n.error?.message).toMatch(
          /^(upstream node \d+ \(echo\) (failed|skipped)|run failed before)/,
        );
      }
    },
    timeout,
  );

  test.prop([arbCaseOf(true)], { numRuns: runs })(
    "callbacks: each error callback runs once for its node's failure, with its final error and its input, and never otherwise; a callback never fails the run (celery #3709)",
    async (c) => {
      const { r, dag } = await run(c);
      expect(r.ended).toBe(true);
      expect(r.store.violations).toEqual([]);
      const nodes = r.snapshot.nodes;
      const ran = (id: number) => nodes[id]!.state === "succeeded" || nodes[id]!.state === "failed";
      for (const n of dag.nodes) {
        if (n.callback === undefined) continue;
        const final = r.store.reports.filter(
          (x) => x.nodeId === n.id && x.accepted && (x.kind === "complete" || x.retryAt === null),
        );
        // a callback's outcome is recorded once, whatever the crashes and duplicate deliveries
        // (a node that stalled out too often fails without a report)
        expect(final.length).toBe(nodes[n.id]!.state === "succeeded" ? 1 : final.length);
        expect(final.length).toBeLessThanOrEqual(ran(n.id) ? 1 : 0);
        if (n.failure === undefined) continue;
        const f = n.failure.node;
        // an error callback's entry runs exactly when its node failed for good
        expect(ran(n.id)).toBe(nodes[f]!.state === "failed");
        if (!ran(n.id)) {
          expect(r.executions.some((e) => e.nodeId === n.id)).toBe(false);
          continue;
        }
        // (a node that stalled out may never have executed: then its input was never seen)
        const failed = r.executions.find((e) => e.nodeId === f);
        for (const e of r.executions.filter((x) => x.nodeId === n.id)) {
          expect(e.input).toMatchObject({
            runId: r.runId,
            nodeId: f,
            task: "echo",
            error: { tag: nodes[f]!.error!.tag, message: nodes[f]!.error!.message },
          });
          if (failed) expect((e.input as { input: unknown }).input).toEqual(failed.input);
        }
      }
      // the run's error is never a callback's
      const failedNode = r.snapshot.run.failedNode;
      if (failedNode !== undefined) expect(dag.nodes[failedNode]!.callback).toBeUndefined();
      const status = r.snapshot.run.status;
      const mainFailed = nodes.some((m) => m.state === "failed" && !dag.nodes[m.id]!.tolerant);
      expect(status).toBe(mainFailed ? "failed" : "succeeded");
    },
    timeout,
  );
});
