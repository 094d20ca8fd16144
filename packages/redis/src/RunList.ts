/**
 * Reading and pruning a shard's run list (docs/redis-layout.md, `T:runlist`):
 * the ids of its committed runs in commit order, a stream: `submit` adds one
 * entry per run it commits, its field `r` the run's id; `submitmany` one
 * entry for all the runs of its call, which opens with a field `p`, the
 * prefix its runs' ids share, when they share one, then a field `l`: each
 * id but that prefix, led by its length in bytes (one byte), as one string
 * (since 2026-12-06: about 16.5 bytes per run in a batch, 43 alone; before,
 * a field `r` per run held each rest, as an entry whose rests are not all
 * under 256 bytes still does: 18.5; the sorted set it replaced took 137).
 * An entry outlives its runs (maintenance deletes a run of the default
 * retention once it has passed, prune.lua; a run of another retention, or
 * one written before 2026-12-05, expires by key expiry) until maintenance
 * or a listing finds every run it lists gone and deletes it.
 *
 * A shard may also hold the index written by versions before 2026-12-03, a
 * sorted set by creation time (`T:runs`): it is read after the stream (its
 * runs are older) and pruned the same way until its last run has expired;
 * nothing writes it any more.
 */
import type { Cluster, Redis } from "ioredis";
import type { ShardKeys } from "./Keys.ts";

/** One run of a shard's run list. */
export interface ListedRun {
  readonly runId: string;
  /** Its stream entry's id; `""` for an entry of the legacy sorted set. */
  readonly entry: string;
  /** The runs its entry lists (1 for the legacy sorted set's). */
  readonly of: number;
}

type Conn = Redis | Cluster;

/** A stream entry as `xrangeBuffer` / `xrevrangeBuffer` give it: its id and its flat field list. */
type Entry = [id: Buffer, fields: ReadonlyArray<Buffer>];

/**
 * The run ids entry `fields` lists, in commit order: each `r`'s value, and
 * each id in `l` (its length in bytes, one byte, then its bytes), after
 * the prefix `p` holds, if any.
 */
const entryRuns = (fields: ReadonlyArray<Buffer>): string[] => {
  let prefix = "";
  const ids: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    const value = fields[i + 1]!;
    if (name === "p") prefix = value.toString();
    else if (name === "r") ids.push(prefix + value.toString());
    else if (name === "l") {
      for (let at = 0; at < value.length; at += 1 + value[at]!) {
        ids.push(prefix + value.toString("utf8", at + 1, at + 1 + value[at]!));
      }
    }
  }
  return ids;
};

/**
 * The runs of stream entries (`XRANGE`'s or `XREVRANGE`'s reply), entry by
 * entry, each entry's runs in commit order, or the reverse when `newestFirst`.
 */
const fromStream = (reply: ReadonlyArray<Entry>, newestFirst = false): ListedRun[] => {
  const out: ListedRun[] = [];
  for (const [id, fields] of reply) {
    const entry = id.toString();
    const runs = entryRuns(fields);
    const of = runs.length;
    for (let k = 0; k < of; k++)
      out.push({ runId: runs[newestFirst ? of - 1 - k : k]!, entry, of });
  }
  return out;
};

const fromLegacy = (ids: ReadonlyArray<string>): ListedRun[] =>
  ids.map((runId) => ({ runId, entry: "", of: 1 }));

/**
 * The shard's run list newest first, in pages of at most `page` runs (the
 * stream's, read `page` entries at a time, each entry's runs newest first),
 * then of `page` runs of the legacy index. Entries deleted between pages
 * ({@link removeListed}) do not shift the pages that follow.
 */
export async function* newestFirst(
  redis: Conn,
  s: ShardKeys,
  page: number,
): AsyncGenerator<ReadonlyArray<ListedRun>> {
  for (let end = "+"; ; ) {
    const entries = (await redis.xrevrangeBuffer(s.runList, end, "-", "COUNT", page)) as Entry[];
    // (at most `page` runs at a time: a batch's entry lists up to 64)
    const runs = fromStream(entries, true);
    for (let i = 0; i < runs.length; i += page) yield runs.slice(i, i + page);
    if (entries.length < page) break;
    end = `(${entries[entries.length - 1]?.[0].toString()}`;
  }
  // the legacy index: by rank, less the entries deleted meanwhile
  for (let from = 0; ; ) {
    const ids = await redis.zrevrange(s.legacyRuns, from, from + page - 1);
    if (ids.length === 0) return;
    const before = await redis.zcard(s.legacyRuns);
    yield fromLegacy(ids);
    from += page - (before - (await redis.zcard(s.legacyRuns)));
    if (ids.length < page) return;
  }
}

/**
 * The first runs of `runs` (whole entries, in order) that total at most
 * `count`, and at least the first entry's: a batch's entry lists up to 64.
 */
const wholeEntries = (runs: ReadonlyArray<ListedRun>, count: number): ListedRun[] => {
  let n = 0;
  while (n < runs.length) {
    const of = runs[n]?.of ?? 1;
    if (n > 0 && n + of > count) break;
    n += of;
  }
  return runs.slice(0, n);
};

/** The `count` oldest runs of the legacy index. */
export const oldestLegacy = async (
  redis: Conn,
  s: ShardKeys,
  count: number,
): Promise<ListedRun[]> => fromLegacy(await redis.zrange(s.legacyRuns, "0", String(count - 1)));

/**
 * The runs of the stream entries after entry `entry` (`""`: from the first)
 * up to entry `last` (included; `"+"`: the list's end), whole entries up to
 * `count` runs (at least one entry), for a walk along the list; `end` when
 * they reach `last` (or the list's end).
 */
export const after = async (
  redis: Conn,
  s: ShardKeys,
  entry: string,
  count: number,
  last = "+",
): Promise<{ runs: ListedRun[]; end: boolean }> => {
  const entries = (await redis.xrangeBuffer(
    s.runList,
    entry === "" ? "-" : `(${entry}`,
    last,
    "COUNT",
    count,
  )) as Entry[];
  const all = fromStream(entries);
  const runs = wholeEntries(all, count);
  return { runs, end: entries.length < count && runs.length === all.length };
};

/**
 * Deletes the entries of gone runs `runs` (of either index): a stream entry
 * once every run it lists is among them. Answers the entries deleted.
 */
export const removeListed = async (
  redis: Conn,
  s: ShardKeys,
  runs: ReadonlyArray<ListedRun>,
): Promise<number> => {
  // each stream entry's gone runs, counted
  const gone = new Map<string, number>();
  const entries: string[] = [];
  const legacy: string[] = [];
  for (const r of runs) {
    if (r.entry === "") {
      legacy.push(r.runId);
      continue;
    }
    const n = (gone.get(r.entry) ?? 0) + 1;
    gone.set(r.entry, n);
    if (n === r.of) entries.push(r.entry);
  }
  if (entries.length > 0) await redis.xdel(s.runList, ...entries);
  if (legacy.length > 0) await redis.zrem(s.legacyRuns, ...legacy);
  return entries.length + legacy.length;
};
