/**
 * `weft watch <runId>`: follows a run's events (docs/events.md) until it
 * ends. On a terminal, live progress bars (cli-progress): one for the run
 * (nodes ended of total, by state), then for a run of at most
 * {@link TREE_NODES} nodes its whole tree (as `renderInspect` draws it) with
 * a bar and the state of each node, for a larger one a bar per running node
 * (at most {@link NODE_BARS}); failures and retries are logged above the
 * bars, and the run's tree is printed once it ends. Elsewhere (a pipe, a
 * file, CI), one line per event.
 */
import {
  type Client,
  type NodeState,
  RunNotFound,
  type RunStatus,
  type Store,
  type WeftEvent,
} from "@weft/core";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import { renderInspect } from "./render.ts";
import { renderEventLine } from "./render-ops.ts";

/** Running nodes shown with a bar of their own at most; the others count in the run's bar. */
export const NODE_BARS = 10;

/** What `watch` is given. */
export interface WatchTarget {
  readonly store: Store;
  readonly client: Client;
  readonly runId: string;
  readonly out: (text: string) => void;
  readonly color: boolean;
  /** Draw progress bars on this terminal stream; without it, print one line per event. */
  readonly tty?: NodeJS.WriteStream;
  readonly signal?: AbortSignal;
  readonly now: () => number;
}

/**
 * Follows run `runId` until its `run-ended` event (or `signal`), and
 * resolves with its final status (`undefined` when stopped first).
 *
 * @throws RunNotFound when the run does not exist.
 */
export const watch = async (t: WatchTarget): Promise<RunStatus | undefined> => {
  const snap = await t.store.getRun(t.runId);
  if (!snap) throw new RunNotFound({ runId: t.runId });
  const events = t.client.watch(t.runId, t.signal === undefined ? {} : { signal: t.signal });
  let status: RunStatus | undefined;
  if (!t.tty) {
    for await (const e of events) {
      t.out(`${renderEventLine(e, { color: t.color })}\n`);
      if (e.kind === "run-ended") status = e.status;
    }
    return status;
  }
  status = await drawBars(t, snap, events, t.tty);
  const final = await t.store.getRun(t.runId);
  if (final) {
    const workers = await t.store.listWorkers({ now: t.now() });
    t.out(renderInspect(final, { color: t.color, now: t.now(), workers }));
  }
  return status;
};

/** Runs of at most this many nodes are drawn as their whole tree, a bar per node. */
export const TREE_NODES = 40;

/**
 * The rows of a run's tree as `renderInspect` draws it: each branch
 * (`chain`, `group`, `header`...) and each node, with its tree prefix.
 */
export const treeRows = (
  snapshot: Parameters<typeof renderInspect>[0],
): Array<{ readonly prefix: string; readonly label: string; readonly nodeId?: number }> => {
  const text = renderInspect(snapshot, { all: true, now: 0 });
  const lines = text.split("\n");
  const rows: Array<{ prefix: string; label: string; nodeId?: number }> = [];
  for (const line of lines.slice(lines.indexOf("") + 1)) {
    const m = /^([│├└─ ]*)(.*)$/.exec(line);
    if (!m) continue;
    const [, prefix = "", content = ""] = m;
    const node = /^#(\d+) (\S+)/.exec(content);
    if (node) rows.push({ prefix, label: `#${node[1]} ${node[2]}`, nodeId: Number(node[1]) });
    else if (/^[a-z]+( {2}.*)?$/.test(content))
      rows.push({ prefix, label: content.split("  ")[0]! });
  }
  return rows;
};

const drawBars = async (
  t: WatchTarget,
  snapshot: Parameters<typeof renderInspect>[0],
  events: AsyncIterable<WeftEvent>,
  stream: NodeJS.WriteStream,
): Promise<RunStatus | undefined> => {
  const total = snapshot.run.total;
  const nodes = snapshot.nodes;
  const states = new Map<number, NodeState>(nodes.map((n) => [n.id, n.state]));
  const tasks = new Map<number, string>(nodes.map((n) => [n.id, n.spec.task]));
  const ENDED = new Set<NodeState>(["succeeded", "failed", "cancelled", "skipped"]);
  const count = (s: NodeState) => [...states.values()].filter((x) => x === s).length;
  const bars = new MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: "{label} {bar} {value}/{total} {note}",
      barsize: 20,
    },
    Presets.shades_classic,
  );
  const runBar = bars.create(Math.max(1, total), 0, { label: `run ${t.runId}`, note: "" });
  const nodeBars = new Map<number, SingleBar>();
  // a small run: its whole tree, a bar per node that fills as it runs and ends
  const tree = total <= TREE_NODES;
  if (tree) {
    const rows = treeRows(snapshot);
    const width = rows.reduce((w, r) => Math.max(w, r.prefix.length + r.label.length), 0);
    for (const r of rows) {
      const label = `${r.prefix}${r.label}`.padEnd(width);
      if (r.nodeId === undefined) bars.create(1, 0, { label, note: "" }, { format: "{label}" });
      else {
        const state = states.get(r.nodeId) ?? "waiting";
        const bar = bars.create(1, ENDED.has(state) ? 1 : 0, { label, note: state });
        nodeBars.set(r.nodeId, bar);
      }
    }
  }
  const refresh = () => {
    const ended = [...states.values()].filter((s) => ENDED.has(s)).length;
    runBar.update(ended, {
      note: `${count("succeeded")} succeeded · ${count("running")} running · ${count("failed")} failed`,
    });
  };
  refresh();
  let status: RunStatus | undefined;
  try {
    for await (const e of events) {
      switch (e.kind) {
        case "run-ended":
          status = e.status;
          break;
        case "progress": {
          const bar = nodeBars.get(e.nodeId);
          const p = e.progress;
          if (bar) {
            if (p.total !== undefined) bar.setTotal(Math.max(1, p.total));
            bar.update(p.current, { note: `running${p.message ? ` ${p.message}` : ""}` });
          }
          break;
        }
        case "lease-expired":
        case "added":
        case "run":
          bars.log(`${renderEventLine(e, { color: t.color })}\n`);
          break;
        default: {
          const state: NodeState = e.kind === "started" ? "running" : e.kind;
          states.set(e.nodeId, state);
          const bar = nodeBars.get(e.nodeId);
          if (tree) {
            if (bar && ENDED.has(state)) bar.update(bar.getTotal(), { note: state });
            else if (bar) bar.update(0, { note: state });
          } else if (e.kind === "started" && !bar && nodeBars.size < NODE_BARS) {
            const label = `  #${e.nodeId} ${tasks.get(e.nodeId) ?? e.task}`;
            nodeBars.set(e.nodeId, bars.create(1, 0, { label, note: "running" }));
          } else if (e.kind !== "started" && bar) {
            bars.remove(bar);
            nodeBars.delete(e.nodeId);
          }
          if (e.kind === "failed" || e.kind === "retrying") {
            bars.log(`${renderEventLine(e, { color: t.color })}\n`);
          }
        }
      }
      refresh();
    }
  } finally {
    bars.stop();
  }
  return status;
};
