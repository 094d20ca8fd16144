/**
 * `npm run luaprof -w @weft/bench -- <workload> [functions]`: where Weft's
 * Lua functions spend their interpreter, line by line.
 *
 * Callgrind (`BENCH_INSTRUCTIONS=1`) counts what Redis executes but sees the
 * Lua interpreter as one C function; this tool counts the Lua VM operations
 * each line of the function library runs, the `redis.call`s each line
 * makes and the bytes Lua allocates while it runs (the garbage a call leaves
 * for Lua's collector, which works in proportion to it), per task. It runs
 * a small workload through the store's API on a private `redis-server`
 * (one call at a time, so the commands' order is the order they were
 * sent), keeps every command it sent, then replays them on
 * the emptied server through `luaprof/host.c`: a host that runs each FCALL
 * in Redis's own Lua 5.1 with a count hook, its `redis.call`s sent to the
 * server (see the header of host.c). The replay of each group of functions
 * (submission, claim, completion) starts from an empty server.
 *
 * Needs a C compiler and a built Redis source tree (its `deps/lua` and
 * `deps/hiredis`), given as `BENCH_REDIS_SRC`, e.g. `apt-get source redis`
 * then `make` in it (docs/benchmarks.md, "Counting Lua operations").
 *
 * Workloads (tasks): `longChain` (one chain of 100), `chains` (100 chains
 * of 10), `chord` (a chord of 1,000 and its body), `independent` (2,000
 * single-node runs, `submitMany` of 500), `single` (100 single-node runs,
 * each submitted, claimed and completed alone). `functions`: script names,
 * comma separated (default: each group in turn); `LUAPROF_LINES` lines
 * listed (default 30).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chord, createClient } from "@weft/core";
import type { Claim, CompleteItem } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { startRedisServer } from "@weft/testing";
import type { Command, Redis } from "ioredis";
import { chainOf, collect, inc, noop } from "./weft.ts";

const WORKLOADS = ["longChain", "chains", "chord", "independent", "single"] as const;
type Workload = (typeof WORKLOADS)[number];
/** The tasks each workload runs. */
const TASKS: Record<Workload, number> = {
  longChain: 100,
  chains: 1_000,
  chord: 1_001,
  independent: 2_000,
  single: 100,
};
const GROUPS = ["submit,submitmany", "claim", "complete,completemany"];

const log = (line: string) => process.stdout.write(`${line}\n`);

/** A command as the capture keeps it: its name and arguments, as bytes. */
type Captured = ReadonlyArray<Buffer>;

/** host.c's capture format: [u32 argc] then argc × [u32 length, bytes], little endian. */
const encodeCapture = (commands: ReadonlyArray<Captured>): Buffer => {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  return Buffer.concat(
    commands.flatMap((c) => [u32(c.length), ...c.flatMap((a) => [u32(a.length), a])]),
  );
};

/** Runs `workload` through `store`, one call at a time: submits, then claims and completes until nothing is ready. */
const run = async (store: RedisStore, workload: Workload): Promise<void> => {
  const client = createClient(store);
  const result = new Uint8Array([1]); // (msgpack 1: no handler runs)
  const opts = () => ({
    now: Date.now(),
    workerId: "luaprof",
    queues: ["default"],
    nextMax: 16,
    leaseMs: 30_000,
  });
  const claim = () =>
    store.claim({
      workerId: "luaprof",
      queues: ["default"],
      max: 64,
      leaseMs: 30_000,
      now: Date.now(),
    });
  switch (workload) {
    case "longChain":
      await client.submit(chainOf(inc.si(0), 100));
      break;
    case "chains":
      await client.submitMany(Array.from({ length: 100 }, (_, i) => chainOf(noop.si({ i }), 10)));
      break;
    case "chord":
      await client.submit(
        chord(
          Array.from({ length: 1_000 }, (_, i) => noop.si({ i })),
          collect.s(),
        ),
      );
      break;
    case "independent":
      for (let from = 0; from < 2_000; from += 500)
        await client.submitMany(Array.from({ length: 500 }, (_, i) => noop.si({ i: from + i })));
      break;
    case "single":
      for (let i = 0; i < 100; i++) {
        await client.submit(inc.si(i));
        const [c] = await claim();
        if (c) await store.complete(c, result, opts());
      }
      return;
  }
  let pending: Claim[] = [];
  for (;;) {
    if (pending.length === 0) pending = [...(await claim())];
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    if (batch.length === 1) {
      const r = await store.complete(batch[0]!, result, opts());
      if (r.ok) pending.push(...r.next);
    } else {
      const items: CompleteItem[] = batch.map((c) => ({ claim: c, result, nextMax: 1 }));
      for (const r of await store.completeMany!(items, opts())) if (r.ok) pending.push(...r.next);
    }
  }
};

/** Each line's enclosing function (the nearest definition above it) and include file. */
const placesOf = (lines: ReadonlyArray<string>) => {
  const fn: string[] = [];
  const file: string[] = [];
  let f = "(top)";
  let inc = "(library)";
  lines.forEach((text, i) => {
    const def =
      /^\s*(?:local\s+)?function\s+([\w.:]+)/.exec(text) ?? /register\("\w+?_([a-z]+)"/.exec(text);
    if (def) f = def[1]!;
    const include = /^-- lua\/includes\/(\w+)\.lua/.exec(text);
    if (include) inc = include[1]!;
    if (text === "do") inc = "(function)";
    fn[i + 1] = f;
    file[i + 1] = inc;
  });
  return { fn, file };
};

const report = (lib: ReadonlyArray<string>, out: string, tasks: number, lines: number) => {
  const { fn, file } = placesOf(lib);
  const rows = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(" ").map(Number) as [number, number, number, number]);
  const per = (n: number) => (n / tasks).toFixed(1).padStart(8);
  const byFn = new Map<string, [number, number, number]>();
  let ops = 0;
  let calls = 0;
  let bytes = 0;
  for (const [line, o, c, b] of rows) {
    ops += o;
    calls += c;
    bytes += b;
    const k = `${file[line]}: ${fn[line]}`;
    const e = byFn.get(k) ?? [0, 0, 0];
    byFn.set(k, [e[0] + o, e[1] + c, e[2] + b]);
  }
  const where = (line: number) =>
    `${String(line).padStart(5)} ${fn[line]!.slice(0, 20).padEnd(20)} ${lib[line - 1]!.trim().slice(0, 100)}`;
  log(
    `  VM operations per task ${per(ops).trim()}, redis.call per task ${per(calls).trim()}, bytes allocated per task ${per(bytes).trim()}`,
  );
  log("  by function (ops, calls, bytes per task):");
  for (const [k, [o, c, b]] of [...byFn].sort((a, b) => b[1][0] - a[1][0]).slice(0, 15))
    log(`  ${per(o)} ${per(c)} ${per(b)}  ${k}`);
  log("  by line (ops, calls, bytes per task, line of the library, function):");
  for (const [line, o, c, b] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, lines))
    log(`  ${per(o)} ${per(c)} ${per(b)}  ${where(line)}`);
  log("  by line, most bytes allocated (bytes, ops per task, line, function):");
  for (const [line, o, , b] of [...rows].sort((a, b) => b[3] - a[3]).slice(0, Math.min(lines, 20)))
    log(`  ${per(b)} ${per(o)}  ${where(line)}`);
};

const main = async () => {
  const workload = (process.argv[2] ?? "longChain") as Workload;
  if (!WORKLOADS.includes(workload))
    throw new Error(`unknown workload ${workload}: one of ${WORKLOADS.join(", ")}`);
  const groups = process.argv[3] ? [process.argv[3]] : GROUPS;
  const src = process.env.BENCH_REDIS_SRC;
  if (!src)
    throw new Error(
      "BENCH_REDIS_SRC: a built Redis source tree is needed (apt-get source redis, then make in it)",
    );
  const dir = mkdtempSync(join(tmpdir(), "weft-luaprof-"));
  try {
    await profile(workload, groups, src, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Builds the host in `dir`, captures `workload` on a private server and replays it once per group. */
const profile = async (
  workload: Workload,
  groups: ReadonlyArray<string>,
  src: string,
  dir: string,
) => {
  const host = join(dir, "host");
  const deps = join(src, "deps");
  execFileSync("cc", [
    "-O2",
    "-o",
    host,
    join(dirname(fileURLToPath(import.meta.url)), "..", "luaprof", "host.c"),
    `-I${join(deps, "lua", "src")}`,
    `-I${join(deps, "hiredis")}`,
    join(deps, "lua", "src", "liblua.a"),
    join(deps, "hiredis", "libhiredis.a"),
    "-lm",
  ]);
  const server = await startRedisServer();
  try {
    const store = await RedisStore.connect(server.url);
    const redis = store.redis as Redis;
    const captured: Captured[] = [];
    const send = redis.sendCommand.bind(redis) as (c: Command, ...rest: unknown[]) => unknown;
    redis.sendCommand = ((c: Command, ...rest: unknown[]) => {
      captured.push(
        [c.name, ...c.args.flat()].map((a) => (Buffer.isBuffer(a) ? a : Buffer.from(String(a)))),
      );
      return send(c, ...rest);
    }) as Redis["sendCommand"];
    await run(store, workload);
    redis.sendCommand = send as Redis["sendCommand"];
    const libs = (await redis.call("FUNCTION", "LIST", "WITHCODE")) as unknown[][];
    const code = libs
      .map((l) => l[l.indexOf("library_code") + 1])
      .find((c): c is string => typeof c === "string" && c.includes("register_function"));
    if (code === undefined) throw new Error("the server holds no Weft function library");
    writeFileSync(join(dir, "library.lua"), code);
    writeFileSync(join(dir, "capture.bin"), encodeCapture(captured));
    const lib = code.split("\n");
    log(`${workload}: ${TASKS[workload]} tasks, ${captured.length} commands replayed per group`);
    for (const g of groups) {
      await redis.flushall();
      const out = join(dir, `${g}.txt`);
      const said = execFileSync(host, [
        join(dir, "library.lua"),
        join(dir, "capture.bin"),
        String(server.port),
        g,
        out,
      ]).toString();
      log(`${g} (${said.trim().split(" ")[0]} calls):`);
      report(lib, out, TASKS[workload], Number(process.env.LUAPROF_LINES ?? 30));
    }
    await store.close();
  } finally {
    await server.stop();
  }
};

main().catch((e) => {
  process.stderr.write(
    `luaprof failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
