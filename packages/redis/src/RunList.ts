/**
 * Reading and pruning a shard's run list (docs/redis-layout.md, `T:runlist`):
 * the ids of its committed runs in commit order, a stream whose entries hold
 * one field, `r`, the run id (about 35 bytes per run; the sorted set it
 * replaced took 137). `submit` and `submitmany` add a run's entry when they
 * commit it; an entry outlives its run (a run expires by key expiry) until
 * maintenance or a listing finds the run gone and deletes the entry.
 *
 * A shard may also hold the index written by versions before 2026-12-03, a
 * sorted set by creation time (`T:runs`): it is read after the stream (its
 * runs are older) and pruned the same way until its last run has expired;
 * nothing writes it any more.
 */
import type { Cluster, Redis } from "ioredis";
import type { ShardKeys } from "./Keys.ts";

/** One entry of a shard's run list. */
export interface ListedRun {
  readonly runId: string;
  /** The stream entry's id; `""` for an entry of the legacy sorted set. */
  readonly entry: string;
}

type Conn = Redis | Cluster;

const fromStream = (reply: ReadonlyArray<[string, ReadonlyArray<string>]>): ListedRun[] =>
  reply.map(([entry, fields]) => ({ runId: fields[1] ?? "", entry }));

const fromLegacy = (ids: ReadonlyArray<string>): ListedRun[] =>
  ids.map((runId) => ({ runId, entry: "" }));

/**
 * The shard's run list newest first, in pages of `page` entries: the
 * stream's, then the legacy index's. Entries deleted between pages
 * ({@link removeListed}) do not shift the pages that follow.
 */
export async function* newestFirst(
  redis: Conn,
  s: ShardKeys,
  page: number,
): AsyncGenerator<ReadonlyArray<ListedRun>> {
  for (let end = "+"; ; ) {
    const got = fromStream(await redis.xrevrange(s.runList, end, "-", "COUNT", page));
    if (got.length > 0) yield got;
    if (got.length < page) break;
    end = `(${got[got.length - 1]?.entry}`;
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

/** The `count` oldest entries of the stream and of the legacy index (each at most `count`). */
export const oldest = async (
  redis: Conn,
  s: ShardKeys,
  count: number,
): Promise<{ stream: ListedRun[]; legacy: ListedRun[] }> => {
  const [stream, legacy] = await Promise.all([
    redis.xrange(s.runList, "-", "+", "COUNT", count),
    redis.zrange(s.legacyRuns, "0", String(count - 1)),
  ]);
  return { stream: fromStream(stream), legacy: fromLegacy(legacy) };
};

/**
 * Up to `count` stream entries after entry `after` (`""`: from the first),
 * for a walk along the whole list; an empty answer means the walk is at the
 * end.
 */
export const after = async (
  redis: Conn,
  s: ShardKeys,
  entry: string,
  count: number,
): Promise<ListedRun[]> =>
  fromStream(await redis.xrange(s.runList, entry === "" ? "-" : `(${entry}`, "+", "COUNT", count));

/** Deletes `runs`' entries (of either index). */
export const removeListed = async (
  redis: Conn,
  s: ShardKeys,
  runs: ReadonlyArray<ListedRun>,
): Promise<void> => {
  const entries = runs.filter((r) => r.entry !== "").map((r) => r.entry);
  const legacy = runs.filter((r) => r.entry === "").map((r) => r.runId);
  if (entries.length > 0) await redis.xdel(s.runList, ...entries);
  if (legacy.length > 0) await redis.zrem(s.legacyRuns, ...legacy);
};
