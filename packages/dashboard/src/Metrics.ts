/**
 * The dashboard's `/metrics` in the Prometheus text format (prom-client),
 * read from the store at each scrape (docs/operations.md, "Metrics"):
 *
 * - `weft_runs{status}`: runs by status among the most recent
 *   `RECENT_RUNS` runs the store lists;
 * - `weft_queue_nodes{queue,state}`: nodes ready, delayed, leased and
 *   parked per queue (the queues of live workers and recent runs);
 * - `weft_workers{alive}`: registered workers, alive or not;
 * - `weft_node_events_total{kind,task}`: node outcomes as the event stream
 *   reports them (`succeeded`, `failed`, `retrying`, `skipped`,
 *   `cancelled`, `expired`), by task, counted from the first scrape on;
 * - `weft_lease_expiries_total`: leases that expired (`lease-expired`
 *   events; `expired` events without a task on stores that name them so).
 *
 * A scrape costs one `listRuns`, one `listWorkers` and one `queueStats`;
 * the counters come from one reader of the event stream (a blocking read at
 * a time), started by the first scrape and stopped by `signal`.
 */
import type { Store, WeftEvent } from "@weft/core";
import { Counter, Gauge, Registry } from "prom-client";

/**
 * Whether an event reports a lease that expired: `lease-expired`, or, from a
 * store that names it `expired`, an `expired` event without a task (an
 * `expired` node transition carries its task).
 */
const isLeaseExpiry = (e: WeftEvent): boolean =>
  (e.kind as string) === "lease-expired" || (e.kind === "expired" && !("task" in e));

/** Runs looked at per scrape for `weft_runs`. */
export const RECENT_RUNS = 1_000;

/** A scrape function: the metrics text and its content type. */
export type Scrape = () => Promise<{ readonly type: string; readonly body: string }>;

/** Builds the dashboard's metrics over `store`; each call of the result scrapes it. */
export const dashboardMetrics = (store: Store, now: () => number, signal?: AbortSignal): Scrape => {
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
  const outcomes = new Counter({
    name: "weft_node_events_total",
    help: "Node outcomes from the event stream, by kind and task, since the first scrape",
    labelNames: ["kind", "task"],
    registers: [registry],
  });
  const expiries = new Counter({
    name: "weft_lease_expiries_total",
    help: "Leases that expired (the node was re-delivered), since the first scrape",
    registers: [registry],
  });
  const OUTCOMES = new Set(["succeeded", "failed", "retrying", "skipped", "cancelled", "expired"]);
  let following: Promise<void> | undefined;
  /** Resolves once the reader holds its starting position, so no event after the scrape is missed. */
  const follow = async (stop: AbortSignal): Promise<void> => {
    let cursor = (await store.readEvents({ after: "now", count: 1 })).cursor;
    const loop = async () => {
      while (!stop.aborted) {
        try {
          const batch = await store.readEvents({ after: cursor, blockMs: 1_000, count: 1_000 });
          cursor = batch.cursor;
          for (const e of batch.events) {
            if (isLeaseExpiry(e)) expiries.inc();
            else if (OUTCOMES.has(e.kind) && "task" in e)
              outcomes.inc({ kind: e.kind, task: e.task });
          }
        } catch {
          // the store is unreachable: try again after a pause, counters keep their values
          if (!stop.aborted) await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    };
    void loop();
  };
  return async () => {
    if (signal && !signal.aborted && following === undefined) following = follow(signal);
    await following?.catch(() => undefined);
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
