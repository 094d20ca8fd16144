/**
 * The report: the comparison table (medians over repetitions; latency
 * quantiles are per run, then the median), the
 * diagnostics (CPU, commands per task, slow commands) and Weft's script
 * calls per task, for the terminal (cli-table3) and as Markdown.
 */
import Table from "cli-table3";
import { type Sizes, WORKLOAD_IDS, type WorkloadId } from "./config.ts";
import type { Measurement } from "./measure.ts";

/** A table: a header row and body rows. */
export interface TableData {
  readonly title: string;
  readonly head: ReadonlyArray<string>;
  readonly rows: ReadonlyArray<ReadonlyArray<string>>;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The `q`-quantile of `xs` (nearest rank); NaN when empty. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
};

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-");
const fixed = (d: number) => (n: number) => (Number.isFinite(n) ? n.toFixed(d) : "-");

type System = Measurement["system"];
type Pick = (system: System, workload: WorkloadId) => Measurement[];

const picker = (ms: ReadonlyArray<Measurement>): Pick => {
  return (system, workload) => ms.filter((m) => m.system === system && m.workload === workload);
};

/** The median of `metric` over the successful measurements, NaN when none succeeded. */
const med = (runs: Measurement[], metric: (m: Measurement) => number): number =>
  median(runs.filter((m) => !m.error).map(metric));

const throughput = (m: Measurement) => m.tasks / (m.wallMs / 1_000);
const msPerTask = (m: Measurement) => m.wallMs / m.tasks;
const bytesPerTask = (m: Measurement) => m.memoryBytes / m.tasks;
const latencyQ = (q: number) => (m: Measurement) => quantile(m.latencySamples ?? [], q);
const allCalls = (m: Measurement) => Object.values(m.commands).reduce((a, c) => a + c.calls, 0);
/** A slow log that held every slow command (saved runs from before the flag count as complete). */
const slowComplete = (m: Measurement) => m.slow.complete !== false;

interface Row {
  readonly label: string;
  readonly workload: WorkloadId;
  readonly metric: (m: Measurement) => number;
  readonly format: (n: number) => string;
  /** Throughput: ratio Weft/BullMQ; latency and bytes: BullMQ/Weft (> 1: Weft better). */
  readonly higherIsBetter: boolean;
}

/**
 * A row computed per system from several workloads' runs, without a
 * Weft/BullMQ ratio: NaN when it cannot be computed.
 */
interface Derived {
  readonly label: string;
  /** The workloads it needs; the row shows when the first has measurements. */
  readonly workloads: ReadonlyArray<WorkloadId>;
  readonly value: (runs: (w: WorkloadId) => Measurement[]) => number;
  readonly format: (n: number) => string;
}

/** hugeChord's throughput over chord's: how throughput holds up at 10× the width. */
const hugeVsChord: Derived = {
  label: "hugeChord tasks/s vs chord tasks/s (target: Weft within 25 %)",
  workloads: ["hugeChord", "chord"],
  value: (runs) => med(runs("hugeChord"), throughput) / med(runs("chord"), throughput),
  format: fixed(2),
};

/** The slowest command of any hugeChord run; NaN when a slow log was not read or overflowed. */
const slowestInHuge: Derived = {
  label: "slowest Redis command in hugeChord, ms (target ≤ 20)",
  workloads: ["hugeChord"],
  value: (runs) => {
    const ok = runs("hugeChord").filter((m) => !m.error);
    if (ok.length === 0 || !ok.every(slowComplete)) return Number.NaN;
    return Math.max(...ok.map((m) => m.slow.maxUs)) / 1_000;
  },
  format: fixed(1),
};

const rowsFor = (s: Sizes): Array<Row | Derived> => [
  {
    label: `chord of ${int(s.chord)} + body, tasks/s`,
    workload: "chord",
    metric: throughput,
    format: int,
    higherIsBetter: true,
  },
  {
    label: `chord of ${int(s.chord)}: submit → body done, ms`,
    workload: "chord",
    metric: (m) => m.wallMs,
    format: int,
    higherIsBetter: false,
  },
  {
    label: `hugeChord of ${int(s.hugeChord)} + body, tasks/s`,
    workload: "hugeChord",
    metric: throughput,
    format: int,
    higherIsBetter: true,
  },
  hugeVsChord,
  slowestInHuge,
  {
    label: `${int(s.chains)} chains of ${s.chainLength}, tasks/s`,
    workload: "chains",
    metric: throughput,
    format: int,
    higherIsBetter: true,
  },
  {
    label: `${int(s.independent)} independent tasks, tasks/s`,
    workload: "independent",
    metric: throughput,
    format: int,
    higherIsBetter: true,
  },
  {
    label: `${s.longChain}-step chain, ms per step`,
    workload: "longChain",
    metric: msPerTask,
    format: fixed(3),
    higherIsBetter: false,
  },
  {
    label: `submit → start p50, ${int(s.latency)} runs one at a time, ms`,
    workload: "latency",
    metric: latencyQ(0.5),
    format: fixed(2),
    higherIsBetter: false,
  },
  {
    label: `submit → start p99, ${int(s.latency)} runs one at a time, ms`,
    workload: "latency",
    metric: latencyQ(0.99),
    format: fixed(2),
    higherIsBetter: false,
  },
  {
    label: `${int(s.awaited)} runs submitted together, every result awaited at once, tasks/s`,
    workload: "awaited",
    metric: throughput,
    format: int,
    higherIsBetter: true,
  },
  {
    label: `memory per finished task (${int(s.memory)} independent), bytes`,
    workload: "memory",
    metric: bytesPerTask,
    format: int,
    higherIsBetter: false,
  },
  {
    label: `memory per finished task (chord of ${int(s.chord)}), bytes`,
    workload: "chord",
    metric: bytesPerTask,
    format: int,
    higherIsBetter: false,
  },
  {
    label: `memory per finished task (hugeChord of ${int(s.hugeChord)}), bytes`,
    workload: "hugeChord",
    metric: bytesPerTask,
    format: int,
    higherIsBetter: false,
  },
  {
    label: `memory per finished task (chains of ${s.chainLength}), bytes`,
    workload: "chains",
    metric: bytesPerTask,
    format: int,
    higherIsBetter: false,
  },
  ...WORKLOAD_IDS.map(
    (w): Row => ({
      label: `${w}: Redis commands per task (incl. in scripts)`,
      workload: w,
      metric: (m) => allCalls(m) / m.tasks,
      format: fixed(1),
      higherIsBetter: false,
    }),
  ),
];

/** `value` formatted, or why there is none, and how many of `runs` failed. */
const cellOf = (runs: Measurement[], value: number, format: (n: number) => string): string => {
  if (runs.length === 0) return "-";
  const ok = runs.filter((m) => !m.error);
  if (ok.length === 0) return runs[0]!.error?.startsWith("timed out") ? "timed out" : "error";
  const v = format(value);
  return ok.length < runs.length ? `${v} (${runs.length - ok.length} failed)` : v;
};

const cell = (runs: Measurement[], row: Row): string =>
  cellOf(runs, med(runs, row.metric), row.format);

/** The comparison table. */
export const comparison = (ms: ReadonlyArray<Measurement>, sizes: Sizes): TableData => {
  const pick = picker(ms);
  const rows = rowsFor(sizes)
    .filter((r) => ms.some((m) => m.workload === ("workload" in r ? r.workload : r.workloads[0])))
    .map((r) => {
      if (!("workload" in r)) {
        const [w] = r.workloads;
        return [
          r.label,
          ...(["Weft", "BullMQ"] as const).map((system) =>
            cellOf(
              pick(system, w!),
              r.value((x) => pick(system, x)),
              r.format,
            ),
          ),
          "-",
        ];
      }
      const w = pick("Weft", r.workload);
      const b = pick("BullMQ", r.workload);
      const wv = med(w, r.metric);
      const bv = med(b, r.metric);
      const ratio = r.higherIsBetter ? wv / bv : bv / wv;
      return [
        r.label,
        cell(w, r),
        cell(b, r),
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "-",
      ];
    });
  const n = Math.max(0, ...countRuns(ms));
  return {
    title: `Weft vs BullMQ (median of ${n} run${n === 1 ? "" : "s"}; ratio > 1 means Weft is better)`,
    head: ["workload", "Weft", "BullMQ", "ratio"],
    rows,
  };
};

const countRuns = (ms: ReadonlyArray<Measurement>): number[] => {
  const counts = new Map<string, number>();
  for (const m of ms)
    counts.set(`${m.system}/${m.workload}`, (counts.get(`${m.system}/${m.workload}`) ?? 0) + 1);
  return [...counts.values()];
};

const perTask = (runs: Measurement[], f: (m: Measurement) => number) =>
  med(runs, (m) => f(m) / m.tasks);

/** The commands that run a script: Weft's library functions go by FCALL, the rest (and BullMQ's) by EVALSHA. */
const SCRIPT_COMMANDS = ["evalsha", "eval", "fcall"];

const calls = (m: Measurement, names: ReadonlyArray<string>) =>
  names.reduce((a, n) => a + (m.commands[n]?.calls ?? 0), 0);

/** CPU, commands per task and slow commands, per workload and system. */
export const diagnostics = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
): TableData => {
  const pick = picker(ms);
  const rows: string[][] = [];
  for (const w of order) {
    for (const system of ["Weft", "BullMQ"] as const) {
      const runs = pick(system, w);
      if (runs.length === 0) continue;
      const evalUs = med(runs, (m) => {
        const c = calls(m, SCRIPT_COMMANDS);
        const u = SCRIPT_COMMANDS.reduce((t, n) => t + (m.commands[n]?.usec ?? 0), 0);
        return c === 0 ? Number.NaN : u / c;
      });
      const slowest = runs.reduce((a, m) => (m.slow.maxUs > a.slow.maxUs ? m : a), runs[0]!);
      const slowLog = runs.every(slowComplete)
        ? ""
        : runs.some((m) => m.slow.count > 0)
          ? " (slow log full: older entries lost)"
          : " (slow log not read)";
      rows.push([
        w,
        system,
        int(med(runs, (m) => m.wallMs)),
        int(med(runs, (m) => m.submitMs)),
        int(med(runs, (m) => m.firstDoneMs ?? Number.NaN)),
        fixed(1)(med(runs, (m) => m.lastAloneMs ?? Number.NaN)),
        fixed(1)(perTask(runs, (m) => m.nodeCpuMs * 1_000)),
        fixed(1)(perTask(runs, (m) => m.redisCpuMs * 1_000)),
        fixed(2)(perTask(runs, (m) => calls(m, SCRIPT_COMMANDS))),
        fixed(2)(perTask(runs, allCalls)),
        fixed(1)(evalUs),
        `${int(med(runs, (m) => m.slow.count))} / ${int(med(runs, (m) => m.slow.over10ms))}; max ${fixed(1)(slowest.slow.maxUs / 1_000)} ms (${slowest.slow.maxCommand})${slowLog}`,
        fixed(1)(med(runs, (m) => m.load)),
        int(med(runs, (m) => m.roundTripUs ?? Number.NaN)),
      ]);
    }
  }
  return {
    title: "Diagnostics (medians; per task = divided by the workload's task count)",
    head: [
      "workload",
      "system",
      "wall ms",
      "submit ms",
      "1st task done, ms",
      "last task alone, ms",
      "Node CPU µs/task",
      "Redis CPU µs/task",
      "script calls/task",
      "Redis cmds/task (incl. in scripts)",
      "µs/script call",
      "cmds > 1 ms / > 10 ms; slowest",
      "load avg",
      "round trip p50 after, µs",
    ],
    rows,
  };
};

/** Calls per task of each command name counted by `counts`, most first. */
const topPerTask = (
  runs: Measurement[],
  counts: (m: Measurement) => Readonly<Record<string, number>>,
): Array<readonly [string, number]> => {
  const names = new Set(runs.flatMap((m) => Object.keys(counts(m))));
  return [...names]
    .map((n) => [n, perTask(runs, (m) => counts(m)[n] ?? 0)] as const)
    .sort((a, b) => b[1] - a[1]);
};

/**
 * One row per workload and system that has runs without errors:
 * `[workload, system, ...cells(runs)]`, workloads in `order`, Weft before BullMQ.
 */
const rowsPerSystem = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
  cells: (runs: Measurement[]) => string[],
): string[][] => {
  const pick = picker(ms);
  const rows: string[][] = [];
  for (const w of order) {
    for (const system of ["Weft", "BullMQ"] as const) {
      const runs = pick(system, w).filter((m) => !m.error);
      if (runs.length > 0) rows.push([w, system, ...cells(runs)]);
    }
  }
  return rows;
};

/** Top server-side commands per task, both systems. */
export const commandTable = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
): TableData => {
  const rows = rowsPerSystem(ms, order, (runs) => {
    const per = topPerTask(runs, (m) =>
      Object.fromEntries(Object.entries(m.commands).map(([n, c]) => [n, c.calls])),
    )
      .slice(0, 6)
      .map(([n, v]) => `${n} ${v.toFixed(3)}`);
    return [per.join(", ")];
  });
  return {
    title: "Redis commands per task (INFO commandstats, top 6)",
    head: ["workload", "system", "calls per task"],
    rows,
  };
};

/** Weft's commands per task as its client sent them, scripts by name. */
export const weftScripts = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
): TableData => {
  const pick = picker(ms);
  const rows: string[][] = [];
  for (const w of order) {
    const runs = pick("Weft", w).filter((m) => !m.error && m.clientCommands);
    if (runs.length === 0) continue;
    const per = topPerTask(runs, (m) => m.clientCommands ?? {})
      .filter(([, v]) => v >= 0.0005)
      .map(([n, v]) => `${n.replace(/^(evalsha|fcall) weft\d+_/, "")} ${v.toFixed(3)}`);
    rows.push([w, per.join(", ")]);
  }
  return {
    title:
      "Weft commands per task, client side (scripts by name; blocking reads on other connections not counted)",
    head: ["workload", "calls per task"],
    rows,
  };
};

/** Renders for the terminal. */
export const toText = (t: TableData): string => {
  const table = new Table({ head: [...t.head], style: { head: [], border: [] }, wordWrap: true });
  for (const r of t.rows) table.push([...r]);
  return `${t.title}\n${table.toString()}`;
};

/** Renders as Markdown. */
export const toMarkdown = (t: TableData): string => {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [
    `**${t.title}**`,
    "",
    `| ${t.head.map(esc).join(" | ")} |`,
    `| ${t.head.map(() => "---").join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
  return lines.join("\n");
};

/** Server time per script, from a slow log that records every command. */
export const scriptTimes = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
): TableData => {
  const rows = rowsPerSystem(ms, order, (runs) => {
    const names = new Set(runs.flatMap((m) => Object.keys(m.serverTimes)));
    const per = [...names]
      .map((n) => {
        const calls = perTask(runs, (m) => m.serverTimes[n]?.calls ?? 0);
        const us = perTask(runs, (m) => m.serverTimes[n]?.us ?? 0);
        return { n, calls, us };
      })
      .filter((x) => x.us >= 0.5)
      .sort((a, b) => b.us - a.us)
      .slice(0, 8)
      .map((x) => `${x.n}: ${x.calls.toFixed(2)} × ${(x.us / x.calls).toFixed(0)} µs`);
    const total = perTask(runs, (m) => Object.values(m.serverTimes).reduce((a, t) => a + t.us, 0));
    return [fixed(0)(total), per.join(", ")];
  });
  return {
    title:
      "Redis time per task in scripts (slow log of every command; calls per task × mean µs per call)",
    head: ["workload", "system", "script µs/task", "scripts"],
    rows,
  };
};

/**
 * Instructions redis-server executed per task (`BENCH_INSTRUCTIONS=1`,
 * callgrind.ts), Weft beside BullMQ: medians over the repetitions.
 */
export const instructionsTable = (
  ms: ReadonlyArray<Measurement>,
  order: ReadonlyArray<WorkloadId>,
): TableData => {
  const pick = picker(ms);
  const perRun = (system: "Weft" | "BullMQ", w: WorkloadId) => {
    const runs = pick(system, w).filter((m) => !m.error && m.redisInstructions !== undefined);
    return runs.length === 0 ? Number.NaN : perTask(runs, (m) => m.redisInstructions ?? Number.NaN);
  };
  const rows = order.map((w) => {
    const weftIr = perRun("Weft", w);
    const bullIr = perRun("BullMQ", w);
    return [w, int(weftIr), int(bullIr), fixed(2)(bullIr / weftIr)];
  });
  return {
    title: "Redis instructions per task (callgrind; BullMQ / Weft above 1: Weft costs Redis less)",
    head: ["workload", "Weft", "BullMQ", "BullMQ / Weft"],
    rows,
  };
};
