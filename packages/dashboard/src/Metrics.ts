/**
 * The dashboard's `/metrics` in the Prometheus text format (prom-client),
 * read from the store at each scrape (docs/operations.md, "Metrics"):
 *
 * - `weft_runs{status}`: runs by status among the most recent
 *   `RECENT_RUNS` runs the store lists;
 * - `weft_queue_nodes{queue,state}`: nodes ready, delayed, leased and
 *   parked per queue (the queues of live workers and recent runs);
 * - `weft_workers{alive}`: registered workers, alive or not.
 *
 * A scrape costs one `listRuns`, one `listWorkers` and one `queueStats`.
 */
import type { Store } from "@weft/core";
import { Gauge, Registry } from "prom-client";

/** Runs looked at per scrape for `weft_runs`. */
export const RECENT_RUNS = 1_000;

/** A scrape function: the metrics text and its content type. */
export type Scrape = () => Promise<{ readonly type: string; readonly body: string }>;

/** Builds the dashboard's metrics over `store`; each call of the result scrapes it. */
export const dashboardMetrics = (store: Store, now: () => number): Scrape => {
  const registry = new Registry();
  const runs = new Gauge({
    name: "weft_runs",
    help: `Runs by status among the ${RECENT_RUNS} most recent`,
    labelNames: ["status"],
    registers: [registry],
  });
  const queueNodes = new Gauge({
    name: "weft_queue_nodes",
    help: "Nodes per queue: ready, delayed (retry backoff), leased, parked",
    labelNames: ["queue", "state"],
    registers: [registry],
  });
  const workers = new Gauge({
    name: "weft_workers",
    help: "Registered workers, alive or dead (not yet pruned)",
    labelNames: ["alive"],
    registers: [registry],
  });
  return async () => {
    const [recent, present] = await Promise.all([
      store.listRuns({ limit: RECENT_RUNS }),
      store.listWorkers({ now: now() }),
    ]);
    runs.reset();
    for (const status of ["pending", "running", "succeeded", "failed", "cancelled"])
      runs.set({ status }, recent.filter((r) => r.status === status).length);
    workers.reset();
    workers.set({ alive: "true" }, present.filter((w) => w.alive).length);
    workers.set({ alive: "false" }, present.filter((w) => !w.alive).length);
    const names = [
      ...new Set([
        ...present.filter((w) => w.alive).flatMap((w) => w.queues),
        ...recent.flatMap((r) => r.queues),
      ]),
    ].sort();
    queueNodes.reset();
    for (const s of await store.queueStats(names)) {
      queueNodes.set({ queue: s.queue, state: "ready" }, s.ready);
      queueNodes.set({ queue: s.queue, state: "delayed" }, s.delayed);
      queueNodes.set({ queue: s.queue, state: "leased" }, s.leased);
      queueNodes.set({ queue: s.queue, state: "parked" }, s.parked);
    }
    return { type: registry.contentType, body: await registry.metrics() };
  };
};
