/**
 * `npm run bench:cli -w @weft/bench`: how long `weft --help` takes, from
 * spawning the process to its exit, for the two ways the command can run:
 *
 * - **built**: `node packages/cli/dist/bin.js`, what package.json's `bin`
 *   names (plain JavaScript; the command loads Effect, ioredis and pino only
 *   in the commands that use them);
 * - **tsx, from sources**: `tsx` compiling `packages/cli/src/bin.ts` on the
 *   call, what the old `bin/weft.mjs` launcher did for every command (and
 *   what the workspace's `npm run weft` still does, for development).
 *
 * With `STARTUP_COMPARE=<checkout>` (a checkout of an earlier Weft whose
 * `packages/cli/bin/weft.mjs` ran the sources through tsx, e.g. a worktree
 * of commit cb24a37, with its node_modules installed), that launcher runs
 * too, as the "before" of the change that made the command run from dist/.
 *
 * Runs alternate between the variants so that a slow moment of the machine
 * hits all of them. Knobs: `STARTUP_N` runs of each (default 20, after 2
 * dropped warm-up runs). Prints min, median and p90 in ms.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, type TableData, toText } from "./report.ts";

const N = Number(process.env.STARTUP_N ?? 20);
const WARMUP = 2;
const root = fileURLToPath(new URL("../..", import.meta.url));

/** One way to start the command: the process and its arguments. */
interface Variant {
  readonly name: string;
  readonly command: string;
  readonly args: ReadonlyArray<string>;
}

const compare = process.env.STARTUP_COMPARE;

const variants: ReadonlyArray<Variant> = [
  ...(compare === undefined || compare === ""
    ? []
    : [
        {
          name: "before: bin/weft.mjs (tsx)",
          command: process.execPath,
          args: [join(compare, "packages/cli/bin/weft.mjs")],
        },
      ]),
  { name: "built (dist/bin.js)", command: process.execPath, args: ["packages/cli/dist/bin.js"] },
  {
    name: "tsx, from sources",
    command: process.execPath,
    args: ["--conditions=@weft/source", "--import", "tsx", "packages/cli/src/bin.ts"],
  },
];

/** Spawns one `weft --help` and returns its wall time, ms. */
const once = (v: Variant): number => {
  const t0 = performance.now();
  const r = spawnSync(v.command, [...v.args, "--help"], { cwd: root, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0 || !r.stdout.startsWith("Usage: weft")) {
    throw new Error(`${v.name}: weft --help exited ${r.status}: ${r.stderr}`);
  }
  return ms;
};

/** The `q`-quantile of `xs` (nearest rank). */
const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};

const samples = new Map(variants.map((v) => [v.name, [] as number[]]));
for (let i = 0; i < WARMUP + N; i++) {
  for (const v of variants) {
    const ms = once(v);
    if (i >= WARMUP) samples.get(v.name)?.push(ms);
  }
}

const table: TableData = {
  title: `weft --help, spawn to exit (${N} runs each, alternating)`,
  head: ["weft --help", "runs", "min ms", "median ms", "p90 ms"],
  rows: variants.map((v) => {
    const xs = samples.get(v.name) ?? [];
    return [
      v.name,
      String(xs.length),
      Math.min(...xs).toFixed(0),
      median(xs).toFixed(0),
      quantile(xs, 0.9).toFixed(0),
    ];
  }),
};
process.stdout.write(`${toText(table)}\n`);
