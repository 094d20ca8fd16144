/**
 * Weft on a real Redis Cluster: 3 primaries with a replica each, formed on
 * loopback ports for this file (`startRedisCluster`). The conformance suite,
 * a worker killed with SIGKILL, a primary killed under running workers, an
 * acknowledged completion whose primary dies at once, a graceful failover,
 * and an ACL user. Each test that kills a primary starts it again (it
 * rejoins as its old replica's replica), so every test finds three
 * primaries with a replica each.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  chain,
  chord,
  createClient,
  handle,
  Schema,
  type Store,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import {
  type Claim,
  type CompleteOptions,
  deferred,
  encode,
  type ReportResult,
} from "@weft/core/store";
import { type RedisCluster, startRedisCluster } from "@weft/testing";
import { limitConformance, storeConformance, type Tamper } from "@weft/testing/conformance";
import { Cluster, Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLUSTER_SETTINGS,
  RedisStore,
  type RedisStoreOptions,
  type ReplicationShortfall,
} from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { LIBRARY } from "../src/Scripts.ts";
import { inc, slow } from "./fixtures/tasks.ts";

let cluster: RedisCluster;
let n = 0;
beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
});
afterAll(async () => {
  await cluster?.stop();
});

const silent = pino({ level: "silent" });
const prefixes = new WeakMap<Store, string>();
const connect = async (prefix: string, opts: RedisStoreOptions = {}) => {
  const store = await RedisStore.connect(cluster.url, { prefix, ...opts });
  prefixes.set(store, prefix);
  return store;
};

/** The shard index a run id names (`<id>.sNN`). */
const shardOfRun = (runId: string): number => Number(/\.s(\d+)$/.exec(runId)?.[1] ?? 0);

const tamper: Tamper = async (store, runId, nodeId) => {
  const k = shardKeys(prefixes.get(store)!, shardOfRun(runId)).run(runId);
  const garbage = nodeId % 2 === 0 ? Buffer.from([0x93, 0x01]) : Buffer.from("garbage");
  await (store as RedisStore).redis.hset(k.nodes, `n${nodeId}`, garbage);
};

// every store method on 16 shards spread over 3 primaries, with replicated durability
storeConformance("redis cluster", () => connect(`cl${++n}`), { runs: 10, tamper });

// rate limits and concurrency keys: each log and each key's slots is a hash tag of its own,
// apart from the shards' (a call on them never mixes slots)
limitConformance("redis cluster", () => connect(`clim${++n}`), { runs: 3 });

/** Runs `fn` on a connection of its own to every node of the cluster, at once. */
const eachNode = (fn: (node: Redis, port: number) => Promise<unknown>) =>
  Promise.all(
    cluster.nodes.map(async ({ port }) => {
      const node = new Redis({ port, lazyConnect: true });
      try {
        await fn(node, port);
      } finally {
        node.disconnect();
      }
    }),
  );

describe("redis cluster: connecting", () => {
  const withUser = (user: string) =>
    cluster.url.replace("redis+cluster://", `redis+cluster://${user}@`);

  it("runs as an ACL user with the grants docs/operations.md lists, set on every node", async () => {
    // the rule docs/operations.md gives for a cluster, for the key prefix "acl"
    const grants = ["resetkeys", "~acl:*", "resetchannels", "&acl:*", "-@all"];
    grants.push("+@read", "+@write", "+@scripting", "+@connection", "+@blocking", "+@pubsub");
    grants.push("-@dangerous", "+info", "+cluster|slots", "+cluster|info");
    await eachNode((node) => node.acl("SETUSER", "weft", "on", ">s3cret-weft", ...grants));
    await eachNode((node) =>
      node.acl("SETUSER", "nocluster", "on", ">s3cret-nocluster", ...grants, "-cluster|slots"),
    );
    const store = await RedisStore.connect(withUser("weft:s3cret-weft"), { prefix: "acl" });
    expect(store.name).toBe(withUser("weft:***"));
    expect(store.name).not.toContain("s3cret");
    const started = reaching(() => 1, 1);
    let why: unknown;
    const hang = task({ name: "hang", input: Schema.Int, output: Schema.Int });
    const worker = startWorker({
      store,
      logger: silent,
      // no heartbeat before the test ends: only the cancellation signal (PUBLISH, SUBSCRIBE) can abort
      heartbeatMs: 3_600_000,
      leaseMs: 10_800_000,
      handlers: [
        ...handlers,
        handle(hang, (_n, ctx) => {
          started.tick();
          return new Promise<number>((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              why = ctx.signal.reason;
              reject(ctx.signal.reason);
            }),
          );
        }),
      ],
    });
    try {
      const client = createClient(store);
      const run = await client.submit(chain(step.si(1), step.s(), step.s()), {
        idempotencyKey: "acl",
      });
      expect(await run.result({ timeout: 20_000 })).toBe(4);
      const hung = await client.submit(hang.si(1));
      await started.reached;
      expect(await client.cancel(hung.runId)).toBe(true);
      // quiet: the handler has reported its abort, so `why` is set
      await expect(hung.result({ timeout: 20_000, waitForQuiet: true })).rejects.toThrow();
      expect(why).toMatchObject({ name: "Cancelled" });
      expect(
        await store.acquireLock({ name: "acl", owner: "me", ttlMs: 1_000, now: Date.now() }),
      ).toBeGreaterThan(0);
      expect((await store.listRuns({ limit: 5 })).map((r) => r.id).sort()).toEqual(
        [run.runId, hung.runId].sort(),
      );
    } finally {
      await worker.stop();
      await store.close();
    }

    // without CLUSTER SLOTS the client cannot learn the slot map
    const e = await RedisStore.connect(withUser("nocluster:s3cret-nocluster"), {
      prefix: "acl",
      connectTimeoutMs: 3_000,
    }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("permission");
    expect((e as StoreUnavailable).message).toMatch(/refused a command to this user: NOPERM/);
    expect((e as StoreUnavailable).message).not.toContain("s3cret");
  });

  it("connects by one node's redis:// URL with cluster: true, on 16 shards spread over every primary", async () => {
    const seed = cluster.startupNodes[0]!;
    const store = await RedisStore.connect(`redis://${seed.host}:${seed.port}`, {
      prefix: "seed",
      cluster: true,
    });
    try {
      expect(store.cluster).toBe(true);
      const runs = await Promise.all(
        Array.from({ length: 32 }, (_, i) => createClient(store).submit(step.si(i))),
      );
      const shards = new Set(runs.map((r) => shardOfRun(r.runId)));
      expect(Math.max(...shards)).toBeLessThan(16);
      expect(shards.size).toBeGreaterThan(1);
      const owners = new Set<number>();
      for (let i = 0; i < 16; i++) owners.add(await cluster.primaryOf(shardKeys("seed", i).tag));
      expect([...owners].sort()).toEqual((await cluster.primaries()).sort());
      expect((await store.listRuns({ limit: 100 })).length).toBe(32);
    } finally {
      await store.close();
    }
  });

  it("says authentication failed for a wrong password, never showing it", async () => {
    const e = await RedisStore.connect(withUser("weft:wr0ng-pass"), {
      prefix: "acl",
      connectTimeoutMs: 3_000,
    }).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("auth");
    expect((e as StoreUnavailable).message).toMatch(
      /^authentication failed at the store at redis\+cluster:\/\/weft:\*\*\*@127\.0\.0\.1:\d+,.*WRONGPASS/,
    );
    expect((e as StoreUnavailable).message).not.toContain("wr0ng-pass");
  });
});

/** A completion a worker saw acknowledged (`complete` answered ok). */
interface Ack {
  readonly runId: string;
  readonly nodeId: number;
  readonly attempt: number;
  readonly worker: string;
  readonly replayed: boolean;
}

/** `store` recording every acknowledged completion in `acks`, and calling `seen` after each. */
const recording = (store: Store, acks: Ack[], seen: () => void = () => undefined): Store => {
  const ack = (claim: Claim, r: ReportResult, workerId: string) => {
    if (!r.ok) return;
    acks.push({
      runId: claim.runId,
      nodeId: claim.nodeId,
      attempt: claim.attempt,
      worker: workerId,
      replayed: r.replayed === true,
    });
    seen();
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "complete") {
        return async (claim: Claim, result: Uint8Array, opts: CompleteOptions) => {
          const r = await target.complete(claim, result, opts);
          ack(claim, r, opts.workerId);
          return r;
        };
      }
      // a worker sends the completions of one turn together
      if (prop === "completeMany" && target.completeMany) {
        const many = target.completeMany.bind(target);
        return async (...args: Parameters<NonNullable<Store["completeMany"]>>) => {
          const rs = await many(...args);
          for (const [i, r] of rs.entries()) ack(args[0][i]!.claim, r, args[1].workerId);
          return rs;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
};

/**
 * Checks acknowledged completions against what the store recorded: each
 * acknowledged node is `succeeded`, by the attempt and the worker the
 * acknowledgement was for (a completion lost and run again would show a
 * later attempt), and no node was acknowledged as a fresh completion twice.
 */
const checkAcks = async (store: Store, acks: ReadonlyArray<Ack>) => {
  const fresh = new Map<string, number>();
  for (const a of acks) {
    if (!a.replayed)
      fresh.set(`${a.runId}#${a.nodeId}`, (fresh.get(`${a.runId}#${a.nodeId}`) ?? 0) + 1);
  }
  expect([...fresh.values()].filter((count) => count > 1)).toEqual([]);
  const snapshots = new Map<string, Awaited<ReturnType<Store["getRun"]>>>();
  for (const a of acks) {
    if (!snapshots.has(a.runId)) snapshots.set(a.runId, await store.getRun(a.runId));
    const node = snapshots.get(a.runId)?.nodes[a.nodeId];
    expect({ ack: a, state: node?.state, attempts: node?.attempts, worker: node?.worker }).toEqual({
      ack: a,
      state: "succeeded",
      attempts: a.attempt,
      worker: a.worker,
    });
  }
};

/** Resolves when `count()` reaches `target`, checked each time `tick` is called. */
const reaching = (count: () => number, target: number) => {
  const reached = deferred();
  return {
    reached: reached.promise,
    tick: () => {
      if (count() >= target) reached.resolve();
    },
  };
};

const step = task({
  name: "step",
  input: Schema.Int,
  output: Schema.Int,
  // a failover may cost a node a lease or two (its completion failed while the cluster was down)
  retry: { maxStalls: 10 },
});
const total = task({
  name: "total",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
  retry: { maxStalls: 10 },
});
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const handlers = [
  // each node takes a little work, so that runs are in flight when a primary dies
  handle(step, async (x) => {
    await pause(20);
    return x + 1;
  }),
  handle(total, async (xs) => xs.reduce((a, b) => a + b, 0)),
];

/** The primary serving most of a prefix's 16 shards, among those with a live replica. */
const busiestPrimary = async (prefix: string) => {
  const owners = new Map<number, number>();
  for (let i = 0; i < 16; i++) {
    const p = await cluster.primaryOf(shardKeys(prefix, i).tag);
    owners.set(p, (owners.get(p) ?? 0) + 1);
  }
  const ranked = [...owners].sort((a, b) => b[1] - a[1]);
  for (const [port] of ranked) if ((await cluster.replicasOf(port)).length > 0) return port;
  throw new Error("no primary with a live replica");
};

describe("redis cluster: faults", () => {
  it("re-delivers the node of a worker killed with SIGKILL mid-node; the run completes and records it once", async () => {
    const prefix = "crash";
    const store = await connect(prefix);
    const client = createClient(store);
    const run = await client.submit(chain(slow.si(41), inc.s()));
    const child = spawn(
      process.execPath,
      [
        "--conditions=@weft/source",
        "--import",
        "tsx",
        join(import.meta.dirname, "fixtures/hanging-worker.ts"),
      ],
      {
        env: { ...process.env, REDIS_URL: cluster.url, WEFT_PREFIX: prefix },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const lines = createInterface({ input: child.stdout! });
    const [first] = (await once(lines, "line")) as [string];
    expect(first).toBe(`started ${run.runId} 0 1`);
    child.kill("SIGKILL");
    await once(child, "exit");

    const acks: Ack[] = [];
    const worker = startWorker({
      store: recording(store, acks),
      logger: silent,
      leaseMs: 1_000,
      handlers: [handle(slow, (x) => x), handle(inc, (x) => x + 1)],
    });
    try {
      expect(await run.result({ timeout: 30_000 })).toBe(42);
      const snap = await client.get(run.runId);
      expect(snap.nodes[0]).toMatchObject({ state: "succeeded", attempts: 2, stalls: 1 });
      expect(snap.nodes[0]!.worker).toBe(worker.id);
      expect(snap.run).toMatchObject({ status: "succeeded", ended: 2 });
      await checkAcks(store, acks);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("acknowledges a completion once a replica has it: with the replica stopped, after replicationTimeoutMs, reporting the shortfall", async () => {
    const shortfalls: ReplicationShortfall[] = [];
    // submitted and claimed without waiting for replicas; only the completion is under test
    const setup = await connect("stopped", { durability: "primary" });
    const store = await connect("stopped", {
      replicationTimeoutMs: 300,
      onReplicationShortfall: (s) => shortfalls.push(s),
    });
    const client = createClient(setup);
    const run = await client.submit(step.si(1));
    const [claim] = await setup.claim({
      workerId: "w",
      queues: ["default"],
      max: 1,
      leaseMs: 60_000,
      now: Date.now(),
    });
    expect(claim?.runId).toBe(run.runId);
    const tag = shardKeys("stopped", shardOfRun(run.runId)).tag;
    const [replica] = await cluster.replicasOf(await cluster.primaryOf(tag));
    const node = cluster.nodes.find((x) => x.port === replica)!;
    node.pause();
    try {
      const r = await store.complete(claim!, encode(2), {
        now: Date.now(),
        workerId: "w",
        queues: ["default"],
        nextMax: 0,
        leaseMs: 60_000,
      });
      expect(r).toMatchObject({ ok: true });
      // reported before the completion was answered: the answer waited for the replica
      expect(shortfalls).toEqual([{ tag, replicas: 0, timeoutMs: 300 }]);
    } finally {
      node.resume();
      await store.close();
      await setup.close();
    }
    await cluster.waitHealthy();
  });

  it("completes through a graceful failover the client has not noticed yet: the replicated write follows MOVED", async () => {
    // a client of our own that never refreshes its slot map on a timer: only a redirect can tell it
    const redis = new Cluster(cluster.startupNodes.slice(0, 1), {
      ...CLUSTER_SETTINGS,
      slotsRefreshInterval: 0,
    });
    const store = await RedisStore.connect(redis, { prefix: "moved" });
    try {
      expect(store.name).toMatch(/^redis\+cluster:\/\/127\.0\.0\.1:\d+$/);
      const client = createClient(store);
      const run = await client.submit(step.si(1));
      const [claim] = await store.claim({
        workerId: "w",
        queues: ["default"],
        max: 1,
        leaseMs: 60_000,
        now: Date.now(),
      });
      expect(claim?.runId).toBe(run.runId);
      const primary = await cluster.primaryOf(shardKeys("moved", shardOfRun(run.runId)).tag);
      const [replica] = await cluster.replicasOf(primary);
      await cluster.failover(replica!);
      expect(await cluster.primaryOf(shardKeys("moved", shardOfRun(run.runId)).tag)).toBe(replica);
      const r = await store.complete(claim!, encode(2), {
        now: Date.now(),
        workerId: "w",
        queues: ["default"],
        nextMax: 0,
        leaseMs: 60_000,
      });
      expect(r).toEqual({ ok: true, next: [] });
      expect(await run.result({ timeout: 10_000 })).toBe(2);
    } finally {
      await store.close();
      redis.disconnect();
    }
  });

  it("keeps an acknowledged completion when its primary dies right after, its replica link having just dropped", async () => {
    const shortfalls: ReplicationShortfall[] = [];
    // a wait long enough for the replica to reconnect (it retries once a second)
    const store = await connect("acked", {
      replicationTimeoutMs: 10_000,
      onReplicationShortfall: (s) => shortfalls.push(s),
    });
    const client = createClient(store);
    const run = await client.submit(step.si(1));
    const [claim] = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 1,
      leaseMs: 60_000,
      now: Date.now(),
    });
    expect(claim?.runId).toBe(run.runId);
    const primary = await cluster.primaryOf(shardKeys("acked", shardOfRun(run.runId)).tag);
    expect(await cluster.replicasOf(primary)).toHaveLength(1);
    const admin = new Redis({ port: primary, lazyConnect: true });
    try {
      // the replica loses its link: it reconnects at its next replication tick (within 1 s);
      // until then the primary's writes reach no replica
      await admin.call("CLIENT", "KILL", "TYPE", "replica");
    } finally {
      admin.disconnect();
    }
    const r = await store.complete(claim!, encode(2), {
      now: Date.now(),
      workerId: "w",
      queues: ["default"],
      nextMax: 0,
      leaseMs: 60_000,
    });
    expect(r).toMatchObject({ ok: true });
    // the primary dies the moment the completion is acknowledged
    const victim = cluster.nodes.find((x) => x.port === primary)!;
    await victim.kill();
    try {
      await cluster.waitHealthy();
      expect(await run.result({ timeout: 10_000 })).toBe(2);
      expect((await client.get(run.runId)).nodes[0]).toMatchObject({
        state: "succeeded",
        attempts: 1,
        worker: "w",
      });
      expect(shortfalls).toEqual([]);
    } finally {
      await store.close();
      await victim.restart();
    }
  });

  // a failover on a loaded machine: every run ends once the cluster is healthy again; how
  // long that takes (each write to the failed-over shard waits for a replica it no longer
  // has) is not what is tested
  it("loses no acknowledged completion when a primary is killed under running workers; every run ends, each node recorded once", {
    timeout: 150_000,
  }, async () => {
    await underLoad("failover", 48, async (primary) => {
      const node = cluster.nodes.find((x) => x.port === primary)!;
      await node.kill();
      return { settle: () => cluster.waitHealthy(), restore: () => node.restart() };
    });
  });

  it("loses nothing in a graceful failover (CLUSTER FAILOVER) under running workers", async () => {
    await underLoad("graceful", 48, async (primary) => {
      const [replica] = await cluster.replicasOf(primary);
      await cluster.failover(replica!);
      return {};
    });
  });

  it("runs on when every node's script cache is flushed mid-run (NOSCRIPT: scripts sent again)", async () => {
    await underLoad("flushed", 24, async () => {
      await eachNode((node) => node.script("FLUSH"));
      return {};
    });
  });

  it("runs on when the function library is flushed mid-run (loaded again on every primary)", async () => {
    await underLoad("fnflushed", 24, async () => {
      // (a replica refuses the write: READONLY; its primary's flush reaches it)
      await eachNode((node) =>
        node.call("FUNCTION", "FLUSH").catch((e: unknown) => {
          if (!/^READONLY/.test(String((e as Error).message))) throw e;
        }),
      );
      return {};
    });
    // loaded again on every node: each primary by the store, each replica from its primary
    await eachNode(async (node, port) => {
      const list = (await node.call("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY.name)) as unknown[];
      expect({ port, libraries: list.length }).toEqual({ port, libraries: 1 });
    });
  });
});

/**
 * Runs `count` runs (chains of 4 steps, chords of 3 steps and a total) on
 * two workers, applies `fault` to the primary serving most of the prefix's
 * shards once 30 completions were acknowledged, and checks that every run
 * ends with the right output, that each completion acknowledged before the
 * fault had been replicated, that the primary held some of them, and that
 * every acknowledged completion is what the store recorded, once (see
 * `checkAcks`). `fault` may return what to wait for before the runs can
 * end (`settle`) and how to put the cluster back afterwards (`restore`).
 */
const underLoad = async (
  prefix: string,
  count: number,
  fault: (primary: number) => Promise<{
    readonly settle?: () => Promise<void>;
    readonly restore?: () => Promise<void>;
  }>,
) => {
  const acks: Ack[] = [];
  const submitter = await connect(prefix);
  const checker = await connect(prefix);
  const client = createClient(submitter);
  const primary = await busiestPrimary(prefix);
  const primaryShards = new Set<number>();
  for (let i = 0; i < 16; i++)
    if ((await cluster.primaryOf(shardKeys(prefix, i).tag)) === primary) primaryShards.add(i);
  // 30 fresh acknowledgements, some of them for runs the primary serves: the fault then hits
  // acknowledged completions (which shards the workers reach first varies)
  const fresh = () => acks.filter((a) => !a.replayed);
  const started = reaching(
    () => (fresh().some((a) => primaryShards.has(shardOfRun(a.runId))) ? fresh().length : 0),
    30,
  );
  const shortfalls: ReplicationShortfall[] = [];
  // a generous wait: on a loaded machine a replica may take a while, and this test is about
  // completions that were replicated when acknowledged
  const stores = await Promise.all(
    [1, 2].map(() =>
      connect(prefix, {
        replicationTimeoutMs: 2_000,
        onReplicationShortfall: (s) => shortfalls.push(s),
      }),
    ),
  );
  const workers = stores.map((store) =>
    startWorker({
      store: recording(store, acks, started.tick),
      handlers,
      logger: silent,
      concurrency: 4,
      leaseMs: 1_000,
      idleMs: 200,
    }),
  );
  let restore: (() => Promise<void>) | undefined;
  try {
    const runs = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        i % 2 === 0
          ? client.submit(chain(step.si(i), step.s(), step.s(), step.s()))
          : client.submit(chord([step.si(i), step.si(i + 1), step.si(i + 2)], total.s())),
      ),
    );
    await started.reached;
    // every completion so far was acknowledged once a replica had it
    expect(shortfalls).toEqual([]);
    const before = [...acks];
    const done = await fault(primary);
    restore = done.restore;
    await done.settle?.();
    const results = await Promise.all(runs.map((r) => r.result({ timeout: 120_000 })));
    expect(results).toEqual(runs.map((_, i) => (i % 2 === 0 ? i + 4 : 3 * i + 6)));
    // the primary held acknowledged completions, and work was left at the fault
    expect(before.some((a) => primaryShards.has(shardOfRun(a.runId)))).toBe(true);
    expect(before.length).toBeLessThan(count * 4);
    await checkAcks(checker, acks);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([submitter, checker, ...stores].map((s) => s.close()));
    await restore?.();
  }
};
