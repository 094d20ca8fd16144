/**
 * What `weft schedules list` shows of each schedule: when it fires, what it
 * submits, its policy, whether it is paused, its next fire time, its last
 * tick and the last run with its status (docs/schedules.md). One view for
 * the table and for `--json`.
 */
import { type BeatStore, nextFireAt, type RunStatus, type ScheduleRecord } from "@weft/core";

/** One schedule as `weft schedules list` shows it. Times are epoch ms. */
export interface ScheduleView {
  readonly id: string;
  /** `cron "<expr>" <zone>` or `every <ms> ms`. */
  readonly when: string;
  readonly cron?: string;
  readonly timezone?: string;
  readonly everyMs?: number;
  /** The task submitted, or `canvas (<n> nodes)`. */
  readonly submits: string;
  readonly overlap: string;
  readonly catchupWindowMs: number;
  readonly jitterMs: number;
  readonly paused: boolean;
  /** When the next tick fires (its jitter included); absent while paused or when it never fires again. */
  readonly nextFireAt?: number;
  /** The newest tick decided (fired, skipped or dropped). */
  readonly lastTick?: number;
  /** The newest fired tick's run and its status (`expired` once the run is gone after its retention). */
  readonly lastRun?: {
    readonly tick: number;
    readonly runId: string;
    readonly status: RunStatus | "expired";
  };
  /** A `buffer-one` tick waiting for the last run to end. */
  readonly buffered?: number;
}

/** The view of one schedule at `now`, reading its last run's status from `store`. */
export const scheduleView = async (
  store: BeatStore,
  rec: ScheduleRecord,
  now: number,
): Promise<ScheduleView> => {
  const s = rec.schedule;
  const next = nextFireAt(rec, now);
  const last = rec.state.lastRun;
  const lastStatus = last ? ((await store.getRun(last.runId))?.run.status ?? "expired") : undefined;
  return {
    id: s.id,
    when:
      s.cron !== undefined
        ? `cron "${s.cron}"${s.timezone ? ` ${s.timezone}` : " UTC"}`
        : `every ${s.everyMs} ms`,
    ...(s.cron === undefined ? {} : { cron: s.cron }),
    ...(s.timezone === undefined ? {} : { timezone: s.timezone }),
    ...(s.everyMs === undefined ? {} : { everyMs: s.everyMs }),
    submits: "task" in s.target ? s.target.task : `canvas (${s.target.dag.nodes.length} nodes)`,
    overlap: s.overlap,
    catchupWindowMs: s.catchupWindowMs,
    jitterMs: s.jitterMs,
    paused: s.paused,
    ...(next === undefined ? {} : { nextFireAt: next }),
    ...(rec.state.lastTick === undefined ? {} : { lastTick: rec.state.lastTick }),
    ...(last && lastStatus ? { lastRun: { ...last, status: lastStatus } } : {}),
    ...(rec.state.buffered === undefined ? {} : { buffered: rec.state.buffered }),
  };
};

const time = (t: number | undefined): string =>
  t === undefined ? "-" : new Date(t).toISOString().replace("T", " ").replace(".000Z", " UTC");

/** The schedules as a table, one line each. */
export const renderSchedules = (views: ReadonlyArray<ScheduleView>): string => {
  if (views.length === 0) return "no schedules\n";
  const header = ["ID", "WHEN", "SUBMITS", "OVERLAP", "NEXT", "LAST RUN"];
  const rows = views.map((v) => [
    v.id,
    v.when,
    v.submits,
    v.overlap,
    v.paused ? "paused" : time(v.nextFireAt),
    v.lastRun ? `${v.lastRun.runId} ${v.lastRun.status} (tick ${time(v.lastRun.tick)})` : "-",
  ]);
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
};
