/**
 * `npm run bench`: Weft and BullMQ side by side on one Redis: a wide chord,
 * a 10× wider one, many short chains, many independent tasks, a long chain,
 * the memory kept per finished task, and submit → start latency. Each
 * workload starts from an empty database, with fresh workers (the same
 * number and concurrency on both sides, in this process, or in worker
 * processes with `BENCH_PROCESSES`). See `config.ts` for the knobs and
 * docs/benchmarks.md for what each workload does and the results.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Admin } from "./admin.ts";
import { bullmq } from "./bullmq.ts";
import { type CountedRedis, startCountedRedis } from "./callgrind.ts";
import {
  type Config,
  readConfig,
  type Sizes,
  WARMUP_SIZES,
  WORKLOAD_IDS,
  type WorkloadId,
  warmupSizes,
} from "./config.ts";
import { type Measurement, measure } from "./measure.ts";
import {
  commandTable,
  comparison,
  diagnostics,
  instructionsTable,
  quantile,
  scriptTimes,
  type TableData,
  toMarkdown,
  toText,
  weftScripts,
} from "./report.ts";
import { type BenchSystem, taskCount } from "./system.ts";
import { sourceHash, versionOf } from "./versions.ts";
import { weft } from "./weft.ts";

const WEFT_PACKAGES = ["@weft/core", "@weft/redis"];

const ALL_SYSTEMS: ReadonlyArray<BenchSystem> = [weft, bullmq];

const log = (line: string) => process.stdout.write(`${line}\n`);

const summary = (m: Measurement): string => {
  const what =
    m.workload === "longChain"
      ? `${(m.wallMs / m.tasks).toFixed(3)} ms/step`
      : m.workload === "latency" && m.latencySamples
        ? `p50 ${quantile(m.latencySamples, 0.5).toFixed(2)} ms, p99 ${quantile(m.latencySamples, 0.99).toFixed(2)} ms`
        : `${Math.round(m.tasks / (m.wallMs / 1_000)).toLocaleString("en-US")} tasks/s`;
  const status = m.error ? `FAILED: ${m.error}` : m.wrong ? `WRONG RESULT: ${m.wrong}` : "ok";
  return `${m.system.padEnd(6)} ${m.workload.padEnd(11)} ${String(m.tasks).padStart(6)} tasks  ${Math.round(
    m.wallMs,
  )
    .toString()
    .padStart(
      6,
    )} ms  ${what.padStart(16)}  ${Math.round(m.memoryBytes / m.tasks)} B/task  load ${m.load.toFixed(1)}  rt ${m.roundTripUs === undefined ? "-" : Math.round(m.roundTripUs)} µs  ${status}`;
};

/** What `BENCH_OUT` writes and `BENCH_FROM` reads. */
interface SavedRun {
  readonly header: ReadonlyArray<string>;
  readonly sizes: Sizes;
  readonly results: ReadonlyArray<Measurement>;
}

/** Prints the tables, and writes them as Markdown when asked. */
const report = (
  header: ReadonlyArray<string>,
  sizes: Sizes,
  results: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
  cfg: Config,
): void => {
  const tables: TableData[] = [
    comparison(results, sizes),
    diagnostics(results, order),
    commandTable(results, order),
    weftScripts(results, order),
    ...(cfg.scriptTimes && results.some((m) => Object.keys(m.serverTimes).length > 0)
      ? [scriptTimes(results, order)]
      : []),
    ...(results.some((m) => m.redisInstructions !== undefined)
      ? [instructionsTable(results, order)]
      : []),
  ];
  log("");
  for (const t of tables) log(`${toText(t)}\n`);
  for (const line of header.slice(0, 5)) log(line);
  if (cfg.markdown) {
    writeFileSync(
      cfg.markdown,
      `${header.map((l) => `- ${l}`).join("\n")}\n\n${tables.map(toMarkdown).join("\n\n")}\n`,
    );
  }
};

/** `BENCH_FROM=a.json,b.json`: the report over saved runs (medians over all of them), no benchmark. */
const fromFiles = (files: ReadonlyArray<string>, cfg: Config): number => {
  const runs = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as SavedRun);
  const first = runs[0]!;
  for (const [i, r] of runs.entries()) {
    if (JSON.stringify(r.sizes) !== JSON.stringify(first.sizes)) {
      throw new Error(`${files[i]} was run at other sizes than ${files[0]}`);
    }
  }
  const results = runs.flatMap((r) => r.results);
  const order = WORKLOAD_IDS.filter((w) => results.some((m) => m.workload === w));
  report([...first.header, `merged from ${files.join(", ")}`], first.sizes, results, order, cfg);
  return 0;
};

/**
 * Tasks the full warm-up pass (`BENCH_WARMUP=full`) runs of each workload at
 * least: a workload of fewer runs again, each time with new workers and
 * connections, until it has (the 100-step chain 20 times). V8 optimizes a
 * code path after thousands of calls: a 100-step chain run once before it
 * was measured, then three times, took Weft 0.30-0.37 ms a step in the
 * measured runs, and 0.19-0.23 ms from its 25th run on (docs/benchmarks.md,
 * "Since 12:02 UTC on 2026-12-07").
 */
const WARMUP_TASKS = 2_000;

/** How many times the warm-up pass runs workload `w` at `sizes` (see {@link WARMUP_TASKS}). */
const warmupRounds = (w: WorkloadId, sizes: Sizes): number =>
  Math.max(1, Math.ceil(WARMUP_TASKS / taskCount(w, sizes)));

const main = async (): Promise<number> => {
  const cfg = readConfig();
  const from = process.env.BENCH_FROM?.trim();
  if (from) return fromFiles(from.split(","), cfg);
  const order: WorkloadId[] = WORKLOAD_IDS.filter((w) => cfg.only.has(w));
  const SYSTEMS = ALL_SYSTEMS.filter((s) => cfg.systems.has(s.name.toLowerCase()));
  let server: RedisServer | undefined;
  let counted: CountedRedis | undefined;
  let admin: Admin | undefined;
  const stopAll = async () => {
    await admin?.close();
    admin = undefined;
    await server?.stop();
    server = undefined;
    await counted?.stop();
    counted = undefined;
  };
  const onSignal = () => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  // output piped into `head` must not kill the run before the private server is stopped
  process.stdout.on("error", () => undefined);
  try {
    if (cfg.instructions && cfg.redisUrl)
      throw new Error("BENCH_INSTRUCTIONS=1 runs its own redis-server: unset REDIS_URL");
    if (cfg.instructions)
      counted = await startCountedRedis({
        binary: cfg.redisServer,
        ...(cfg.callgrindDir === undefined ? {} : { keepDir: cfg.callgrindDir }),
      });
    else if (!cfg.redisUrl) server = await startRedisServer();
    const url = counted?.url ?? cfg.redisUrl ?? server!.url;
    const owned = server !== undefined || counted !== undefined;
    admin = await Admin.connect(url, owned, cfg.scriptTimes ? 0 : 1_000);
    const cpu = cpus();
    const startHash = sourceHash(WEFT_PACKAGES);
    const trips = await admin.roundTrips(2_000);
    const scriptTrips = await admin.scriptTrips(2_000);
    const header = [
      `machine: ${cpu[0]?.model ?? "?"} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
      `round trip: one connection's PING, one at a time (ioredis, 2,000): p50 ${quantile(trips, 0.5).toFixed(0)} µs, p99 ${quantile(trips, 0.99).toFixed(0)} µs${counted ? " (under callgrind: meaningless)" : ""}; a chain step waits one per call it sends (script calls per task, Diagnostics)`,
      `script floor: a script that does nothing, called with a 100-step chain's step's 8 keys and 12 arguments, one at a time (ioredis EVALSHA, 2,000): p50 ${quantile(scriptTrips, 0.5).toFixed(0)} µs, p99 ${quantile(scriptTrips, 0.99).toFixed(0)} µs; the least a step of either system waits per call`,
      `versions: node ${process.version}, weft sources ${startHash}, redis ${await admin.version()}, @weft/core ${versionOf("@weft/core")}, @weft/redis ${versionOf("@weft/redis")}, bullmq ${versionOf("bullmq")}, ioredis ${versionOf("ioredis")}`,
      `redis: ${counted ? `private redis-server under callgrind (${counted.url}), FLUSHALL before each workload; times and CPU mean nothing, instructions do` : server ? `private redis-server on port ${server.port}, FLUSHALL before each workload` : "REDIS_URL (shared: not flushed; per-workload key prefixes, deleted afterwards)"}`,
      `workers: Weft ${cfg.workers} × concurrency ${cfg.concurrency}; BullMQ ${cfg.workers} × concurrency ${cfg.concurrency}; ${cfg.processes === 0 ? "in this Node process, with the producer" : `in each of ${cfg.processes} worker processes per system (Node CPU includes theirs); the producer in this process`}`,
      `${cfg.scriptTimes ? "BENCH_SCRIPT_TIMES=1: every command goes to the slow log; times and CPU are inflated, " : ""}scale ${cfg.scale}, repeat ${cfg.repeat}, timeout ${cfg.timeoutMs / 1_000} s per workload and system`,
    ];
    for (const line of header) log(line);
    log("workloads:");
    for (const w of order) {
      for (const s of SYSTEMS) log(`  ${w} / ${s.name}: ${s.describe[w](cfg.sizes)}`);
    }

    const run = async (system: BenchSystem, w: WorkloadId, sizes: Sizes) =>
      measure(system, w, sizes, cfg, admin!, url, counted);

    if (cfg.warmup !== "none") {
      const sizes = cfg.warmup === "full" ? warmupSizes(cfg.sizes) : WARMUP_SIZES;
      log(
        cfg.warmup === "full"
          ? "warm-up (every workload once at its measured size, hugeChord at its small one; not reported)…"
          : "warm-up (small sizes, not reported)…",
      );
      for (const s of SYSTEMS) {
        for (const w of order) {
          for (let k = cfg.warmup === "full" ? warmupRounds(w, sizes) : 1; k > 0; k--) {
            const m = await run(s, w, sizes);
            if (m.error || m.wrong) log(`  warm-up ${summary(m)}`);
          }
        }
      }
    }

    const results: Measurement[] = [];
    for (let r = 0; r < cfg.repeat; r++) {
      if (cfg.repeat > 1) log(`run ${r + 1}/${cfg.repeat}`);
      for (const [i, w] of order.entries()) {
        // alternate which system goes first, so neither always runs on a warmer machine
        const systems = (r + i) % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse();
        for (const s of systems) {
          const m = await run(s, w, cfg.sizes);
          results.push(m);
          log(`  ${summary(m)}`);
        }
      }
    }

    if (cfg.out) {
      const saved: SavedRun = { header, sizes: cfg.sizes, results };
      writeFileSync(cfg.out, `${JSON.stringify(saved, null, 2)}\n`);
    }
    report(header, cfg.sizes, results, order, cfg);
    const endHash = sourceHash(WEFT_PACKAGES);
    if (endHash !== startHash) {
      log(
        `\nWARNING: Weft's sources changed during this run (${startHash} → ${endHash}); so the results may mix versions (each process reads Weft's Lua once, when it loads).`,
      );
    }
    const bad = results.filter((m) => m.error || m.wrong);
    if (bad.length > 0) {
      log(`\n${bad.length} measurement(s) failed or gave wrong results:`);
      for (const m of bad) log(`  ${summary(m)}`);
      return 1;
    }
    return 0;
  } finally {
    await stopAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
  }
};

main().then(
  (code) => {
    process.exitCode = code;
    // everything was closed: the process should exit now; say so if something still holds it
    setTimeout(() => {
      process.stderr.write(
        "bench: something still holds the process 10 s after the end; exiting\n",
      );
      process.exit(code === 0 ? 2 : code);
    }, 10_000).unref();
  },
  (e: unknown) => {
    process.stderr.write(
      `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  },
);
