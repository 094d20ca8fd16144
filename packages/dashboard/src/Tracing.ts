/**
 * OpenTelemetry traces of a worker's attempts, through `@opentelemetry/api`
 * only: without an SDK registered the API is a no-op, so this costs next to
 * nothing until an application installs one (docs/operations.md, "Traces").
 *
 * - **One trace per run**: every attempt of a run, on any worker, is in the
 *   trace whose id is derived from the run id (the first 16 bytes of
 *   SHA-256 of it), so a run's spans line up without passing any context
 *   through the store.
 * - **One node span per node**: every attempt of a node is a child of one
 *   remote span whose id is derived from the run id and node id
 *   ({@link nodeSpanId}: SHA-256 of `node:<runId>:<nodeId>`), never
 *   exported (a run-level span of your own can take {@link runSpanId}).
 * - **Links, not parents, for fan-in**: an attempt's span links to the
 *   nodes it depends on (`AttemptInfo.deps`: a chain's previous step,
 *   every member of a chord's header), each link with `weft.node_id`: to
 *   the exact attempt span that produced the dependency's result when that
 *   attempt was traced (its span id rides with the result: `attemptSpan`,
 *   `AttemptInfo.depSpans`), else to the dependency's derived node span.
 *   A chord body over a million members is one span with a million links,
 *   not a parent with a million children (BullMQ #2942); no worker reads
 *   another's spans, and with tracing off nothing is stored.
 * - **One span per attempt**, named after the task, with the attributes
 *   `weft.run_id`, `weft.node_id`, `weft.task`, `weft.attempt`,
 *   `weft.worker_id`, and at its end `weft.outcome` (`succeeded`,
 *   `retried`, `failed`) and `weft.error_tag`; a failed attempt has status
 *   ERROR and records the exception its handler threw.
 * - **Context propagated into handlers** (through the worker's
 *   `wrapHandler`): inside a handler, `trace.getActiveSpan()` is the
 *   attempt's span, and spans the handler starts (an HTTP client's, a
 *   database driver's) are its children, given a context manager (the
 *   Node SDK installs one).
 */
import { createHash } from "node:crypto";
import {
  type Context,
  context,
  isSpanContextValid,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { AttemptInfo, WorkerHooks } from "@weft/core";

/** The trace id of a run's spans: 32 hex digits from SHA-256 of the run id. */
export const runTraceId = (runId: string): string =>
  createHash("sha256").update(runId).digest("hex").slice(0, 32);

/** The id of the run's (remote, never exported) parent span: 16 hex digits. */
export const runSpanId = (runId: string): string =>
  createHash("sha256").update(`run:${runId}`).digest("hex").slice(0, 16);

/** The id of a node's (remote, never exported) span, the parent of its attempts: 16 hex digits. */
export const nodeSpanId = (runId: string, nodeId: number): string =>
  createHash("sha256").update(`node:${runId}:${nodeId}`).digest("hex").slice(0, 16);

/** The span context of a node's span: what its attempts' spans have as parent and dependents link to. */
const nodeSpanContext = (runId: string, nodeId: number): SpanContext => ({
  traceId: runTraceId(runId),
  spanId: nodeSpanId(runId, nodeId),
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
});

/** The context whose active span is the node's span, under `base`. */
const nodeContext = (runId: string, nodeId: number, base: Context): Context =>
  trace.setSpanContext(base, nodeSpanContext(runId, nodeId));

const keyOf = (a: AttemptInfo) => `${a.runId}#${a.nodeId}#${a.attempt}`;

/**
 * Worker hooks that trace attempts: `startWorker({ hooks: tracingHooks() })`
 * (combine them with others with `combineHooks`).
 *
 * @param tracer default `trace.getTracer("weft")`, read from the global
 *   provider at each attempt, so an SDK registered later is used.
 */
export const tracingHooks = (opts: { readonly tracer?: Tracer } = {}): WorkerHooks => {
  const open = new Map<string, Span>();
  const tracer = () => opts.tracer ?? trace.getTracer("weft");
  const start = (a: AttemptInfo): Span => {
    const span = tracer().startSpan(
      a.task,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          "weft.run_id": a.runId,
          "weft.node_id": a.nodeId,
          "weft.task": a.task,
          "weft.attempt": a.attempt,
          "weft.worker_id": a.workerId,
        },
        links: a.deps.map((d, i) => {
          const exact = a.depSpans?.[i];
          return {
            context: exact
              ? { ...nodeSpanContext(a.runId, d), spanId: exact }
              : nodeSpanContext(a.runId, d),
            attributes: { "weft.node_id": d },
          };
        }),
      },
      nodeContext(a.runId, a.nodeId, context.active()),
    );
    open.set(keyOf(a), span);
    return span;
  };
  return {
    // the span id the worker records with a succeeded attempt's result: only a recording span's
    // (without an SDK, or sampled out, the span is not recorded and carries its parent's
    // context: nothing is stored, and dependents link to the node span)
    attemptSpan: (a) => {
      const span = open.get(keyOf(a));
      if (!span?.isRecording()) return undefined;
      const sc = span.spanContext();
      return isSpanContextValid(sc) ? sc.spanId : undefined;
    },
    wrapHandler: async (a, run) => {
      const span = open.get(keyOf(a)) ?? start(a);
      try {
        return await context.with(trace.setSpan(context.active(), span), run);
      } catch (e) {
        span.recordException(e instanceof Error ? e : String(e));
        throw e;
      }
    },
    onAttemptEnd: (e) => {
      // an attempt that failed before its handler ran (bad input) still gets its span
      const span = open.get(keyOf(e)) ?? start(e);
      open.delete(keyOf(e));
      const outcome = e.outcome === "succeeded" ? "succeeded" : e.retry ? "retried" : "failed";
      span.setAttribute("weft.outcome", outcome);
      if (e.error) {
        span.setAttribute("weft.error_tag", e.error.tag);
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: `${e.error.tag}: ${e.error.message}`,
        });
      } else span.setStatus({ code: SpanStatusCode.OK });
      span.end();
    },
  };
};
