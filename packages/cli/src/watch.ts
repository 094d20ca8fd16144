/**
 * `weft watch <runId>`: follows a run's events (docs/events.md) until it
 * ends. On a terminal, live progress bars (cli-progress): one for the run
 * (nodes ended of total, by state) and one per running node with its
 * progress, failures and retries logged above them, and the run's tree
 * (`renderInspect`) once it ends. Elsewhere (a pipe, a file, CI), one line
 * per event.
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
  status = await drawBars(t, snap.run.total, snap.nodes, events, t.tty);
  const final = await t.store.getRun(t.runId);
  if (final) {
    const workers = await t.store.listWorkers({ now: t.now() });
    t.out(renderInspect(final, { color: t.color, now: t.now(), workers }));
  }
  return status;
};

const drawBars = async (
  t: WatchTarget,
  total: number,
  nodes: ReadonlyArray<{
    readonly id: number;
    readonly state: NodeState;
    readonly spec: { readonly task: string };
  }>,
  events: AsyncIterable<WeftEvent>,
  stream: NodeJS.WriteStream,
): Promise<RunStatus | undefined> => {
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
      barsize: 30,
    },
    Presets.shades_classic,
  );
  const runBar = bars.create(Math.max(1, total), 0, { label: `run ${t.runId}`, note: "" });
  const nodeBars = new Map<number, SingleBar>();
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
            bar.update(p.current, { note: p.message ?? "" });
          }
          break;
        }
        case "expired":
        case "added":
        case "run":
          bars.log(`${renderEventLine(e, { color: t.color })}\n`);
          break;
        default: {
          states.set(e.nodeId, e.kind === "started" ? "running" : (e.kind as NodeState));
          const bar = nodeBars.get(e.nodeId);
          if (e.kind === "started" && !bar && nodeBars.size < NODE_BARS) {
            const label = `  #${e.nodeId} ${tasks.get(e.nodeId) ?? e.task}`;
            nodeBars.set(e.nodeId, bars.create(1, 0, { label, note: "" }));
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
