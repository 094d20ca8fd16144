/**
 * `npm run cluster -w @weft/bench`: what Weft costs on a Redis Cluster, and
 * what waiting for a replica costs there. Three set-ups, measured in turns
 * in one process (the order rotates between repetitions):
 *
 * - **single**: one private `redis-server`, 1 shard (the default there);
 * - **cluster, primary**: a private Redis Cluster of 3 primaries with a
 *   replica each (`startRedisCluster`), 16 shards, `durability: "primary"`;
 * - **cluster, replicated**: the same cluster, `durability: "replicated"`
 *   (the cluster default: `WAIT 1` after every acknowledged write).
 *
 * Workloads, each on a fresh key prefix with one worker (concurrency 16,
 * its own store) and a client store: `independent` (N one-task runs,
 * submitted 200 at a time), `chains` (N/10 chains of 10 steps), and
 * `step` (one chain of 100 steps: ms per step), and `complete` (200
 * completions driven one after the other without a worker, each handing
 * over the next step of a chain: ms each). The clock runs from the
 * first submit to the last acknowledged completion, after one run through
 * the fresh worker (it opens its connections as it starts).
 *
 * Knobs: `CLUSTER_BENCH_N` tasks per throughput workload (default 2 000),
 * `CLUSTER_BENCH_REPEAT` repetitions (default 3; tables show medians),
 * `BENCH_MD=1` also prints the table as Markdown.
 */
import { chain, createClient, handle, Schema, type Store, startWorker, task } from "@weft/core";
import { type Claim, type CompleteOptions, deferred, encode } from "@weft/core/store";
import { RedisStore, type RedisStoreOptions } from "@weft/redis";
import {
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  startRedisServer,
} from "@weft/testing";
import { pino } from "pino";
import { median, type TableData, toMarkdown, toText } from "./report.ts";

const N = Number(process.env.CLUSTER_BENCH_N ?? 2_000);
const REPEAT = Number(process.env.CLUSTER_BENCH_REPEAT ?? 3);
const log = (line: string) => process.stdout.write(`${line}\n`);

const noop = task({ name: "cluster.noop", input: Schema.Int, output: Schema.Int });
const handlers = [handle(noop, (n) => n + 1)];

/** A set-up: where to connect and how. */
interface Setup {
  readonly name: string;
  readonly url: string;
  readonly opts: RedisStoreOptions;
}

/** `store` counting acknowledged completions; `done` resolves at `target`. */
const counting = (store: Store, target: number) => {
  let count = 0;
  const done = deferred();
  const wrapped = new Proxy(store, {
    get(t, prop) {
      if (prop === "complete") {
        return async (claim: Claim, result: Uint8Array, opts: CompleteOptions) => {
          const r = await t.complete(claim, result, opts);
          if (r.ok && !r.replayed && ++count === target) done.resolve();
          return r;
        };
      }
      const v: unknown = Reflect.get(t, prop, t);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  return { store: wrapped, done: done.promise };
};

let prefixes = 0;

/** Runs `tasks` tasks submitted by `submit` on one worker; returns the elapsed ms. */
const measure = async (
  setup: Setup,
  tasks: number,
  submit: (client: ReturnType<typeof createClient>) => Promise<unknown>,
): Promise<number> => {
  const prefix = `cb${++prefixes}`;
  const clientStore = await RedisStore.connect(setup.url, { ...setup.opts, prefix });
  const workerStore = await RedisStore.connect(setup.url, { ...setup.opts, prefix });
  const { store, done } = counting(workerStore, tasks + 1);
  const worker = startWorker({
    store,
    handlers,
    concurrency: 16,
    logger: pino({ level: "silent" }),
  });
  try {
    const client = createClient(clientStore);
    // a worker opens its connections (one blocking read per shard on a cluster) as it
    // starts: one run through it first, and a moment to go idle, so that only the steady
    // state is timed
    await (await client.submit(noop.si(-1))).result({ timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await submit(client);
    await done;
    return performance.now() - t0;
  } finally {
    await worker.stop();
    await clientStore.close();
    await workerStore.close();
  }
};

const inBatches = async (count: number, one: (i: number) => Promise<unknown>) => {
  for (let from = 0; from < count; from += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - from) }, (_, i) => one(from + i)));
  }
};

/**
 * ms per `complete` call, driven by hand one after the other (no worker):
 * a chain of 200 steps, each completion handing over the next step. The
 * store's own cost per acknowledged write, without the worker around it.
 */
const completeLatency = async (setup: Setup): Promise<number> => {
  const store = await RedisStore.connect(setup.url, { ...setup.opts, prefix: `cb${++prefixes}` });
  try {
    await createClient(store).submit(
      chain(noop.si(0), ...Array.from({ length: 199 }, () => noop.s())),
    );
    const lease = { workerId: "w", queues: ["default"], leaseMs: 60_000 };
    let [claim] = await store.claim({ ...lease, max: 1, now: Date.now() });
    const t0 = performance.now();
    let n = 0;
    while (claim) {
      const r = await store.complete(claim, encode(1), { ...lease, nextMax: 1, now: Date.now() });
      n += 1;
      claim = r.ok ? r.next[0] : undefined;
    }
    return (performance.now() - t0) / n;
  } finally {
    await store.close();
  }
};

/** The measures of one set-up: tasks/s, tasks/s, ms per step, ms per completion. */
const runSetup = async (setup: Setup): Promise<[number, number, number, number]> => {
  const independent = await measure(setup, N, (client) =>
    inBatches(N, (i) => client.submit(noop.si(i))),
  );
  const chains = Math.max(1, Math.floor(N / 10));
  const chained = await measure(setup, chains * 10, (client) =>
    inBatches(chains, (i) =>
      client.submit(chain(noop.si(i), ...Array.from({ length: 9 }, () => noop.s()))),
    ),
  );
  const steps = await measure(setup, 100, (client) =>
    client.submit(chain(noop.si(0), ...Array.from({ length: 99 }, () => noop.s()))),
  );
  return [
    (N / independent) * 1_000,
    ((chains * 10) / chained) * 1_000,
    steps / 100,
    await completeLatency(setup),
  ];
};

const main = async (): Promise<number> => {
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  try {
    server = await startRedisServer();
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const setups: Setup[] = [
      { name: "single Redis, 1 shard", url: server.url, opts: {} },
      {
        name: "cluster, 16 shards, durability primary",
        url: cluster.url,
        opts: { durability: "primary" },
      },
      {
        name: "cluster, 16 shards, durability replicated",
        url: cluster.url,
        opts: { durability: "replicated" },
      },
    ];
    log(`${N} tasks per throughput workload, ${REPEAT} repetitions; warming up`);
    for (const s of setups) await measure(s, 50, (c) => inBatches(50, (i) => c.submit(noop.si(i))));
    const results = new Map<string, Array<[number, number, number, number]>>();
    for (let r = 0; r < REPEAT; r++) {
      for (let k = 0; k < setups.length; k++) {
        const s = setups[(k + r) % setups.length]!;
        const got = await runSetup(s);
        log(`  ${s.name}: ${got.map((v) => v.toFixed(2)).join(" / ")}`);
        results.set(s.name, [...(results.get(s.name) ?? []), got]);
      }
    }
    const t: TableData = {
      title: `Weft on a Redis Cluster (3 primaries + 3 replicas, loopback), medians of ${REPEAT}`,
      head: [
        "set-up",
        "independent tasks/s",
        "chains of 10, tasks/s",
        "100-step chain, ms/step",
        "complete, ms",
      ],
      rows: setups.map((s) => {
        const rs = results.get(s.name)!;
        return [
          s.name,
          median(rs.map((x) => x[0])).toFixed(0),
          median(rs.map((x) => x[1])).toFixed(0),
          median(rs.map((x) => x[2])).toFixed(3),
          median(rs.map((x) => x[3])).toFixed(3),
        ];
      }),
    };
    log(toText(t));
    if (process.env.BENCH_MD) log(`\n${toMarkdown(t)}`);
    return 0;
  } finally {
    await cluster?.stop();
    await server?.stop();
  }
};

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `cluster bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
