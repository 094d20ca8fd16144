/**
 * Reporting a worker's failures to an error tracker, the way a Sentry
 * integration does for Celery (`task_failure` signal → `capture_exception`):
 * worker hooks (`startWorker({ hooks })`, docs/operations.md "Worker
 * hooks") build one event per node that failed for good, tagged with the
 * task, run, node, attempt and worker, with the node's input as extra data,
 * and POST it as JSON to the tracker's ingest URL. Retried attempts become
 * breadcrumbs of the event, as Sentry keeps them.
 *
 * The hooks never fail an attempt: a tracker that is down is logged by the
 * worker and the run goes on.
 */
import type { AttemptEnd, NodeFailure, WorkerHooks } from "@weft/core";

/** An error event, in the spirit of Sentry's event payload (a subset of its fields). */
export interface ErrorEvent {
  /** 32 hex characters, unique per event. */
  readonly event_id: string;
  /** Seconds since the epoch. */
  readonly timestamp: number;
  readonly level: "error";
  readonly platform: "node";
  readonly environment: string;
  /** `type`: the error's tag; `value`: its message. */
  readonly exception: {
    readonly values: ReadonlyArray<{ readonly type: string; readonly value: string }>;
  };
  readonly tags: Readonly<Record<string, string>>;
  readonly extra: { readonly input?: unknown; readonly durationMs: number };
  /** Earlier attempts of the same node that failed and were retried, oldest first. */
  readonly breadcrumbs: ReadonlyArray<{ readonly message: string; readonly timestamp: number }>;
}

/** Options of {@link errorReportingHooks}. */
export interface ReportingOptions {
  /** The tracker's ingest URL: each event is POSTed there as JSON. */
  readonly url: string;
  /** Sent as the event's `environment`. Default `"production"`. */
  readonly environment?: string;
  /** How to send (for tests and proxies). Default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** Retried attempts kept per node as breadcrumbs, at most. */
const BREADCRUMBS = 20;

const hex32 = (): string => crypto.randomUUID().replaceAll("-", "");

/**
 * Worker hooks that send each node failed for good to an error tracker.
 *
 * @example
 * startWorker({ store, handlers, hooks: errorReportingHooks({ url: "http://127.0.0.1:9000/api/1/store/" }) })
 *
 * @throws Error (from the hook, logged by the worker) when the tracker answers with a non-2xx status.
 */
export const errorReportingHooks = (opts: ReportingOptions): WorkerHooks => {
  const send = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  /** Retried attempts per node (`runId:nodeId`), dropped once the node ends. */
  const retried = new Map<string, Array<{ message: string; timestamp: number }>>();
  const keyOf = (a: { runId: string; nodeId: number }) => `${a.runId}:${a.nodeId}`;

  const onAttemptEnd = (e: AttemptEnd): void => {
    const key = keyOf(e);
    if (e.outcome === "failed" && e.retry) {
      const crumbs = retried.get(key) ?? [];
      crumbs.push({
        message: `attempt ${e.attempt} failed (${e.error?.tag}: ${e.error?.message}); retrying`,
        timestamp: now() / 1_000,
      });
      retried.set(key, crumbs.slice(-BREADCRUMBS));
    } else if (e.outcome === "succeeded") retried.delete(key);
  };

  const onNodeFailed = async (f: NodeFailure): Promise<void> => {
    const breadcrumbs = retried.get(keyOf(f)) ?? [];
    retried.delete(keyOf(f));
    const event: ErrorEvent = {
      event_id: hex32(),
      timestamp: now() / 1_000,
      level: "error",
      platform: "node",
      environment: opts.environment ?? "production",
      exception: { values: [{ type: f.error.tag, value: f.error.message }] },
      tags: {
        task: f.task,
        run_id: f.runId,
        node_id: String(f.nodeId),
        attempt: String(f.attempt),
        worker: f.workerId,
      },
      extra: { ...(f.input === undefined ? {} : { input: f.input }), durationMs: f.durationMs },
      breadcrumbs,
    };
    const res = await send(opts.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    if (!res.ok)
      throw new Error(`error tracker answered ${res.status} for event ${event.event_id}`);
  };

  return { onAttemptEnd, onNodeFailed };
};
