/**
 * Reading and pruning a shard's run list (docs/redis-layout.md, `T:runlist`):
 * the ids of its committed runs in commit order, a stream whose entries hold
 * the field `r` and a run id once per run: `submit` adds one entry per run
 * it commits, `submitmany` one entry for all the runs of its call, which
 * opens with a field `p`, the prefix its runs' ids share, when they share
 * one (each `r` then holds the rest of an id; since 2026-12-05: about 21
 * bytes per run in a batch, 32 before, 43 alone; the sorted set it replaced
 * took 137).
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

/**
 * The runs of stream entries (`XRANGE`'s or `XREVRANGE`'s reply), entry by
 * entry, each entry's runs in commit order, or the reverse when `newestFirst`.
 */
const fromStream = (
  reply: ReadonlyArray<[string, ReadonlyArray<string>]>,
  newestFirst = false,
): ListedRun[] => {
  const out: ListedRun[] = [];
  for (const [entry, fields] of reply) {
    // (a batch's entry may open with `p`, the prefix its runs' ids share, since 2026-12-05)
    const prefixed = fields[0] === "p";
    const prefix = prefixed ? (fields[1] ?? "") : "";
    const from = prefixed ? 1 : 0;
    const of = (fields.length >> 1) - from;
    for (let k = 0; k < of; k++) {
      const i = from + (newestFirst ? of - 1 - k : k);
      out.push({ runId: prefix + (fields[2 * i + 1] ?? ""), entry, of });
    }
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
    const entries = await redis.xrevrange(s.runList, end, "-", "COUNT", page);
    // (at most `page` runs at a time: a batch's entry lists up to 64)
    const runs = fromStream(entries, true);
    for (let i = 0; i < runs.length; i += page) yield runs.slice(i, i + page);
    if (entries.length < page) break;
    end = `(${entries[entries.length - 1]?.[0]}`;
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
  const entries = await redis.xrange(
    s.runList,
    entry === "" ? "-" : `(${entry}`,
    last,
    "COUNT",
    count,
  );
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
