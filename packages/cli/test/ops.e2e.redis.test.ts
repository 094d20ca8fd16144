/**
 * `weft watch`, `runs` filters, `inspect` inputs and results, `queues` and
 * `locks` on a private Redis: the CLI opens its own connection from
 * `--redis`, as an operator's would, while this process submits runs and
 * plays workers.
 */
import { chain, createClient, group, startWorker } from "@weft/core";
import { deferred, type WorkerInfo } from "@weft/core/store";
import { createDashboard } from "@weft/dashboard";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handlers } from "./fixtures/handlers.ts";
import { add, boom, count, double } from "./fixtures/tasks.ts";
import { captureCli } from "./support.ts";

let redis: RedisServer;
let n = 0;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

/** A fresh prefix, a store on it, and the CLI pointed at it. */
const setup = async () => {
  const prefix = `ops${++n}`;
  const store = await RedisStore.connect(redis.url, { prefix });
  const cli = (argv: ReadonlyArray<string>, now?: () => number) =>
    captureCli([...argv, "--redis", redis.url, "--prefix", prefix], now ? { now } : {});
  return { store, cli, client: createClient(store) };
};

const silent = pino({ level: "silent" });

const worker = (store: RedisStore) =>
  startWorker({ store, handlers, logger: silent, concurrency: 2, idleMs: 100, workerId: "w-ok" });

const registration = (id: string, tasks: string[], queues = ["default"]): WorkerInfo => ({
  id,
  host: "test",
  pid: 0,
  queues,
  tasks,
  concurrency: 1,
  startedAt: Date.now(),
});

describe("weft watch", () => {
  it("prints one line per event of a run, live, and ends with the run: exit 0 when it succeeded", async () => {
    const { store, cli, client } = await setup();
    try {
      const run = await client.submit(chain(add.si({ a: 1, b: 2 }), double.s()));
      const watching = cli(["watch", run.runId]);
      const w = worker(store);
      try {
        const r = await watching;
        expect(r.code).toBe(0);
        const lines = r.stdout
          .trimEnd()
          .split("\n")
          .map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} {2}/, ""));
        expect(lines).toEqual([
          "#0 math.add  queued",
          "#0 math.add  started  attempt 1",
          "#0 math.add  succeeded  attempt 1",
          "#1 math.double  queued",
          "#1 math.double  started  attempt 1",
          "#1 math.double  succeeded  attempt 1",
          `run ${run.runId}  ended succeeded`,
        ]);
      } finally {
        await w.stop();
      }
    } finally {
      await store.close();
    }
  });

  it("exits 1 for a run that failed, after its error tag; a run that does not exist is an error", async () => {
    const { store, cli, client } = await setup();
    const w = worker(store);
    try {
      const run = await client.submit(chain(add.si({ a: 1, b: 2 }), boom.s()));
      await run.result({ timeout: 20_000 }).catch(() => undefined);
      const r = await cli(["watch", run.runId]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("#1 math.boom  failed  attempt 1  NonRetryableError\n");
      expect(r.stdout.trimEnd().split("\n").at(-1)).toMatch(/run \S+ {2}ended failed$/);
      const missing = await cli(["watch", "no-such-run"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("run no-such-run not found");
    } finally {
      await w.stop();
      await store.close();
    }
  });
});

describe("weft runs, inspect", () => {
  it("filters runs by --status, --task and --tag, with a task column", async () => {
    const { store, cli, client } = await setup();
    const w = worker(store);
    try {
      const ok = await client.submit(add.si({ a: 1, b: 1 }), { tags: ["nightly"] });
      const bad = await client.submit(boom.si(3), { tags: ["nightly"] });
      const other = await client.submit(count.si({ n: 1 }), { tags: ["adhoc"] });
      await ok.result({ timeout: 20_000 });
      await other.result({ timeout: 20_000 });
      await bad.result({ timeout: 20_000 }).catch(() => undefined);
      const ids = async (...args: string[]) =>
        (JSON.parse((await cli(["runs", "--json", ...args])).stdout) as Array<{ id: string }>).map(
          (r) => r.id,
        );
      expect(await ids("--status", "failed")).toEqual([bad.runId]);
      expect(await ids("--task", "math.add")).toEqual([ok.runId]);
      expect((await ids("--tag", "nightly")).sort()).toEqual([ok.runId, bad.runId].sort());
      expect(await ids("--tag", "nightly", "--status", "succeeded")).toEqual([ok.runId]);
      const table = await cli(["runs", "--task", "spam.count"]);
      expect(table.stdout).toMatch(new RegExp(`^${other.runId} +spam\\.count +succeeded `, "m"));
      const wrong = await cli(["runs", "--status", "done"]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("--status");
    } finally {
      await w.stop();
      await store.close();
    }
  });

  it("inspect --json carries each node's input and result, a long one truncated", async () => {
    const { store, cli, client } = await setup();
    const w = worker(store);
    try {
      const run = await client.submit(group(count.si({ n: 7 }), add.si({ a: 2, b: 3 })));
      await run.result({ timeout: 20_000 });
      const j = JSON.parse((await cli(["inspect", run.runId, "--json"])).stdout) as {
        nodes: Array<{ input: unknown; result: unknown }>;
      };
      expect(j.nodes.map((x) => [x.input, x.result])).toEqual([
        [{ n: 7 }, 7],
        [{ a: 2, b: 3 }, 5],
      ]);
      const human = (await cli(["inspect", run.runId])).stdout;
      expect(human).toContain('input {"n":7}');
      expect(human).toContain("result 5");
    } finally {
      await w.stop();
      await store.close();
    }
  });

  it("inspect shows a running node's dead worker, its last heartbeat and the lease's expiry", async () => {
    const { store, cli, client } = await setup();
    try {
      const run = await client.submit(add.si({ a: 1, b: 1 }));
      const t0 = Date.now();
      await store.registerWorker(registration("w-dead", ["math.add"]), { now: t0, ttlMs: 1_000 });
      const [claim] = await store.claim({
        workerId: "w-dead",
        queues: ["default"],
        max: 1,
        leaseMs: 600_000,
        now: t0,
      });
      expect(claim?.runId).toBe(run.runId);
      // read at a clock reading past the registration's expiry: the worker is dead
      const r = await cli(["inspect", run.runId], () => t0 + 61_000);
      expect(r.stdout).toContain(
        "worker w-dead is dead: last heartbeat 1 min 1 s ago; the node is re-delivered when its lease expires",
      );
      // and when: the lease's expiry, read from the queue's leases
      const until = new Date(t0 + 600_000).toISOString().replace("T", " ").replace("Z", " UTC");
      expect(r.stdout).toContain(`lease expires in 8 min 59 s (${until})`);
      const late = await cli(["inspect", run.runId], () => t0 + 660_000);
      expect(late.stdout).toContain(
        "lease expired 1 min 0 s ago: the node is re-delivered at the next maintenance tick",
      );
    } finally {
      await store.close();
    }
  });
});

describe("weft queues, locks", () => {
  it("counts nodes per queue with consumers, and names queues and parked tasks no live worker takes", async () => {
    const { store, cli, client } = await setup();
    try {
      await client.submit(add.si({ a: 1, b: 1 }).with({ queue: "nobody" }));
      await client.submit(group(count.si({ n: 1 }), count.si({ n: 2 })));
      const now = Date.now();
      await store.registerWorker(registration("w-math", ["math.add"]), { now, ttlMs: 60_000 });
      // a worker without spam.count claims one and parks it
      const [c] = await store.claim({
        workerId: "w-math",
        queues: ["default"],
        max: 1,
        leaseMs: 60_000,
        now,
      });
      await store.park(c!, { now });
      const r = await cli(["queues"]);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines.slice(0, 3).map((l) => l.split(/ +/))).toEqual([
        ["QUEUE", "READY", "DELAYED", "LEASED", "PARKED", "THROUGHPUT", "CONSUMERS"],
        ["default", "1", "0", "0", "1", "0/min", "1"],
        ["nobody", "1", "0", "0", "0", "0/min", "0"],
      ]);
      expect(lines).toContain("queue nobody: no live worker consumes it (1 nodes wait)");
      expect(lines).toContain(
        "queue default: no live worker handles task spam.count (1 node parked)",
      );
      const j = JSON.parse((await cli(["queues", "--json", "--queue", "default"])).stdout);
      expect(j).toEqual([
        {
          queue: "default",
          ready: 1,
          delayed: 0,
          leased: 0,
          parked: 1,
          parkedTasks: [{ task: "spam.count", count: 1 }],
          paused: false,
          consumers: ["w-math"],
          throughput: { windowMs: 60_000, finished: 0, succeeded: 0, failed: 0 },
        },
      ]);
    } finally {
      await store.close();
    }
  });

  it("reports the attempts a live worker finished in the last minute, per queue, from its heartbeat", async () => {
    const { store, cli, client } = await setup();
    try {
      // a registration that publishes `want` finished attempts on `queue` resolves `published`
      const want = { queue: "io", total: 5 };
      const published = deferred<void>();
      const register = store.registerWorker.bind(store);
      store.registerWorker = async (info, opts) => {
        await register(info, opts);
        const c = info.finished?.[want.queue];
        if (c && c.succeeded + c.failed === want.total) published.resolve();
      };
      const w = startWorker({
        store,
        handlers,
        queues: ["default", "io"],
        logger: silent,
        concurrency: 2,
        idleMs: 100,
        heartbeatMs: 20,
        workerId: "w-io",
      });
      try {
        const ok = await client.submit(
          group(...[1, 2, 3, 4].map((n) => double.si(n).with({ queue: "io" }))),
        );
        const bad = await client.submit(boom.si(1).with({ queue: "io" }));
        expect(await ok.result({ timeout: 20_000 })).toEqual([2, 4, 6, 8]);
        await expect(bad.result({ timeout: 20_000 })).rejects.toThrow();
        await published.promise;
        const j = JSON.parse((await cli(["queues", "--json", "-q", "io", "-q", "default"])).stdout);
        expect(
          j.map((q: { queue: string; throughput: unknown }) => [q.queue, q.throughput]),
        ).toEqual([
          ["io", { windowMs: 60_000, finished: 5, succeeded: 4, failed: 1 }],
          ["default", { windowMs: 60_000, finished: 0, succeeded: 0, failed: 0 }],
        ]);
        const table = (await cli(["queues", "-q", "io"])).stdout.trimEnd().split("\n");
        expect(table.slice(0, 2).map((l) => l.split(/ +/))).toEqual([
          ["QUEUE", "READY", "DELAYED", "LEASED", "PARKED", "THROUGHPUT", "CONSUMERS"],
          ["io", "0", "0", "0", "0", "5/min", "1"],
        ]);
        expect(table[2]).toBe(
          "throughput: attempts finished in the last 60 s, live workers, as of their last heartbeat",
        );
        // the dashboard's API sums the same registrations
        const app = createDashboard({ store });
        const api = (await (await app.request("/api/queues?queue=io")).json()) as Array<{
          throughput: unknown;
        }>;
        expect(api.map((q) => q.throughput)).toEqual([
          { windowMs: 60_000, finished: 5, succeeded: 4, failed: 1 },
        ]);
      } finally {
        await w.stop();
      }
      // a stopped worker unregisters: its attempts no longer count
      expect(
        JSON.parse((await cli(["queues", "--json", "-q", "io"])).stdout)[0].throughput,
      ).toEqual({ windowMs: 60_000, finished: 0, succeeded: 0, failed: 0 });
    } finally {
      await store.close();
    }
  });

  it("pauses and resumes a queue for every worker: queues shows it paused, a worker runs its nodes once resumed", async () => {
    const { store, cli, client } = await setup();
    try {
      expect(await cli(["queues", "pause", "default"])).toMatchObject({
        code: 0,
        stdout: "queue default paused\n",
      });
      const run = await client.submit(add.si({ a: 2, b: 3 }));
      const shown = await cli(["queues", "--queue", "default"]);
      expect(shown.stdout).toContain(
        "queue default: paused, no node of it is claimed (1 nodes wait; weft queues resume default)",
      );
      expect(
        JSON.parse((await cli(["queues", "--json", "-q", "default"])).stdout)[0],
      ).toMatchObject({ queue: "default", ready: 1, paused: true });
      const w = worker(store);
      try {
        // a worker on the paused queue takes nothing: the claim is answered, the node still waits
        expect(
          await store.claim({
            workerId: "probe",
            queues: ["default"],
            max: 1,
            leaseMs: 1_000,
            now: Date.now(),
          }),
        ).toEqual([]);
        expect((await store.getRun(run.runId))?.nodes[0]?.state).toBe("queued");
        expect(await cli(["queues", "resume", "default"])).toMatchObject({
          code: 0,
          stdout: "queue default resumed\n",
        });
        expect(await run.result({ timeout: 20_000 })).toBe(5);
      } finally {
        await w.stop();
      }
      expect((await store.queueStats(["default"]))[0]?.paused).toBe(false);
    } finally {
      await store.close();
    }
  });

  it("lists locks with holder, fencing token and expiry", async () => {
    const { store, cli } = await setup();
    try {
      expect((await cli(["locks"])).stdout).toBe("no locks\n");
      const now = Date.now();
      const token = await store.acquireLock({
        name: "ledger",
        owner: "w1/r1/0/7",
        ttlMs: 30_000,
        now,
      });
      const r = await cli(["locks"], () => now + 10_000);
      expect(r.stdout.trimEnd().split("\n")).toEqual([
        "LOCK    HOLDER     TOKEN  EXPIRES",
        `ledger  w1/r1/0/7  ${token}      in 20.00 s`,
      ]);
      const j = JSON.parse((await cli(["locks", "--json"])).stdout);
      expect(j).toEqual([{ name: "ledger", owner: "w1/r1/0/7", token, expiresAt: now + 30_000 }]);
    } finally {
      await store.close();
    }
  });
});
