/**
 * The JSON API (docs/dashboard.md) over the in-memory store: listings and
 * their filters, a run and a node, bad parameters named, authentication,
 * the CSRF checks and read-only mode, and the metrics text.
 */
import {
  chain,
  createClient,
  FailureRecord,
  group,
  handle,
  replace,
  Schema,
  startWorker,
  task,
  upsertSchedule,
} from "@weft/core";
import { scanSchedules } from "@weft/core/store";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createDashboard, parseAuth } from "../src/index.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const other = task({ name: "other", input: Schema.Int, output: Schema.Int });

const setup = async (opts: { auth?: string; readOnly?: boolean } = {}) => {
  const store = new MemoryStore();
  let t = 1_000;
  const now = () => t;
  const client = createClient(store, now);
  const app = createDashboard({
    store,
    now,
    ...(opts.auth === undefined ? {} : { auth: parseAuth(opts.auth) }),
    ...(opts.readOnly === undefined ? {} : { readOnly: opts.readOnly }),
  });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    t = 1_000 + i * 100;
    const run = await client.submit(i % 2 === 0 ? inc.si(i) : other.si(i), {
      tags: i < 2 ? ["early"] : [],
    });
    ids.push(run.runId);
  }
  return { store, app, ids, client };
};

const get = async (
  app: { request: (p: string, i?: RequestInit) => Response | Promise<Response> },
  path: string,
  init?: RequestInit,
) => {
  const r = await app.request(path, init);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & unknown[] };
};

describe("GET /api/runs", () => {
  it("lists runs newest first, filtered by task, tag, status and time, one page at a time", async () => {
    const { app, ids } = await setup();
    const all = await get(app, "/api/runs");
    expect((all.body.runs as Array<{ id: string }>).map((r) => r.id)).toEqual([...ids].reverse());
    const byTask = await get(app, "/api/runs?task=other");
    expect((byTask.body.runs as Array<{ id: string }>).map((r) => r.id)).toEqual([ids[3], ids[1]]);
    const byTag = await get(app, "/api/runs?tag=early");
    expect((byTag.body.runs as Array<{ id: string }>).map((r) => r.id)).toEqual([ids[1], ids[0]]);
    const byTime = await get(app, "/api/runs?from=1100&to=1300");
    expect((byTime.body.runs as Array<{ id: string }>).map((r) => r.id)).toEqual([
      ids[3],
      ids[2],
      ids[1],
    ]);
    const byStatus = await get(app, "/api/runs?status=succeeded");
    expect(byStatus.body.runs).toEqual([]);
    const page1 = await get(app, "/api/runs?limit=2");
    const page2 = await get(app, "/api/runs?limit=2&offset=2");
    const page3 = await get(app, "/api/runs?limit=2&offset=4");
    expect([page1.body.more, page2.body.more, page3.body.more]).toEqual([true, true, false]);
    expect(
      [page1, page2, page3].flatMap((p) => (p.body.runs as Array<{ id: string }>).map((r) => r.id)),
    ).toEqual([...ids].reverse());
  });

  it("finds a run by id", async () => {
    const { app, ids } = await setup();
    const found = await get(app, `/api/runs?id=${ids[2]}`);
    expect(
      (found.body.runs as Array<{ id: string; task: string }>).map((r) => [r.id, r.task]),
    ).toEqual([[ids[2], "inc"]]);
    expect((await get(app, "/api/runs?id=nope")).body.runs).toEqual([]);
  });

  it("answers 400 naming the bad parameter", async () => {
    const { app } = await setup();
    const bad = await get(app, "/api/runs?status=done");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("status must be one of");
    const badTime = await get(app, "/api/runs?from=yesterday");
    expect(badTime.status).toBe(400);
    expect(badTime.body.error).toContain("from must be epoch ms or an ISO date");
    expect((await get(app, "/api/runs?limit=-1")).body.error).toContain("limit");
  });
});

describe("GET /api/runs/:id and its nodes", () => {
  it("answers a run's nodes with their deps and states, and a stream cursor; a node with its input", async () => {
    const { app, client } = await setup();
    const run = await client.submit(group(inc.si(1), inc.si(2)));
    const r = await get(app, `/api/runs/${run.runId}`);
    expect(r.status).toBe(200);
    const nodes = r.body.nodes as Array<{
      id: number;
      task: string;
      state: string;
      deps: number[];
    }>;
    expect(nodes.map((n) => [n.id, n.task, n.state])).toEqual([
      [0, "inc", "queued"],
      [1, "inc", "queued"],
    ]);
    expect(typeof r.body.cursor).toBe("string");
    const node = await get(app, `/api/runs/${run.runId}/nodes/1`);
    expect(node.body.input).toBe(2);
    expect((await get(app, `/api/runs/${run.runId}/nodes/9`)).status).toBe(404);
    expect((await get(app, "/api/runs/nope")).status).toBe(404);
  });

  it("answers a running node's lease expiry, and none for a node that is not running", async () => {
    const { app, store, ids } = await setup();
    const [c] = await store.claim({
      workerId: "w1",
      queues: ["default"],
      max: 1,
      leaseMs: 30_000,
      now: 2_000,
    });
    expect(c?.runId).toBe(ids[0]);
    const running = await get(app, `/api/runs/${ids[0]}/nodes/0`);
    expect(running.body).toMatchObject({ state: "running", worker: "w1", leaseExpiresAt: 32_000 });
    await store.heartbeat([c!], { now: 10_000, leaseMs: 30_000 });
    expect((await get(app, `/api/runs/${ids[0]}/nodes/0`)).body.leaseExpiresAt).toBe(40_000);
    const queued = await get(app, `/api/runs/${ids[1]}/nodes/0`);
    expect(queued.body.state).toBe("queued");
    expect("leaseExpiresAt" in queued.body).toBe(false);
  });

  it("marks a callback's node with its kind, for the run page to draw it apart", async () => {
    const { app, client } = await setup();
    const alert = task({ name: "alert", input: FailureRecord, output: Schema.Void });
    const run = await client.submit(inc.si(1).onSuccess(inc.s()).onError(alert.s()));
    const r = await get(app, `/api/runs/${run.runId}`);
    const nodes = r.body.nodes as Array<{ task: string; callback?: string }>;
    expect(nodes.map((n) => [n.task, n.callback])).toEqual([
      ["inc", undefined],
      ["inc", "success"],
      ["alert", "error"],
    ]);
  });
});

describe("dynamic nodes", () => {
  it("marks a dynamic node with the node that added it; a replaced node's edges include its replacement's output", async () => {
    const { app, store } = await setup();
    const via = task({ name: "via", input: Schema.Int, output: Schema.Int });
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      handlers: [
        handle(inc, async (n) => n + 1),
        handle(via, async (n) => replace(chain(inc.si(n), inc.s()))),
      ],
    });
    const run = await createClient(store).submit(chain(via.si(1), inc.s()));
    await run.result({ timeout: 10_000 });
    await worker.stop();
    const r = await get(app, `/api/runs/${run.runId}`);
    const nodes = r.body.nodes as Array<{ task: string; deps: number[]; addedBy?: number }>;
    expect(nodes.map((n) => [n.task, n.deps, n.addedBy])).toEqual([
      ["via", [3], undefined],
      ["inc", [0], undefined],
      ["inc", [], 0],
      ["inc", [2], 0],
    ]);
  });
});

describe("workers, queues, locks, schedules", () => {
  it("lists workers, queue counts with consumers and unhandled parked tasks, locks, and no schedules yet", async () => {
    const { app, store } = await setup();
    const t = 1_000;
    await store.registerWorker(
      {
        id: "w1",
        host: "h",
        pid: 1,
        queues: ["default"],
        tasks: ["inc"],
        concurrency: 2,
        startedAt: t,
      },
      { now: t, ttlMs: 60_000 },
    );
    // a worker without "other" parks the "other" nodes it claims
    for (const c of await store.claim({
      workerId: "w1",
      queues: ["default"],
      max: 10,
      leaseMs: 10_000,
      now: t,
    }))
      if (c.spec.task === "other") await store.park(c, { now: t });
    await store.acquireLock({ name: "reports", owner: "w1/r/0/1", ttlMs: 5_000, now: t });
    const workers = (await get(app, "/api/workers")).body as unknown as Array<{ id: string }>;
    expect(workers.map((w) => w.id)).toEqual(["w1"]);
    const queues = (await get(app, "/api/queues")).body as unknown as Array<{
      queue: string;
      leased: number;
      parked: number;
      consumers: string[];
      unhandledTasks: string[];
    }>;
    expect(queues).toEqual([
      expect.objectContaining({
        queue: "default",
        leased: 3,
        parked: 2,
        consumers: ["w1"],
        unhandledTasks: ["other"],
      }),
    ]);
    const locks = (await get(app, "/api/locks")).body as unknown as Array<{ name: string }>;
    expect(locks.map((l) => l.name)).toEqual(["reports"]);
    expect((await get(app, "/api/schedules")).body).toEqual({ supported: true, schedules: [] });
  });
});

describe("schedules: list, pause, resume, trigger", () => {
  /** A store with two schedules, one of which fired its tick at 60 000. */
  const withSchedules = async (opts: { readOnly?: boolean } = {}) => {
    const store = new MemoryStore();
    let t = 1_000;
    const app = createDashboard({
      store,
      now: () => t,
      ...(opts.readOnly === undefined ? {} : { readOnly: opts.readOnly }),
    });
    await upsertSchedule(
      store,
      { id: "minutely", everyMs: 60_000, target: { task: "inc", input: 1 } },
      t,
    );
    await upsertSchedule(
      store,
      {
        id: "nightly",
        cron: "0 3 * * *",
        timezone: "Europe/Berlin",
        target: { task: "other", input: 2 },
      },
      t,
    );
    t = 60_500;
    const scan = await scanSchedules(store, t);
    expect(scan.fired.map((f) => [f.id, f.tick])).toEqual([["minutely", 60_000]]);
    const runId = scan.fired[0]!.runId;
    const set = (ms: number) => {
      t = ms;
    };
    return { store, app, runId, set };
  };
  const action = (
    app: Parameters<typeof get>[0],
    path: string,
    headers: Record<string, string> = { "X-Weft-Action": "1" },
  ) => get(app, path, { method: "POST", headers });
  type View = {
    id: string;
    paused: boolean;
    nextFireAt?: number;
    lastRun?: { tick: number; runId: string; status: string };
    submits: string;
    cron?: string;
    timezone?: string;
    everyMs?: number;
  };
  const list = async (app: Parameters<typeof get>[0]) =>
    (await get(app, "/api/schedules")).body.schedules as unknown as View[];

  it("lists schedules with when they fire, the next fire time, and the last run with its status", async () => {
    const { app, runId } = await withSchedules();
    expect((await get(app, "/api/config")).body.schedules).toBe(true);
    const [minutely, nightly] = await list(app);
    expect(minutely).toMatchObject({
      id: "minutely",
      everyMs: 60_000,
      submits: "inc",
      paused: false,
      nextFireAt: 120_000,
      lastRun: { tick: 60_000, runId, status: "running" },
    });
    // 03:00 in Berlin on 1 January 1970 (UTC+1) is 02:00 UTC
    expect(nightly).toMatchObject({
      id: "nightly",
      cron: "0 3 * * *",
      timezone: "Europe/Berlin",
      submits: "other",
      nextFireAt: 2 * 3_600_000,
    });
    expect(nightly?.lastRun).toBeUndefined();
  });

  it("pauses and resumes a schedule, and triggers a run now, with the action header", async () => {
    const { app, store, set } = await withSchedules();
    const paused = await action(app, "/api/schedules/minutely/pause");
    expect(paused).toEqual({ status: 200, body: { id: "minutely", paused: true } });
    const [p] = await list(app);
    expect(p?.paused).toBe(true);
    expect(p?.nextFireAt).toBeUndefined();
    expect((await store.getSchedule("minutely"))?.schedule.paused).toBe(true);
    set(70_000);
    expect(await action(app, "/api/schedules/minutely/resume")).toEqual({
      status: 200,
      body: { id: "minutely", paused: false },
    });
    expect((await list(app))[0]?.nextFireAt).toBe(120_000);
    const fired = await action(app, "/api/schedules/nightly/trigger");
    expect(fired.status).toBe(200);
    const runId = fired.body.runId as string;
    const snap = await store.getRun(runId);
    expect(snap?.run.tags).toEqual(expect.arrayContaining(["schedule:nightly", "trigger"]));
    expect(snap?.nodes[0]?.spec.task).toBe("other");
  });

  it("answers 404 for an unknown schedule", async () => {
    const { app } = await withSchedules();
    for (const a of ["pause", "resume", "trigger"]) {
      const r = await action(app, `/api/schedules/nope/${a}`);
      expect(r.status).toBe(404);
      expect(r.body.error).toContain('no schedule "nope"');
    }
  });

  it("refuses the actions without the action header, from another origin, or when read-only", async () => {
    const { app, store } = await withSchedules();
    const bare = await action(app, "/api/schedules/minutely/pause", {});
    expect(bare.status).toBe(403);
    expect(bare.body.error).toContain("X-Weft-Action");
    const cross = await action(app, "/api/schedules/minutely/trigger", {
      "X-Weft-Action": "1",
      Origin: "http://evil.example",
      Host: "127.0.0.1:7077",
    });
    expect(cross.status).toBe(403);
    expect((await store.getSchedule("minutely"))?.schedule.paused).toBe(false);
    expect(await store.listRuns({ limit: 10 })).toHaveLength(1);

    const ro = await withSchedules({ readOnly: true });
    for (const a of ["pause", "resume", "trigger"]) {
      const r = await action(ro.app, `/api/schedules/minutely/${a}`);
      expect(r.status).toBe(403);
      expect(r.body.error).toContain("read-only");
    }
    expect((await ro.store.getSchedule("minutely"))?.schedule.paused).toBe(false);
    expect(await ro.store.listRuns({ limit: 10 })).toHaveLength(1);
    // reading is still allowed
    expect((await list(ro.app)).map((v) => v.id)).toEqual(["minutely", "nightly"]);
  });
});

describe("GET /api/events", () => {
  it("streams a run's events after the cursor of its snapshot, as Server-Sent Events", async () => {
    const store = new MemoryStore();
    const stop = new AbortController();
    const app = createDashboard({ store, signal: stop.signal });
    try {
      const run = await createClient(store).submit(inc.si(1));
      const snap = (await (await app.request(`/api/runs/${run.runId}`)).json()) as {
        cursor: string;
      };
      await store.cancel(run.runId, { now: Date.now() });
      const res = await app.request(
        `/api/events?runId=${run.runId}&after=${encodeURIComponent(snap.cursor)}`,
      );
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const reader = res.body!.getReader();
      let text = "";
      while (!text.includes('"kind":"run-ended"')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      await reader.cancel();
      const data = text
        .split("\n")
        .filter((l) => l.startsWith("data: ") && l.length > 6)
        .flatMap((l) => JSON.parse(l.slice(6)) as Array<{ kind: string }>);
      // the queued event came before the snapshot: not sent again
      expect(data.map((e) => e.kind)).toEqual(["run", "cancelled", "run-ended"]);
      expect(text).toContain("event: events");
    } finally {
      stop.abort();
    }
  });
});

describe("actions: cancel, CSRF, read-only", () => {
  it("cancels a run with the action header, refuses one without it or from another origin", async () => {
    const { app, ids, store } = await setup();
    const url = `/api/runs/${ids[0]}/cancel`;
    const bare = await get(app, url, { method: "POST" });
    expect(bare.status).toBe(403);
    expect(bare.body.error).toContain("X-Weft-Action");
    const cross = await get(app, url, {
      method: "POST",
      headers: { "X-Weft-Action": "1", Origin: "http://evil.example", Host: "127.0.0.1:7077" },
    });
    expect(cross.status).toBe(403);
    expect(cross.body.error).toContain("cross-origin");
    expect((await store.getRun(ids[0]!))?.run.status).toBe("running");
    const ok = await get(app, url, {
      method: "POST",
      headers: { "X-Weft-Action": "1", Origin: "http://127.0.0.1:7077", Host: "127.0.0.1:7077" },
    });
    expect(ok.body).toEqual({ cancelled: true, status: "cancelled" });
    expect((await store.getRun(ids[0]!))?.run.status).toBe("cancelled");
  });

  it("refuses to cancel when read-only", async () => {
    const { app, ids, store } = await setup({ readOnly: true });
    const r = await get(app, `/api/runs/${ids[0]}/cancel`, {
      method: "POST",
      headers: { "X-Weft-Action": "1" },
    });
    expect(r.status).toBe(403);
    expect((await store.getRun(ids[0]!))?.run.status).toBe("running");
    expect((await get(app, "/api/config")).body.readOnly).toBe(true);
  });
});

describe("actions: re-drive", () => {
  it("re-drives a cancelled run behind the action header and same-origin check; refuses a running run or an unknown one", async () => {
    const { app, ids, store } = await setup();
    const url = `/api/runs/${ids[0]}/redrive`;
    const same = { Origin: "http://127.0.0.1:7077", Host: "127.0.0.1:7077" };
    const running = await get(app, url, {
      method: "POST",
      headers: { "X-Weft-Action": "1", ...same },
    });
    expect(running.status).toBe(409);
    expect(running.body.reason).toBe("not-ended");
    await store.cancel(ids[0]!, { now: 2_000 });
    const bare = await get(app, url, { method: "POST" });
    expect(bare.status).toBe(403);
    const cross = await get(app, url, {
      method: "POST",
      headers: { "X-Weft-Action": "1", Origin: "http://evil.example", Host: "127.0.0.1:7077" },
    });
    expect(cross.status).toBe(403);
    expect((await store.getRun(ids[0]!))?.run.status).toBe("cancelled");
    const ok = await get(app, url, { method: "POST", headers: { "X-Weft-Action": "1", ...same } });
    expect(ok.body).toEqual({ redriven: true, queued: 1, status: "running" });
    expect((await store.getRun(ids[0]!))?.run).toMatchObject({ status: "running", redrives: 1 });
    const missing = await get(app, "/api/runs/nope/redrive", {
      method: "POST",
      headers: { "X-Weft-Action": "1", ...same },
    });
    expect(missing.status).toBe(404);
  });

  it("refuses to re-drive when read-only", async () => {
    const { app, ids, store } = await setup({ readOnly: true });
    await store.cancel(ids[0]!, { now: 2_000 });
    const r = await get(app, `/api/runs/${ids[0]}/redrive`, {
      method: "POST",
      headers: { "X-Weft-Action": "1" },
    });
    expect(r.status).toBe(403);
    expect((await store.getRun(ids[0]!))?.run.status).toBe("cancelled");
  });
});

describe("actions: pause and resume a queue", () => {
  const same = { Origin: "http://127.0.0.1:7077", Host: "127.0.0.1:7077" };
  const claimable = (store: MemoryStore) =>
    store.claim({ workerId: "w", queues: ["default"], max: 10, leaseMs: 10_000, now: 5_000 });

  it("pauses a queue (its nodes stay queued, /api/queues says paused) and resumes it, behind the action header and same-origin check", async () => {
    const { app, store, ids } = await setup();
    expect((await get(app, "/api/queues/default/pause", { method: "POST" })).status).toBe(403);
    const cross = await get(app, "/api/queues/default/pause", {
      method: "POST",
      headers: { "X-Weft-Action": "1", Origin: "http://evil.example", Host: "127.0.0.1:7077" },
    });
    expect(cross.status).toBe(403);
    expect((await store.queueStats(["default"]))[0]?.paused).toBe(false);
    const paused = await get(app, "/api/queues/default/pause", {
      method: "POST",
      headers: { "X-Weft-Action": "1", ...same },
    });
    expect(paused.body).toEqual({ queue: "default", paused: true });
    const queues = (await get(app, "/api/queues")).body as unknown as Array<{
      queue: string;
      ready: number;
      paused: boolean;
    }>;
    expect(queues).toEqual([expect.objectContaining({ queue: "default", ready: 5, paused: true })]);
    expect(await claimable(store)).toEqual([]);
    const resumed = await get(app, "/api/queues/default/resume", {
      method: "POST",
      headers: { "X-Weft-Action": "1", ...same },
    });
    expect(resumed.body).toEqual({ queue: "default", paused: false });
    expect((await claimable(store)).map((c) => c.runId).sort()).toEqual([...ids].sort());
  });

  it("refuses to pause or resume when read-only", async () => {
    const { app, store } = await setup({ readOnly: true });
    const r = await get(app, "/api/queues/default/pause", {
      method: "POST",
      headers: { "X-Weft-Action": "1" },
    });
    expect(r.status).toBe(403);
    expect((await store.queueStats(["default"]))[0]?.paused).toBe(false);
    await store.pauseQueue("default");
    const back = await get(app, "/api/queues/default/resume", {
      method: "POST",
      headers: { "X-Weft-Action": "1" },
    });
    expect(back.status).toBe(403);
    expect((await store.queueStats(["default"]))[0]?.paused).toBe(true);
  });

  it("asks for the token before a pause when --auth is set", async () => {
    const { app, store } = await setup({ auth: "s3cret" });
    const r = await app.request("/api/queues/default/pause", {
      method: "POST",
      headers: { "X-Weft-Action": "1" },
    });
    expect(r.status).toBe(401);
    expect((await store.queueStats(["default"]))[0]?.paused).toBe(false);
    const ok = await app.request("/api/queues/default/pause", {
      method: "POST",
      headers: { "X-Weft-Action": "1", Authorization: "Bearer s3cret" },
    });
    expect(ok.status).toBe(200);
    expect((await store.queueStats(["default"]))[0]?.paused).toBe(true);
  });
});

describe("authentication", () => {
  it("with a bearer token: refuses without it, accepts the header, and ?token= sets a cookie", async () => {
    const { app } = await setup({ auth: "s3cret" });
    expect((await app.request("/api/runs")).status).toBe(401);
    expect((await app.request("/")).status).toBe(401);
    expect(
      (await app.request("/api/runs", { headers: { Authorization: "Bearer wrong" } })).status,
    ).toBe(401);
    expect(
      (await app.request("/api/runs", { headers: { Authorization: "Bearer s3cret" } })).status,
    ).toBe(200);
    const first = await app.request("/?token=s3cret");
    expect(first.status).toBe(200);
    const cookie = first.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(
      (await app.request("/api/runs", { headers: { Cookie: cookie.split(";")[0]! } })).status,
    ).toBe(200);
  });

  it("with user:pass: asks for Basic credentials and accepts them", async () => {
    const { app } = await setup({ auth: "ops:pw" });
    const refused = await app.request("/api/runs");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain("Basic");
    const basic = `Basic ${Buffer.from("ops:pw").toString("base64")}`;
    expect((await app.request("/api/runs", { headers: { Authorization: basic } })).status).toBe(
      200,
    );
  });

  it("parseAuth names --auth for bad values", () => {
    expect(() => parseAuth("")).toThrow("--auth");
    expect(() => parseAuth("user:")).toThrow("--auth");
    expect(parseAuth("tok")).toEqual({ kind: "bearer", token: "tok" });
  });
});

describe("pages and metrics", () => {
  it("serves the page, its modules and dagre", async () => {
    const { app } = await setup();
    const page = await app.request("/");
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const dagre = await app.request("/vendor/dagre.js");
    expect(dagre.headers.get("content-type")).toContain("javascript");
    expect(await dagre.text()).toContain("export{");
    expect((await app.request("/nope.js")).status).toBe(404);
  });

  it("/metrics has runs by status and queue depth in Prometheus format", async () => {
    const { app } = await setup();
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain('weft_runs{status="running"} 5');
    expect(text).toContain('weft_queue_nodes{queue="default",state="ready"} 5');
  });

  it("/metrics counts node outcomes by task from the event stream, from the first scrape on", async () => {
    const store = new MemoryStore();
    const stop = new AbortController();
    const app = createDashboard({ store, signal: stop.signal });
    try {
      await app.request("/metrics"); // starts the stream reader
      const run = await createClient(store).submit(group(inc.si(1), inc.si(2)));
      const worker = startWorker({
        store,
        logger: pino({ level: "silent" }),
        handlers: [handle(inc, async (n) => n + 1)],
      });
      await run.result({ timeout: 10_000 });
      await worker.stop();
      // the reader sees the events after they are appended: scrape until it has
      let text = "";
      for (let i = 0; i < 100 && !text.includes('kind="succeeded",task="inc"} 2'); i++) {
        await store.readEvents({ after: "now", blockMs: 20 }); // a store-clock wait, not a sleep
        text = await (await app.request("/metrics")).text();
      }
      expect(text).toContain('weft_node_events_total{kind="succeeded",task="inc"} 2');
      expect(text).toContain("weft_lease_expiries_total 0");
    } finally {
      stop.abort();
    }
  });
});

describe("createDashboard's store", () => {
  it("refuses what is not a store, such as the Promise of RedisStore.connect without its await", async () => {
    const pending = Promise.resolve(new MemoryStore());
    expect(() => createDashboard({ store: pending as never })).toThrow(
      "invalid store: createDashboard's store option takes a store (RedisStore, MemoryStore); it got a Promise (await RedisStore.connect(url) before passing its store)",
    );
    await pending;
  });
});

describe("the dashboard's options from JavaScript", () => {
  it("refuses an auth given as a string, a port that is not one, and no options, naming them", async () => {
    const { startDashboard } = await import("../src/index.ts");
    const store = new MemoryStore();
    const refused = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(await refused(() => createDashboard({ store, auth: "tok" as never }))).toMatch(
      /^createDashboard's auth must be \{ kind: "bearer", token \} or .*, got a string$/,
    );
    expect(await refused(() => createDashboard(undefined as never))).toMatch(
      /^createDashboard takes an options object/,
    );
    expect(await refused(() => startDashboard({ store, port: "x" as never }))).toBe(
      `startDashboard's port must be an integer from 0 to 65535, got "x"`,
    );
    expect(await refused(() => startDashboard({ store, port: 70_000 }))).toMatch(
      /port must be an integer from 0 to 65535, got 70000$/,
    );
    expect(await refused(() => createDashboard({ store, now: 5 as never }))).toMatch(
      /now must be a function/,
    );
  });
});
