/**
 * `npm run callcost -w @weft/bench`: the Redis instructions one script call
 * costs, and how much of it is the call's and how much each node's.
 *
 * The bench's `BENCH_INSTRUCTIONS=1` counts a whole workload per task,
 * which mixes the fixed cost of a call with the cost of each node it
 * carries; this tool counts call by call, through the store's API, on a
 * private `redis-server` under Valgrind's callgrind (`callgrind.ts`):
 *
 * - a lone run: a plain job submitted (`client.submit`), claimed alone (with
 *   a request id, as a worker claims) and completed (`complete`), as a run
 *   submitted and started one at a time pays them (the `latency` workload);
 * - batches: plain jobs submitted `n` at a time (`client.submitMany`: one
 *   `submitmany` call up to the store's chunk, about 250 nodes), claimed `n`
 *   at a time and completed `n` at a time
 *   (`completeMany`), for each `n` of `CALLCOST_SIZES` (default
 *   `1,8,32,144`; 144 is a worker's claim in the bench: 16 slots and 128
 *   prefetched), and the fixed and per-node parts from the smallest and the
 *   largest size (a line through the two).
 *
 * Medians over the calls counted (after a few uncounted, which load the
 * function library and warm its caches). Instruction counts of the same
 * tree repeat within a few hundred; Redis runs 30–50× slower under
 * callgrind, so nothing here is a time. `BENCH_REDIS_SERVER` names the
 * binary (default the `redis-server` on PATH; a build with symbols names
 * Redis's and Lua's functions in dumps kept with `BENCH_CALLGRIND_DIR`, as
 * `<call>.<n>.callgrind`). Needs Valgrind (docs/benchmarks.md, "Running it").
 */
import { createClient } from "@weft/core";
import type { Claim } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { type CountedRedis, startCountedRedis } from "./callgrind.ts";
import { noop } from "./weft.ts";

/** Calls run before the counted ones, and calls counted, per measurement. */
const WARM = 4;
const COUNTED = 5;
const QUEUES = ["default"];
/** A result as the scripts keep it (msgpack 1): no handler runs. */
const RESULT = new Uint8Array([1]);

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
};

const sizesOf = (raw: string | undefined): number[] => {
  const sizes = (raw?.trim() || "1,8,32,144").split(",").map((s) => Number(s.trim()));
  if (sizes.length < 2 || !sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 1_000))
    throw new Error(`CALLCOST_SIZES must list two or more integers from 1 to 1000, got ${raw}`);
  return [...new Set(sizes)].sort((a, b) => a - b);
};

const main = async (): Promise<void> => {
  const sizes = sizesOf(process.env.CALLCOST_SIZES);
  const redis: CountedRedis = await startCountedRedis({
    ...(process.env.BENCH_REDIS_SERVER ? { binary: process.env.BENCH_REDIS_SERVER } : {}),
    ...(process.env.BENCH_CALLGRIND_DIR ? { keepDir: process.env.BENCH_CALLGRIND_DIR } : {}),
  });
  const store = await RedisStore.connect(redis.url);
  try {
    const client = createClient(store);
    let requests = 0;
    // the instructions Redis runs for `call`, and what it returned
    const counted = async <T>(label: string, call: () => Promise<T>): Promise<[number, T]> => {
      redis.zero();
      const out = await call();
      return [redis.count(label), out];
    };
    const claim = (max: number) =>
      store.claim({
        workerId: "callcost",
        queues: QUEUES,
        max,
        leaseMs: 60_000,
        now: Date.now(),
        requestId: `callcost:${++requests}`,
      });
    const opts = () => ({ now: Date.now(), workerId: "callcost", queues: QUEUES, leaseMs: 60_000 });

    // a lone run: submitted, claimed and completed, one call each
    const lone = { submit: [] as number[], claim: [] as number[], complete: [] as number[] };
    for (let i = 0; i < WARM + COUNTED; i++) {
      const [submit] = await counted("submit", () => client.submit(noop.si({ i })));
      const [claimed, claims] = await counted("claim", () => claim(1));
      const c = claims[0];
      if (!c) throw new Error("a lone run's claim leased nothing");
      const [complete] = await counted("complete", () =>
        store.complete(c, RESULT, { ...opts(), nextMax: 0 }),
      );
      if (i < WARM) continue;
      lone.submit.push(submit);
      lone.claim.push(claimed);
      lone.complete.push(complete);
    }
    console.log("A lone plain job, Redis instructions per call (median):");
    console.log(`  submit ${median(lone.submit).toLocaleString("en-US")}`);
    console.log(
      `  claim (one node, with a request id) ${median(lone.claim).toLocaleString("en-US")}`,
    );
    console.log(`  complete ${median(lone.complete).toLocaleString("en-US")}`);

    // batches: n plain jobs a submitMany, n a claim and n a completeMany
    const perCall = new Map<number, { submit: number; claim: number; complete: number }>();
    for (const n of sizes) {
      await store.redis.flushall();
      const submits: number[] = [];
      for (let call = 0; call < WARM + COUNTED; call++) {
        const [submitted] = await counted(`submitmany-${n}`, () =>
          client.submitMany(Array.from({ length: n }, (_, k) => noop.si({ i: call * n + k }))),
        );
        if (call >= WARM) submits.push(submitted);
      }
      const claims: number[] = [];
      const completes: number[] = [];
      for (let call = 0; call < WARM + COUNTED; call++) {
        const [claimed, leased] = await counted(`claim-${n}`, () => claim(n));
        if (leased.length !== n) throw new Error(`a claim of ${n} leased ${leased.length}`);
        const items = leased.map((c: Claim) => ({ claim: c, result: RESULT, nextMax: 0 }));
        const [completed] = await counted(`completemany-${n}`, () =>
          store.completeMany(items, opts()),
        );
        if (call < WARM) continue;
        claims.push(claimed);
        completes.push(completed);
      }
      perCall.set(n, {
        submit: median(submits),
        claim: median(claims),
        complete: median(completes),
      });
    }
    console.log("\nPlain jobs n at a time, Redis instructions (medians):");
    console.log(
      "  n      submitMany per call  per node   claim per call  per node   completeMany per call  per node",
    );
    for (const [n, c] of perCall) {
      const cell = (x: number, w: number) => Math.round(x).toLocaleString("en-US").padStart(w);
      console.log(
        `  ${String(n).padEnd(5)}${cell(c.submit, 20)}${cell(c.submit / n, 10)}${cell(c.claim, 17)}${cell(c.claim / n, 10)}${cell(c.complete, 23)}${cell(c.complete / n, 10)}`,
      );
    }
    const lo = sizes[0]!;
    const hi = sizes[sizes.length - 1]!;
    const fit = (of: (c: { submit: number; claim: number; complete: number }) => number) => {
      const perNode = (of(perCall.get(hi)!) - of(perCall.get(lo)!)) / (hi - lo);
      return { fixed: of(perCall.get(lo)!) - perNode * lo, perNode };
    };
    const u = fit((x) => x.submit);
    const c = fit((x) => x.claim);
    const m = fit((x) => x.complete);
    const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
    console.log(
      `\nA line through n = ${lo} and n = ${hi}: a submitMany ${n0(u.fixed)} a call + ${n0(u.perNode)} a node; a claim ${n0(c.fixed)} a call + ${n0(c.perNode)} a node; a completeMany ${n0(m.fixed)} a call + ${n0(m.perNode)} a node`,
    );
  } finally {
    await store.close();
    await redis.stop();
  }
};

main().catch((e: unknown) => {
  process.stderr.write(
    `callcost failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exitCode = 1;
});
