/**
 * A worker's Prometheus metrics, from its hooks (docs/operations.md,
 * "Metrics"): `startWorker({ hooks: m.hooks })`, then serve `m.scrape()`
 * (`weft worker --metrics-port` does both).
 *
 * - `weft_attempts_total{task,outcome}`: attempts ended, `succeeded`,
 *   `retried` (failed, another attempt scheduled) or `failed` (for good);
 * - `weft_attempt_duration_seconds{task,outcome}`: their durations
 *   (histogram, seconds as Prometheus wants);
 * - `weft_retries_total{task}`: attempts that failed and will be retried;
 * - `weft_nodes_failed_total{task,tag}`: nodes this worker failed for good,
 *   by error tag;
 * - `weft_attempts_running{task}`: attempts running now;
 * - and prom-client's default process metrics (CPU, memory, event loop lag),
 *   prefixed `weft_worker_`.
 */
import type { WorkerHooks } from "@weft/core";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Scrape } from "./Metrics.ts";

/** A worker's metrics: the hooks that feed them and a scrape of them. */
export interface WorkerMetrics {
  readonly hooks: WorkerHooks;
  readonly scrape: Scrape;
  /** The prom-client registry, to add an application's own metrics. */
  readonly registry: Registry;
}

/** Histogram buckets of attempt durations, seconds: 5 ms to 5 min. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Builds a worker's metrics on a registry of their own. */
export const workerMetrics = (opts: { readonly defaultMetrics?: boolean } = {}): WorkerMetrics => {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "weft_worker_" });
  const attempts = new Counter({
    name: "weft_attempts_total",
    help: "Attempts ended, by task and outcome (succeeded, retried, failed)",
    labelNames: ["task", "outcome"],
    registers: [registry],
  });
  const durations = new Histogram({
    name: "weft_attempt_duration_seconds",
    help: "Attempt durations (input decoding to output encoding), seconds",
    labelNames: ["task", "outcome"],
    buckets: BUCKETS,
    registers: [registry],
  });
  const retries = new Counter({
    name: "weft_retries_total",
    help: "Failed attempts that will be retried after a backoff",
    labelNames: ["task"],
    registers: [registry],
  });
  const failed = new Counter({
    name: "weft_nodes_failed_total",
    help: "Nodes this worker failed for good, by task and error tag",
    labelNames: ["task", "tag"],
    registers: [registry],
  });
  const running = new Gauge({
    name: "weft_attempts_running",
    help: "Attempts running now",
    labelNames: ["task"],
    registers: [registry],
  });
  return {
    registry,
    hooks: {
      onAttemptStart: (a) => {
        running.inc({ task: a.task });
      },
      onAttemptEnd: (e) => {
        running.dec({ task: e.task });
        const outcome = e.outcome === "succeeded" ? "succeeded" : e.retry ? "retried" : "failed";
        attempts.inc({ task: e.task, outcome });
        durations.observe({ task: e.task, outcome }, e.durationMs / 1000);
        if (outcome === "retried") retries.inc({ task: e.task });
      },
      onNodeFailed: (f) => {
        failed.inc({ task: f.task, tag: f.error.tag });
      },
    },
    scrape: async () => ({ type: registry.contentType, body: await registry.metrics() }),
  };
};
