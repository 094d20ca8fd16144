/**
 * The dashboard's JSON API under `/api/` (docs/dashboard.md): runs, a run,
 * a node's values, workers, queues, locks, schedules, the event stream as
 * Server-Sent Events, cancelling and re-driving a run, pausing and
 * resuming a queue, and pausing, resuming and triggering a schedule. Every read is a bounded number
 * of store calls: a run is one `getRun` (on Redis a few pipelined HMGETs per
 * 1 000 nodes), live updates come from `readEvents`, never per-node polling.
 */
import {
  attemptHistory,
  type BeatStore,
  nextFireAt,
  type RunSnapshot,
  type RunStatus,
  ScheduleNotFound,
  type ScheduleRecord,
  type Store,
  triggerSchedule,
} from "@weft/core";
import type { Shape } from "@weft/core/store";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";

/** What the API needs besides the store. */
export interface ApiOptions {
  readonly store: Store;
  /** Refuse cancel and every other state-changing request (HTTP 403). */
  readonly readOnly: boolean;
  /** Clock, epoch ms. */
  readonly now: () => number;
  /** Aborted when the dashboard stops: ends open event streams. */
  readonly signal: AbortSignal;
}

const RUN_STATUSES: ReadonlyArray<RunStatus> = [
  "pending",
  "running",
  "succeeded",
  "failed",
  "cancelled",
];

/** Runs looked at for one page of `/api/runs`, at most (the store's own bound is 10 000 per shard). */
const MAX_SCAN = 10_000;

/** Longest JSON text of a value shown whole; longer ones are cut (`truncated`). */
const VALUE_CHARS = 64_000;

/** A value made JSON-safe (bytes, bigints, maps), cut when its JSON is longer than `VALUE_CHARS`. */
const jsonValue = (value: unknown): unknown => {
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return { bytes: v.length };
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    return v;
  });
  if (text === undefined) return null;
  if (text.length <= VALUE_CHARS) return JSON.parse(text) as unknown;
  return { truncated: true, chars: text.length, preview: text.slice(0, VALUE_CHARS) };
};

/** A 400 reply naming the bad field. */
class BadRequest extends Error {}

const intParam = (name: string, raw: string | undefined, dflt: number, max: number): number => {
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new BadRequest(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(raw)}`);
  return n;
};

const timeParam = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined || raw === "") return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(n))
    throw new BadRequest(`${name} must be epoch ms or an ISO date, got ${JSON.stringify(raw)}`);
  return n;
};

/** The node ids of an output shape (a replaced node's `replacedBy`), those an empty group waits on (`after`) included. */
const idsOf = (shape: Shape): number[] =>
  typeof shape === "number"
    ? [shape]
    : [
        ...(shape.after === undefined ? [] : idsOf(shape.after)),
        ...("list" in shape ? shape.list : shape.settled).flatMap((s) => idsOf(s)),
      ];

/** A run's nodes as the run page draws them: no bound inputs (see `/nodes/:id`), attempts included. */
const runView = (snap: RunSnapshot) => ({
  run: snap.run,
  nodes: snap.nodes.map((n) => ({
    id: n.id,
    task: n.spec.task,
    queue: n.spec.queue,
    priority: n.spec.priority,
    // a replaced node also waits on its replacement's output nodes: drawn as edges too
    deps:
      n.spec.replacedBy === undefined
        ? n.spec.deps
        : [...new Set([...n.spec.deps, ...idsOf(n.spec.replacedBy)])],
    ...(n.spec.callback === undefined ? {} : { callback: n.spec.callback }),
    ...(n.spec.addedBy === undefined ? {} : { addedBy: n.spec.addedBy }),
    state: n.state,
    attempts: n.attempts,
    stalls: n.stalls,
    ...(n.startedAt === undefined ? {} : { startedAt: n.startedAt }),
    ...(n.finishedAt === undefined ? {} : { finishedAt: n.finishedAt }),
    ...(n.worker === undefined ? {} : { worker: n.worker }),
    ...(n.dueAt === undefined ? {} : { dueAt: n.dueAt }),
    ...(n.token === undefined ? {} : { token: n.token }),
    ...(n.error === undefined ? {} : { error: { tag: n.error.tag, message: n.error.message } }),
    ...(n.progress === undefined ? {} : { progress: n.progress }),
    history: attemptHistory(n).map((h) => ({
      attempt: h.attempt,
      worker: h.worker,
      startedAt: h.startedAt,
      endedAt: h.endedAt,
      outcome: h.outcome,
      ...(h.error === undefined ? {} : { errorTag: h.error.tag }),
    })),
  })),
});

/**
 * A schedule as the schedules page shows it: when it fires, what it
 * submits, its next fire time (jitter included; absent while paused), its
 * last tick, and its last run with that run's status (`expired` once the
 * run is gone after its retention). One `getRun` per schedule with a run.
 */
const scheduleView = async (store: Store, rec: ScheduleRecord, now: number) => {
  const s = rec.schedule;
  const next = nextFireAt(rec, now);
  const last = rec.state.lastRun;
  const status = last ? ((await store.getRun(last.runId))?.run.status ?? "expired") : undefined;
  return {
    id: s.id,
    ...(s.cron === undefined ? {} : { cron: s.cron, timezone: s.timezone ?? "UTC" }),
    ...(s.everyMs === undefined ? {} : { everyMs: s.everyMs }),
    submits: "task" in s.target ? s.target.task : `canvas (${s.target.dag.nodes.length} nodes)`,
    overlap: s.overlap,
    catchupWindowMs: s.catchupWindowMs,
    jitterMs: s.jitterMs,
    paused: s.paused,
    ...(next === undefined ? {} : { nextFireAt: next }),
    ...(rec.state.lastTick === undefined ? {} : { lastTick: rec.state.lastTick }),
    ...(last && status ? { lastRun: { tick: last.tick, runId: last.runId, status } } : {}),
    ...(rec.state.buffered === undefined ? {} : { buffered: rec.state.buffered }),
    updatedAt: rec.updatedAt,
  };
};

/** The store as a schedule store, when it is one (both Weft stores are). */
const scheduleStoreOf = async (store: Store): Promise<BeatStore | undefined> => {
  const { isScheduleStore } = await import("@weft/core/store");
  return isScheduleStore(store) ? store : undefined;
};

/** The `/api` routes. */
export const api = (opts: ApiOptions): Hono => {
  const { store, now } = opts;
  const app = new Hono();

  app.onError((e, c) => {
    if (e instanceof BadRequest) return c.json({ error: e.message }, 400);
    return c.json({ error: e instanceof Error ? e.message : String(e) }, 500);
  });

  app.get("/config", async (c) =>
    c.json({
      readOnly: opts.readOnly,
      store: store.name,
      schedules: (await scheduleStoreOf(store)) !== undefined,
    }),
  );

  app.get("/runs", async (c) => {
    const q = c.req.query();
    const limit = intParam("limit", q.limit, 50, 500) || 50;
    const offset = intParam("offset", q.offset, 0, MAX_SCAN);
    const from = timeParam("from", q.from);
    const to = timeParam("to", q.to);
    const status = q.status === undefined || q.status === "" ? undefined : q.status;
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus))
      throw new BadRequest(
        `status must be one of ${RUN_STATUSES.join(", ")}, got ${JSON.stringify(status)}`,
      );
    const id = q.id?.trim();
    if (id) {
      // search by id: the run itself, if it exists
      const snap = await store.getRun(id);
      if (!snap) return c.json({ runs: [], offset: 0, more: false });
      return c.json({
        runs: [{ ...snap.run, task: snap.nodes[0]?.spec.task ?? "" }],
        offset: 0,
        more: false,
      });
    }
    const timed = from !== undefined || to !== undefined;
    const wanted = offset + limit + 1;
    const listed = await store.listRuns({
      limit: timed ? MAX_SCAN : Math.min(wanted, MAX_SCAN),
      ...(status === undefined ? {} : { status: status as RunStatus }),
      ...(q.task ? { task: q.task } : {}),
      ...(q.tag ? { tag: q.tag } : {}),
    });
    const inTime = listed.filter(
      (r) => (from === undefined || r.createdAt >= from) && (to === undefined || r.createdAt <= to),
    );
    const page = inTime.slice(offset, offset + limit);
    return c.json({ runs: page, offset, more: inTime.length > offset + limit });
  });

  app.get("/runs/:id", async (c) => {
    const runId = c.req.param("id");
    // the stream's position before the read: events after it (`cursor`) bring the snapshot up to date
    const { cursor } = await store.readEvents({ after: "now", runId, count: 1 });
    const snap = await store.getRun(runId);
    if (!snap) return c.json({ error: `no run ${JSON.stringify(runId)}` }, 404);
    return c.json({ ...runView(snap), cursor });
  });

  app.get("/runs/:id/nodes/:node", async (c) => {
    const runId = c.req.param("id");
    const nodeId = intParam("node", c.req.param("node"), 0, 10_000_000);
    const snap = await store.getRun(runId);
    const n = snap?.nodes[nodeId];
    if (!snap || !n) return c.json({ error: `no node ${nodeId} in run ${runId}` }, 404);
    let result: unknown;
    if (n.state === "succeeded") {
      const bytes = await store.getResult(runId, nodeId);
      if (bytes !== undefined) {
        const { decode } = await import("@weft/core/store");
        try {
          result = jsonValue(decode(bytes));
        } catch (e) {
          result = { undecodable: e instanceof Error ? e.message : String(e) };
        }
      }
    }
    // a running node's lease: one ZSCORE of its queue's leases for this node only
    const lease =
      n.state === "running" && n.token !== undefined
        ? (await store.leaseExpiries([{ runId, nodeId, queue: n.spec.queue, token: n.token }]))[0]
        : undefined;
    return c.json({
      ...runView({ run: snap.run, nodes: [n] }).nodes[0],
      ...(lease === undefined ? {} : { leaseExpiresAt: lease }),
      ...(n.spec.bound === null || n.spec.bound === undefined
        ? {}
        : { input: jsonValue(n.spec.bound) }),
      ...(result === undefined ? {} : { result }),
      ...(n.error === undefined ? {} : { error: n.error }),
      history: attemptHistory(n),
    });
  });

  app.post("/runs/:id/cancel", async (c) => {
    if (opts.readOnly) return c.json({ error: "the dashboard is read-only" }, 403);
    const runId = c.req.param("id");
    const cancelled = await store.cancel(runId, { now: now() });
    const snap = await store.getRun(runId);
    if (!snap) return c.json({ error: `no run ${JSON.stringify(runId)}` }, 404);
    return c.json({ cancelled, status: snap.run.status });
  });

  // re-drives a run that ended failed or cancelled (docs/concepts.md, "Re-driving a run"):
  // 409 with the store's reason when it cannot be (not ended, a node still running, succeeded)
  app.post("/runs/:id/redrive", async (c) => {
    if (opts.readOnly) return c.json({ error: "the dashboard is read-only" }, 403);
    const runId = c.req.param("id");
    const r = await store.redrive(runId, { now: now() });
    if (!r.ok && r.reason === "not-found")
      return c.json({ error: `no run ${JSON.stringify(runId)}` }, 404);
    if (!r.ok)
      return c.json(
        {
          error: `run ${JSON.stringify(runId)} cannot be re-driven: ${r.reason}`,
          reason: r.reason,
        },
        409,
      );
    const snap = await store.getRun(runId);
    return c.json({ redriven: true, queued: r.queued, status: snap?.run.status ?? "running" });
  });

  app.get("/workers", async (c) => c.json(await store.listWorkers({ now: now() })));

  app.get("/queues", async (c) => {
    const workers = await store.listWorkers({ now: now() });
    const live = workers.filter((w) => w.alive);
    const runs = await store.listRuns({ limit: 100 });
    const names = c.req.queries("queue") ?? [
      ...new Set([...live.flatMap((w) => w.queues), ...runs.flatMap((r) => r.queues)]),
    ];
    const stats = await store.queueStats([...names].sort());
    const { queueThroughput } = await import("@weft/core/store");
    return c.json(
      stats.map((s) => {
        const consumers = live.filter((w) => w.queues.includes(s.queue));
        return {
          ...s,
          consumers: consumers.map((w) => w.id),
          // attempts finished in the last 60 s, as the live workers published them (docs/dashboard.md)
          throughput: queueThroughput(live, s.queue),
          // parked tasks that no live consumer of this queue handles
          unhandledTasks: s.parkedTasks
            .filter((p) => !consumers.some((w) => w.tasks.includes(p.task)))
            .map((p) => p.task),
        };
      }),
    );
  });

  // pause, resume a queue (docs/operations.md, "Pausing a queue"): state-changing, so behind
  // the CSRF checks (Dashboard.ts) and read-only; a queue need not exist to be paused
  for (const [action, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    app.post(`/queues/:queue/${action}`, async (c) => {
      if (opts.readOnly) return c.json({ error: "the dashboard is read-only" }, 403);
      const queue = c.req.param("queue");
      if (paused) await store.pauseQueue(queue);
      else await store.resumeQueue(queue);
      return c.json({ queue, paused });
    });
  }

  app.get("/locks", async (c) => c.json(await store.listLocks()));

  app.get("/schedules", async (c) => {
    const ss = await scheduleStoreOf(store);
    if (!ss) return c.json({ supported: false, schedules: [] });
    const t = now();
    const records = await ss.listSchedules();
    return c.json({
      supported: true,
      schedules: await Promise.all(records.map((r) => scheduleView(store, r, t))),
    });
  });

  // pause, resume, trigger: state-changing, so behind the CSRF checks (Dashboard.ts) and read-only
  for (const [action, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    app.post(`/schedules/:id/${action}`, async (c) => {
      if (opts.readOnly) return c.json({ error: "the dashboard is read-only" }, 403);
      const id = c.req.param("id");
      const ss = await scheduleStoreOf(store);
      if (!ss) return c.json({ error: `store ${store.name} does not keep schedules` }, 404);
      if (!(await ss.pauseSchedule(id, paused, { now: now() })))
        return c.json({ error: new ScheduleNotFound({ id }).message }, 404);
      return c.json({ id, paused });
    });
  }

  app.post("/schedules/:id/trigger", async (c) => {
    if (opts.readOnly) return c.json({ error: "the dashboard is read-only" }, 403);
    const id = c.req.param("id");
    const ss = await scheduleStoreOf(store);
    if (!ss) return c.json({ error: `store ${store.name} does not keep schedules` }, 404);
    try {
      return c.json({ id, runId: await triggerSchedule(ss, id, now()) });
    } catch (e) {
      if (e instanceof ScheduleNotFound) return c.json({ error: e.message }, 404);
      throw e;
    }
  });

  app.get("/events", (c) => {
    const runId = c.req.query("runId") || undefined;
    const after = c.req.query("after") || c.req.header("last-event-id") || "now";
    return streamSSE(c, async (stream) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      stream.onAbort(stop);
      opts.signal.addEventListener("abort", stop, { once: true });
      let cursor = after;
      try {
        while (!ac.signal.aborted) {
          const batch = await store.readEvents({
            after: cursor,
            ...(runId === undefined ? {} : { runId }),
            blockMs: 1_000,
            count: 500,
          });
          cursor = batch.cursor;
          if (ac.signal.aborted) break;
          if (batch.events.length === 0) {
            await stream.writeSSE({ event: "ping", data: "", id: cursor });
            continue;
          }
          await stream.writeSSE({
            event: "events",
            data: JSON.stringify(batch.events),
            id: cursor,
          });
        }
      } catch (e) {
        if (!ac.signal.aborted)
          await stream
            .writeSSE({ event: "failure", data: e instanceof Error ? e.message : String(e) })
            .catch(() => undefined);
      } finally {
        opts.signal.removeEventListener("abort", stop);
      }
    });
  });

  return app;
};
