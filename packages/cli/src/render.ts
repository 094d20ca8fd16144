/**
 * Pure renderers behind `weft inspect`, `weft runs` and `weft workers`: a
 * run snapshot as a header and a tree of its canvas (rebuilt from each
 * node's `spec.path`), annotated with the queued nodes no live worker can
 * run; a list of runs and the worker registry as tables. They return
 * strings and do no I/O, so the examples and the dashboard can reuse them.
 */
import type { ErrorInfo, NodeState, RunRecord, RunSnapshot, RunStatus } from "@weft/core";
import type { WorkerPresence } from "@weft/core/store";
import pc from "picocolors";

/** One node of a snapshot, as `Store.getRun` returns it. */
export type SnapshotNode = RunSnapshot["nodes"][number];

/** A run as `Store.listRuns` returns it (`task`: its first node's task). */
export type RunSummary = RunRecord & {
  readonly tags: ReadonlyArray<string>;
  readonly task?: string;
};

/** Options of {@link renderInspect}. */
export interface InspectOptions {
  /** ANSI colours. Default `false`. */
  readonly color?: boolean;
  /** Shows every node: no wide group is collapsed. Default `false`. */
  readonly all?: boolean;
  /**
   * Members of one group sharing task and state (or, for nested canvases,
   * shape and states) beyond which they are collapsed into a summary line.
   * Default {@link WIDE}.
   */
  readonly wide?: number;
  /** Clock reading (epoch ms) for the elapsed time of what still runs. Default `Date.now()`. */
  readonly now?: number;
  /**
   * The worker registry (`Store.listWorkers`). When given, each queued or
   * retrying node whose task no live worker on its queue handles says so
   * (Celery's unregistered-task warning), and the header sums them up.
   */
  readonly workers?: ReadonlyArray<WorkerPresence>;
  /**
   * Each node's bound input and recorded result (decoded), shown under it
   * as one line each, cut to {@link VALUE_CHARS} characters of JSON.
   */
  readonly values?: ReadonlyMap<number, { readonly input?: unknown; readonly result?: unknown }>;
  /**
   * Running nodes' lease expiries by node id (`Store.leaseExpiries`, epoch
   * ms), each shown under its node: in how long it expires, or how long ago
   * it expired (the node is re-delivered at the next maintenance tick).
   */
  readonly leases?: ReadonlyMap<number, number>;
}

/** The longest value preview `renderInspect` prints for an input or a result, characters. */
export const VALUE_CHARS = 120;

/** Options of {@link renderRuns}. */
export interface RunsOptions {
  /** ANSI colours. Default `false`. */
  readonly color?: boolean;
  /** Clock reading (epoch ms) for the duration of runs still going. Default `Date.now()`. */
  readonly now?: number;
}

/** Options of {@link renderWorkers}. */
export interface WorkersOptions {
  /** ANSI colours. Default `false`. */
  readonly color?: boolean;
  /** Clock reading (epoch ms) for how long ago each worker was seen. Default `Date.now()`. */
  readonly now?: number;
}

/**
 * For a queued or retrying node, the message that no live worker on its
 * queue handles its task, or `undefined` when one does.
 */
export const unhandled = (
  node: SnapshotNode,
  workers: ReadonlyArray<WorkerPresence>,
): string | undefined => {
  if (node.state !== "queued" && node.state !== "retrying") return undefined;
  const { task, queue } = node.spec;
  const handled = workers.some(
    (w) => w.alive && w.queues.includes(queue) && w.tasks.includes(task),
  );
  return handled ? undefined : `no live worker handles task ${task} on queue ${queue}`;
};

/** Default collapse threshold of {@link renderInspect}: more alike members than this are summarised. */
export const WIDE = 20;

/** Members of a collapsed bucket that are still shown before its summary line. */
const KEEP = 3;

type Colors = ReturnType<typeof pc.createColors>;
type Paint = (s: string) => string;

const stateColor = (c: Colors, state: NodeState | RunStatus): Paint => {
  switch (state) {
    case "succeeded":
      return c.green;
    case "failed":
      return c.red;
    case "running":
      return c.cyan;
    case "retrying":
      return c.yellow;
    case "cancelled":
    case "expired":
      return c.magenta;
    case "skipped":
    case "waiting":
    case "queued":
    case "pending":
      return c.dim;
  }
};

/** `1,234` */
const int = (n: number): string => n.toLocaleString("en-US");

/** `2025-01-31 12:00:00.000 UTC`, or `-`. */
const time = (t: number | undefined): string =>
  t === undefined ? "-" : new Date(t).toISOString().replace("T", " ").replace("Z", " UTC");

/** A human duration: `850 ms`, `1.25 s`, `3 min 4 s`, `2 h 5 min`. */
export const formatDuration = (ms: number): string => {
  const v = Math.max(0, Math.round(ms));
  if (v < 1_000) return `${v} ms`;
  if (v < 60_000) return `${(v / 1_000).toFixed(2)} s`;
  if (v < 3_600_000) return `${Math.floor(v / 60_000)} min ${Math.floor((v % 60_000) / 1_000)} s`;
  return `${Math.floor(v / 3_600_000)} h ${Math.floor((v % 3_600_000) / 60_000)} min`;
};

/** Longest line of an error message shown, characters; a longer one is cut with `…`. */
const ERROR_LINE_CHARS = 200;
/** Most lines of one error message shown; the rest are counted in a `… N more lines` line. */
const ERROR_LINES = 8;

/**
 * An error as the lines to show: `Tag: first line of the message`, then the
 * message's further lines as they are (a schema issue's `  at ["field"]`
 * path, the next issue), blank ones dropped. Each line is cut to
 * {@link ERROR_LINE_CHARS} characters; past {@link ERROR_LINES} lines the
 * rest is counted in a last `… N more lines` line.
 */
const describeError = (e: ErrorInfo): string[] => {
  const cut = (line: string) =>
    line.length > ERROR_LINE_CHARS ? `${line.slice(0, ERROR_LINE_CHARS - 1)}…` : line;
  const [first = "", ...rest] = e.message.split("\n");
  const lines = [`${e.tag}: ${first}`, ...rest.filter((l) => l.trim() !== "")].map((l) =>
    cut(l.trimEnd()),
  );
  if (lines.length <= ERROR_LINES) return lines;
  const hidden = lines.length - (ERROR_LINES - 1);
  return [...lines.slice(0, ERROR_LINES - 1), `… ${int(hidden)} more lines`];
};

/** `2 succeeded, 1 failed`, in a fixed state order. */
const tally = (states: ReadonlyArray<NodeState>): string => {
  const counts = new Map<NodeState, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return ORDER.filter((s) => counts.has(s))
    .map((s) => `${int(counts.get(s)!)} ${s}`)
    .join(", ");
};

const ORDER: ReadonlyArray<NodeState> = [
  "succeeded",
  "running",
  "retrying",
  "queued",
  "waiting",
  "failed",
  "expired",
  "skipped",
  "cancelled",
];

// ---------------------------------------------------------------------------
// The canvas tree

/** A display tree item: a node, a labelled branch, or the summary of collapsed members. */
type Item =
  | { readonly type: "node"; readonly node: SnapshotNode; readonly sig: string }
  | {
      readonly type: "branch";
      readonly label: string;
      readonly children: ReadonlyArray<Item>;
      readonly states: ReadonlyArray<NodeState>;
      readonly sig: string;
    }
  | { readonly type: "more"; readonly count: number; readonly what: string; readonly sig: string };

interface Trie {
  node?: SnapshotNode;
  /** Created on first use: most entries are leaves. */
  children?: Map<string, Trie>;
}

/**
 * Where a node sits in the tree: its declared path, or for a dynamic node
 * (docs/concepts.md, "Dynamic canvases") its path in its replacement canvas
 * under a `replaced` branch beside the node that added it.
 */
const placeOf = (
  nodes: ReadonlyArray<SnapshotNode>,
  n: SnapshotNode,
  seen: Map<number, ReadonlyArray<string>>,
): ReadonlyArray<string> => {
  const known = seen.get(n.id);
  if (known) return known;
  const by = n.spec.addedBy;
  const adder = by === undefined || by === n.id ? undefined : nodes[by];
  const place = adder ? [...placeOf(nodes, adder, seen), "replaced", ...n.spec.path] : n.spec.path;
  seen.set(n.id, place);
  return place;
};

const buildTrie = (nodes: ReadonlyArray<SnapshotNode>): Trie => {
  const root: Trie = {};
  const seen = new Map<number, ReadonlyArray<string>>();
  for (const n of nodes) {
    let at = root;
    for (const seg of placeOf(nodes, n, seen)) {
      at.children ??= new Map();
      let next = at.children.get(seg);
      if (!next) {
        next = {};
        at.children.set(seg, next);
      }
      at = next;
    }
    at.node = n;
  }
  return root;
};

/** `chain:1` → `chain`; `body` → `body`. */
const kindOf = (segment: string): string => {
  const i = segment.indexOf(":");
  return i < 0 ? segment : segment.slice(0, i);
};

const statesOf = (items: ReadonlyArray<Item>): NodeState[] => {
  const out: NodeState[] = [];
  for (const i of items) {
    if (i.type === "node") out.push(i.node.state);
    else if (i.type === "branch") for (const st of i.states) out.push(st);
  }
  return out;
};

const nodeItem = (node: SnapshotNode): Item => ({
  type: "node",
  node,
  sig: `${node.spec.task} ${node.state}`,
});

const branch = (label: string, children: ReadonlyArray<Item>, hidden: NodeState[]): Item => {
  const states = [...statesOf(children), ...hidden];
  return {
    type: "branch",
    label,
    children,
    states,
    sig: `${label} [${children.map((c) => c.sig).join(", ")}]`,
  };
};

/**
 * Collapses alike members: a bucket (same signature) of more than `wide`
 * members keeps its first {@link KEEP}, followed by one summary line that
 * stands for the rest.
 */
const collapse = (
  items: ReadonlyArray<Item>,
  wide: number,
): { shown: Item[]; hidden: NodeState[] } => {
  if (items.length <= wide) return { shown: [...items], hidden: [] };
  const sizes = new Map<string, number>();
  for (const it of items) sizes.set(it.sig, (sizes.get(it.sig) ?? 0) + 1);
  const seen = new Map<string, number>();
  const shown: Array<Item | { readonly more: string }> = [];
  const hidden: NodeState[] = [];
  const keep = Math.min(KEEP, wide);
  for (const it of items) {
    const size = sizes.get(it.sig) ?? 0;
    const k = (seen.get(it.sig) ?? 0) + 1;
    seen.set(it.sig, k);
    if (size <= wide || k <= keep) shown.push(it);
    else {
      if (k === keep + 1) shown.push({ more: it.sig });
      for (const st of statesOf([it])) hidden.push(st);
    }
  }
  return {
    shown: shown.map((it) => {
      if (!("more" in it)) return it;
      const what = it.more.length > 80 ? `${it.more.slice(0, 79)}…` : it.more;
      const count = (sizes.get(it.more) ?? 0) - keep;
      return { type: "more", count, what, sig: `${count} more ${it.more}` };
    }),
    hidden,
  };
};

const toItem = (t: Trie, wide: number): Item => {
  if (!t.children) return t.node ? nodeItem(t.node) : branch("empty", [], []);
  const self = t.node ? [nodeItem(t.node)] : [];
  const byKind = new Map<string, Item[]>();
  const all: Item[] = [...self];
  for (const [seg, child] of t.children) {
    const kind = kindOf(seg);
    let list = byKind.get(kind);
    if (!list) {
      list = [];
      byKind.set(kind, list);
    }
    const item = toItem(child, wide);
    list.push(item);
    all.push(item);
  }
  const header = byKind.get("header");
  const body = byKind.get("body");
  if (header || body) {
    const parts: Item[] = [...self];
    if (header) {
      const h = collapse(header, wide);
      parts.push(branch("header", h.shown, h.hidden));
    }
    if (body) parts.push(branch("body", body, []));
    for (const [kind, list] of byKind) {
      if (kind !== "header" && kind !== "body") for (const it of list) parts.push(it);
    }
    return branch("chord", parts, []);
  }
  const { shown, hidden } = collapse(all, wide);
  // callbacks hang beside what they are attached to: they do not name the branch
  const kinds = [...byKind.keys()].filter((k) => k !== "onSuccess" && k !== "onError");
  return branch(kinds.length > 0 ? kinds.join("/") : "linked", shown, hidden);
};

/**
 * ` (on success)` or ` (on error of #n)` after a callback node's task,
 * ` (added by #n)` after a dynamic node's, ` (replaced)` after a replaced
 * node's; empty for other nodes.
 */
const callbackNote = (node: SnapshotNode): string => {
  const { callback, path, addedBy, replacedBy } = node.spec;
  const dynamic =
    (addedBy === undefined ? "" : ` (added by #${addedBy})`) +
    (replacedBy === undefined ? "" : " (replaced)");
  return dynamic + linkNote(callback, path);
};

const linkNote = (
  callback: SnapshotNode["spec"]["callback"],
  path: ReadonlyArray<string>,
): string => {
  if (callback === undefined) return "";
  const at = [...path].reverse().find((seg) => seg.startsWith("onError:") || seg === "onSuccess");
  return at?.startsWith("onError:") ? ` (on error of #${at.slice(8)})` : ` (on ${callback})`;
};

interface Row {
  /** Tree glyphs. */
  readonly prefix: string;
  /** Node or branch label, or the detail text. */
  readonly label: string;
  readonly node?: SnapshotNode;
  /** Extra text after a branch label. */
  readonly note?: string;
  readonly detail?: Detail | "more";
}

type Detail = "error" | "warn" | "info";

/** Appends the rows of `item` (and of everything under it) to `rows`. */
const walk = (
  rows: Row[],
  item: Item,
  prefix: string,
  last: boolean,
  root: boolean,
  now: number,
  workers: ReadonlyArray<WorkerPresence> | undefined,
  shown: Pick<InspectOptions, "values" | "leases"> = {},
): void => {
  const glyph = root ? "" : last ? "└─ " : "├─ ";
  const inner = root ? "" : `${prefix}${last ? "   " : "│  "}`;
  switch (item.type) {
    case "more":
      rows.push({
        prefix: `${prefix}${glyph}`,
        label: `… ${int(item.count)} more ${item.what}`,
        detail: "more",
      });
      return;
    case "node":
      rows.push({
        prefix: `${prefix}${glyph}`,
        label: `#${item.node.id} ${item.node.spec.task}${callbackNote(item.node)}`,
        node: item.node,
      });
      for (const d of details(item.node, now, workers, shown)) {
        rows.push({ prefix: `${inner}  `, label: d.text, detail: d.kind });
      }
      return;
    case "branch": {
      const members = item.children.reduce((k, ch) => k + (ch.type === "more" ? ch.count : 1), 0);
      const nodes = item.states.length;
      const note =
        item.label === "group" || item.label === "header"
          ? `${int(members)} member${members === 1 ? "" : "s"}${
              nodes === members ? "" : `, ${int(nodes)} nodes`
            } · ${tally(item.states)}`
          : undefined;
      rows.push({
        prefix: `${prefix}${glyph}`,
        label: item.label,
        ...(note === undefined ? {} : { note }),
      });
      item.children.forEach((ch, i) => {
        walk(rows, ch, inner, i === item.children.length - 1, false, now, workers, shown);
      });
      return;
    }
  }
};

/** A value as one line of JSON, cut to {@link VALUE_CHARS} characters. */
const preview = (value: unknown): string => {
  const text =
    JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) ??
    "undefined";
  return text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS - 1)}…` : text;
};

const details = (
  n: SnapshotNode,
  now: number,
  workers: ReadonlyArray<WorkerPresence> | undefined,
  shown: Pick<InspectOptions, "values" | "leases">,
): Array<{ text: string; kind: Detail }> => {
  const out: Array<{ text: string; kind: Detail }> = [];
  const v = shown.values?.get(n.id);
  if (v && "input" in v && v.input !== null && v.input !== undefined) {
    out.push({
      text: `${n.spec.bind.kind === "immutable" ? "input" : "bound"} ${preview(v.input)}`,
      kind: "info",
    });
  }
  if (v && "result" in v) out.push({ text: `result ${preview(v.result)}`, kind: "info" });
  if (n.state === "running" && n.worker && workers) {
    const w = workers.find((x) => x.id === n.worker);
    if (!w) {
      out.push({
        text: `worker ${n.worker} is not registered (stopped, or pruned a day after it died): the node is re-delivered when its lease expires`,
        kind: "warn",
      });
    } else if (!w.alive) {
      out.push({
        text: `worker ${n.worker} is dead: last heartbeat ${formatDuration(now - w.lastSeenAt)} ago; the node is re-delivered when its lease expires`,
        kind: "warn",
      });
    }
  }
  const until = n.state === "running" ? shown.leases?.get(n.id) : undefined;
  if (until !== undefined) {
    out.push(
      until >= now
        ? { text: `lease expires in ${formatDuration(until - now)} (${time(until)})`, kind: "info" }
        : {
            text: `lease expired ${formatDuration(now - until)} ago: the node is re-delivered at the next maintenance tick`,
            kind: "warn",
          },
    );
  }
  // attempts that did not succeed, oldest first (the attempt history), when there was more than
  // one, or the run was re-driven after it (the count starts again: more entries than attempts)
  const kept = (n.history ?? []).filter((h) => h.outcome !== "released").length;
  const redriven = kept > n.attempts - (n.state === "succeeded" || n.state === "running" ? 1 : 0);
  const history = n.attempts > 1 || n.stalls > 0 || redriven ? (n.history ?? []) : [];
  for (const h of history) {
    const took = formatDuration(Math.max(0, h.endedAt - h.startedAt));
    const [why = "", ...more] = h.error
      ? describeError(h.error).map((l, i) => (i === 0 ? `: ${l}` : l))
      : [h.outcome === "stalled" ? " (lease expired)" : ""];
    const kind = h.outcome === "released" ? "info" : "error";
    out.push({
      text: `attempt ${h.attempt} ${h.outcome} on ${h.worker || "?"} after ${took}${why}`,
      kind,
    });
    for (const line of more) out.push({ text: line, kind });
  }
  const last = history[history.length - 1];
  if (n.error && !(last?.error && last.error.message === n.error.message)) {
    for (const line of describeError(n.error)) out.push({ text: line, kind: "error" });
  }
  if (n.state === "retrying" && n.dueAt !== undefined) {
    out.push({
      text: `next attempt at ${time(n.dueAt)} (in ${formatDuration(n.dueAt - now)})`,
      kind: "info",
    });
  }
  if (n.state === "queued" && n.dueAt !== undefined) {
    out.push({
      text: `delayed until ${time(n.dueAt)} (in ${formatDuration(Math.max(0, n.dueAt - now))})`,
      kind: "info",
    });
  }
  if ((n.state === "queued" || n.state === "retrying") && n.expiresAt !== undefined) {
    out.push({
      text: `expires at ${time(n.expiresAt)} unless started (in ${formatDuration(Math.max(0, n.expiresAt - now))})`,
      kind: "info",
    });
  }
  if (n.progress && (n.state === "running" || n.state === "retrying")) {
    const p = n.progress;
    const of =
      p.total === undefined
        ? int(p.current)
        : `${int(p.current)}/${int(p.total)}${p.total > 0 ? ` (${Math.floor((100 * p.current) / p.total)}%)` : ""}`;
    out.push({ text: `progress ${of}${p.message ? ` ${p.message}` : ""}`, kind: "info" });
  }
  const waits = workers === undefined ? undefined : unhandled(n, workers);
  if (waits !== undefined) out.push({ text: waits, kind: "warn" });
  return out;
};

const attemptsOf = (n: SnapshotNode): string => {
  if (n.attempts === 0) return "-";
  const a = `${n.attempts} attempt${n.attempts === 1 ? "" : "s"}`;
  return n.stalls > 0 ? `${a}, ${n.stalls} stall${n.stalls === 1 ? "" : "s"}` : a;
};

const durationOf = (n: SnapshotNode, now: number): string => {
  if (n.startedAt === undefined) return "-";
  if (n.finishedAt !== undefined) return `${int(Math.max(0, n.finishedAt - n.startedAt))} ms`;
  if (n.state === "running") return `${int(Math.max(0, now - n.startedAt))} ms`;
  return "-";
};

/**
 * Renders a run snapshot: a header (id, status, times, duration, node
 * counts, tags, the error that failed the run) and the canvas as a tree,
 * one line per node — `#id task  state  attempts  duration  worker` — with
 * the error of a failed, skipped or retrying node and the progress of a
 * running one below it. An error shows every line of its message (a schema
 * issue's `  at ["field"]` path included), each cut to 200 characters, at
 * most 8 lines, the rest counted in a `… N more lines` line. Members of a wide group that share task and state
 * are collapsed into one `… N more` line unless `all` is set.
 *
 * @example
 * console.log(renderInspect(await store.getRun(runId), { color: process.stdout.isTTY }))
 */
export const renderInspect = (snapshot: RunSnapshot, opts: InspectOptions = {}): string => {
  const c = pc.createColors(opts.color ?? false);
  const now = opts.now ?? Date.now();
  const wide = opts.all ? Number.POSITIVE_INFINITY : Math.max(1, opts.wide ?? WIDE);
  const run = snapshot.run;
  const out: string[] = [];

  out.push(`${c.bold(`run ${run.id}`)}  ${stateColor(c, run.status)(run.status)}`);
  const field = (name: string, value: string) => out.push(`  ${c.dim(name.padEnd(9))} ${value}`);
  field("created", time(run.createdAt));
  field("started", time(run.startedAt));
  field("finished", time(run.finishedAt));
  if (run.startedAt !== undefined) {
    const end = run.finishedAt ?? now;
    field(
      "duration",
      `${formatDuration(end - run.startedAt)}${run.finishedAt === undefined ? " so far" : ""}`,
    );
  }
  const states = snapshot.nodes.map((n) => n.state);
  field(
    "nodes",
    `${int(run.ended)}/${int(run.total)} ended${states.length > 0 ? ` · ${tally(states)}` : ""}`,
  );
  if (run.redrives) field("redriven", `${int(run.redrives)} time${run.redrives === 1 ? "" : "s"}`);
  if (run.queues.length > 0) field("queues", run.queues.join(", "));
  field("tags", run.tags.length > 0 ? run.tags.join(", ") : "-");
  if (opts.workers) {
    const waiting = new Map<string, number>();
    for (const n of snapshot.nodes) {
      const why = unhandled(n, opts.workers);
      if (why !== undefined) waiting.set(why, (waiting.get(why) ?? 0) + 1);
    }
    for (const [why, k] of waiting) {
      field("waiting", c.yellow(`${int(k)} node${k === 1 ? "" : "s"}: ${why}`));
    }
  }
  if (run.error) {
    const failed = run.failedNode === undefined ? undefined : snapshot.nodes[run.failedNode];
    const where =
      run.failedNode === undefined
        ? ""
        : ` (node #${run.failedNode}${failed ? ` ${failed.spec.task}` : ""})`;
    const [first = "", ...more] = describeError(run.error);
    field("error", c.red(`${first}${where}`));
    // further lines of the message, under its first (past the field names' column)
    for (const line of more) out.push(`  ${" ".repeat(9)} ${c.red(line)}`);
  }

  if (snapshot.nodes.length === 0) return `${out.join("\n")}\n`;
  out.push("");
  const rows: Row[] = [];
  walk(rows, toItem(buildTrie(snapshot.nodes), wide), "", true, true, now, opts.workers, opts);
  const nodeRows = rows.filter((r) => r.node !== undefined);
  const width = (f: (r: Row) => string) => nodeRows.reduce((w, r) => Math.max(w, f(r).length), 0);
  const treeW = width((r) => r.prefix + r.label);
  const stateW = width((r) => r.node!.state);
  const attW = width((r) => attemptsOf(r.node!));
  const durW = width((r) => durationOf(r.node!, now));
  for (const r of rows) {
    const tree = c.dim(r.prefix);
    if (r.node) {
      const n = r.node;
      const pad = " ".repeat(treeW - r.prefix.length - r.label.length);
      out.push(
        [
          `${tree}${c.dim(`#${n.id}`)} ${n.spec.task}${c.dim(callbackNote(n))}${pad}`,
          stateColor(c, n.state)(n.state.padEnd(stateW)),
          attemptsOf(n).padEnd(attW),
          durationOf(n, now).padStart(durW),
          n.worker ?? "-",
        ]
          .join("  ")
          .trimEnd(),
      );
    } else if (r.detail === "error") {
      out.push(`${tree}${c.red(r.label)}`);
    } else if (r.detail === "warn") {
      out.push(`${tree}${c.yellow(r.label)}`);
    } else if (r.detail !== undefined) {
      out.push(`${tree}${c.dim(r.label)}`);
    } else {
      out.push(`${tree}${c.bold(r.label)}${r.note === undefined ? "" : `  ${c.dim(r.note)}`}`);
    }
  }
  return `${out.join("\n")}\n`;
};

/**
 * Renders recent runs as a table: id, first task, status, nodes
 * ended/total, created, duration, tags. An empty list renders as `no runs`.
 *
 * @example
 * console.log(renderRuns(await store.listRuns({ limit: 20 })))
 */
export const renderRuns = (runs: ReadonlyArray<RunSummary>, opts: RunsOptions = {}): string => {
  if (runs.length === 0) return "no runs\n";
  const c = pc.createColors(opts.color ?? false);
  const now = opts.now ?? Date.now();
  const header = ["ID", "TASK", "STATUS", "NODES", "CREATED", "DURATION", "TAGS"];
  const rows = runs.map((r) => [
    r.id,
    r.task || "-",
    r.status,
    `${int(r.ended)}/${int(r.total)}`,
    time(r.createdAt),
    r.startedAt === undefined
      ? "-"
      : `${formatDuration((r.finishedAt ?? now) - r.startedAt)}${r.finishedAt === undefined ? "+" : ""}`,
    r.tags.length > 0 ? r.tags.join(",") : "-",
  ]);
  const widths = header.map((h, i) =>
    rows.reduce((w, row) => Math.max(w, row[i]!.length), h.length),
  );
  const line = (cells: ReadonlyArray<string>, paint: (i: number, s: string) => string) =>
    cells
      .map((cell, i) => paint(i, i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(header, (_, s) => c.dim(s))];
  runs.forEach((r, k) => {
    out.push(line(rows[k]!, (i, s) => (i === 2 ? stateColor(c, r.status)(s) : s)));
  });
  return `${out.join("\n")}\n`;
};

/**
 * Renders the worker registry as a table: id, host, queues, tasks,
 * concurrency, when each was last seen, and whether it is alive (its last
 * registration has not expired). An empty list renders as `no workers`.
 *
 * @example
 * console.log(renderWorkers(await store.listWorkers({ now: Date.now() })))
 */
export const renderWorkers = (
  workers: ReadonlyArray<WorkerPresence>,
  opts: WorkersOptions = {},
): string => {
  if (workers.length === 0) return "no workers\n";
  const c = pc.createColors(opts.color ?? false);
  const now = opts.now ?? Date.now();
  const header = ["ID", "HOST", "QUEUES", "TASKS", "CONCURRENCY", "LAST SEEN", "ALIVE"];
  const rows = workers.map((w) => [
    w.id,
    w.pid > 0 ? `${w.host} (pid ${w.pid})` : w.host,
    w.queues.join(","),
    w.tasks.length > 0 ? w.tasks.join(",") : "-",
    String(w.concurrency),
    `${formatDuration(now - w.lastSeenAt)} ago`,
    w.alive ? "yes" : "no",
  ]);
  const widths = header.map((h, i) =>
    rows.reduce((wd, row) => Math.max(wd, row[i]!.length), h.length),
  );
  const line = (cells: ReadonlyArray<string>, paint: (i: number, s: string) => string) =>
    cells
      .map((cell, i) => paint(i, i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(header, (_, s) => c.dim(s))];
  workers.forEach((w, k) => {
    out.push(line(rows[k]!, (i, s) => (i === 6 ? (w.alive ? c.green(s) : c.red(s)) : s)));
  });
  return `${out.join("\n")}\n`;
};

/**
 * `JSON.stringify` for snapshots and run lists: bigints become strings and
 * byte arrays `{ "base64": ... }`, so any bound input prints.
 */
export const toJson = (value: unknown): string =>
  `${JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString("base64") };
      return v;
    },
    2,
  )}\n`;
