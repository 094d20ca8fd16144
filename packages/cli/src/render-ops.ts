/**
 * Pure renderers behind `weft watch`, `weft queues` and `weft locks`, and
 * the value previews `weft inspect` shows (inputs and results, truncated):
 * strings out, no I/O.
 */
import type { WeftEvent } from "@weft/core";
import type { LockInfo, QueueStats, QueueThroughput, WorkerPresence } from "@weft/core/store";
import pc from "picocolors";
import { formatDuration } from "./render.ts";

/** The longest value preview `weft inspect` prints on a node's line, characters. */
export const PREVIEW_CHARS = 120;

/** The longest value `weft inspect --json` includes whole, characters of its JSON. */
export const JSON_VALUE_CHARS = 2_000;

/** JSON of a value as the CLI prints it: bigints as strings, bytes as `{ base64 }`. */
const jsonOf = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString("base64") };
    return v;
  }) ?? "undefined";

/** A value as one line of at most `max` characters (JSON, cut with `…`). */
export const previewValue = (value: unknown, max = PREVIEW_CHARS): string => {
  const text = jsonOf(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

/**
 * A value for `inspect --json`: itself when its JSON is at most `max`
 * characters, else `{ truncated: true, chars, preview }` (the first `max`
 * characters of its JSON).
 */
export const jsonValue = (value: unknown, max = JSON_VALUE_CHARS): unknown => {
  const text = jsonOf(value);
  if (text.length <= max) return value;
  return { truncated: true, chars: text.length, preview: text.slice(0, max) };
};

/** `12:00:00.000` (UTC) */
const clock = (t: number): string => new Date(t).toISOString().slice(11, 23);

/**
 * One event as one line, for `weft watch` without a terminal:
 * `12:00:00.005  #2 math.add  started  attempt 1`.
 */
export const renderEventLine = (e: WeftEvent, opts: { readonly color?: boolean } = {}): string => {
  const c = pc.createColors(opts.color ?? false);
  const at = c.dim(clock(e.at));
  switch (e.kind) {
    case "run":
    case "run-ended": {
      const paint = e.status === "succeeded" ? c.green : e.status === "running" ? c.cyan : c.red;
      return `${at}  run ${e.runId}  ${paint(e.kind === "run-ended" ? `ended ${e.status}` : e.status)}`;
    }
    case "progress": {
      const p = e.progress;
      const of = p.total === undefined ? `${p.current}` : `${p.current}/${p.total}`;
      return `${at}  #${e.nodeId}  progress ${of}${p.message ? ` ${p.message}` : ""}`;
    }
    case "lease-expired":
      return `${at}  #${e.nodeId}  ${c.yellow("lease expired")} (re-delivered)`;
    case "added":
      return `${at}  nodes added: ${e.nodeIds.map((n) => `#${n}`).join(", ")}`;
    default: {
      const paint =
        e.kind === "succeeded"
          ? c.green
          : e.kind === "failed"
            ? c.red
            : e.kind === "retrying"
              ? c.yellow
              : e.kind === "started"
                ? c.cyan
                : c.dim;
      const attempt = e.attempt > 0 ? `  attempt ${e.attempt}` : "";
      const tag = e.errorTag ? `  ${e.errorTag}` : "";
      return `${at}  #${e.nodeId} ${e.task}  ${paint(e.kind)}${attempt}${tag}`;
    }
  }
};

/** Options of {@link renderQueues}. */
export interface QueuesOptions {
  readonly color?: boolean;
  /** The worker registry: consumers are the live workers listening to a queue. */
  readonly workers: ReadonlyArray<WorkerPresence>;
  /**
   * Each queue's throughput (`queueThroughput` of `@weft/core/store`): when
   * given, a THROUGHPUT column shows the attempts finished per minute and a
   * note says what it counts.
   */
  readonly throughput?: ReadonlyMap<string, QueueThroughput>;
}

/**
 * Renders queue counts as a table (queue, ready, delayed, leased, parked,
 * throughput when given, consumers: live workers listening to it), then a warning per paused
 * queue, per queue with nodes and no live consumer, and per parked task
 * that no live worker on its queue handles (Celery's "unregistered task").
 */
export const renderQueues = (stats: ReadonlyArray<QueueStats>, opts: QueuesOptions): string => {
  if (stats.length === 0) return "no queues\n";
  const c = pc.createColors(opts.color ?? false);
  const live = opts.workers.filter((w) => w.alive);
  const consumers = (q: string) => live.filter((w) => w.queues.includes(q));
  const through = opts.throughput;
  const header = [
    "QUEUE",
    "READY",
    "DELAYED",
    "LEASED",
    "PARKED",
    ...(through ? ["THROUGHPUT"] : []),
    "CONSUMERS",
  ];
  const rows = stats.map((s) => [
    s.queue,
    String(s.ready),
    String(s.delayed),
    String(s.leased),
    String(s.parked),
    ...(through ? [`${through.get(s.queue)?.finished ?? 0}/min`] : []),
    String(consumers(s.queue).length),
  ]);
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [c.dim(line(header)), ...rows.map(line)];
  if (through)
    out.push(
      c.dim(
        "throughput: attempts finished in the last 60 s, live workers, as of their last heartbeat",
      ),
    );
  const warnings: string[] = [];
  for (const s of stats) {
    const on = consumers(s.queue);
    const waiting = s.ready + s.delayed + s.parked;
    if (s.paused) {
      warnings.push(
        `queue ${s.queue}: paused, no node of it is claimed (${waiting} nodes wait; weft queues resume ${s.queue})`,
      );
    }
    if (on.length === 0 && waiting > 0) {
      warnings.push(`queue ${s.queue}: no live worker consumes it (${waiting} nodes wait)`);
    }
    for (const p of s.parkedTasks) {
      if (!on.some((w) => w.tasks.includes(p.task))) {
        warnings.push(
          `queue ${s.queue}: no live worker handles task ${p.task} (${p.count} node${p.count === 1 ? "" : "s"} parked)`,
        );
      }
    }
  }
  if (warnings.length > 0) out.push("", ...warnings.map((w) => c.yellow(w)));
  return `${out.join("\n")}\n`;
};

/**
 * Renders locks as a table: name, holder, fencing token, expiry (in how
 * long, or how long ago it expired).
 */
export const renderLocks = (
  locks: ReadonlyArray<LockInfo>,
  opts: { readonly color?: boolean; readonly now: number },
): string => {
  if (locks.length === 0) return "no locks\n";
  const c = pc.createColors(opts.color ?? false);
  const header = ["LOCK", "HOLDER", "TOKEN", "EXPIRES"];
  const rows = locks.map((l) => [
    l.name,
    l.owner,
    String(l.token),
    l.expiresAt > opts.now
      ? `in ${formatDuration(l.expiresAt - opts.now)}`
      : `expired ${formatDuration(opts.now - l.expiresAt)} ago`,
  ]);
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [c.dim(line(header))];
  locks.forEach((l, i) => {
    const text = line(rows[i]!);
    out.push(l.expiresAt > opts.now ? text : c.dim(text));
  });
  return `${out.join("\n")}\n`;
};
