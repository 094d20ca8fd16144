/**
 * A shard's run list (docs/redis-layout.md, `T:runlist`): a stream entry per
 * `submit` call that commits a run and one per `submitmany` call for all the
 * runs it commits, pruned by maintenance once every run of an entry is gone
 * (from the oldest end, and along a cursor for short-lived runs behind
 * long-lived ones), maintenance deleting on the way the runs of the default
 * retention that has passed, and the legacy sorted-set index of an older
 * version still listed and pruned.
 */
import { chain, Schema, task } from "@weft/core";
import { type Claim, compile, encode } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60_000 } as const;
const sub = (runId: string, now = 0) => ({ ...base, runId, dag: compile(inc.si(1)), now });

/** Epoch ms the retention tests start at, a week, an hour and a minute in ms, the queues. */
const T = 1_800_000_000_000;
const WEEK = 7 * 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const Q = ["default"];
/** A run `runId` of the default retention (7 days) submitted at `now`. */
const keep = (runId: string, now: number) => ({ ...sub(runId, now), retentionMs: WEEK });

/** Claims every queued node of `store` (at most 1,000) at `now`, leased for `leaseMs`. */
const claimAll = (store: RedisStore, now: number, leaseMs = 60_000) =>
  store.claim({ workerId: "w", queues: Q, max: 1_000, leaseMs, now });

/** Completes at `now` the claims of runs `ids`, answering the runs completed. */
const complete = async (
  store: RedisStore,
  claims: ReadonlyArray<Claim>,
  ids: ReadonlyArray<string>,
  now: number,
) => {
  const report = { now, workerId: "w", queues: Q, nextMax: 0, leaseMs: 60_000 };
  const done: string[] = [];
  for (const c of claims.filter((c) => ids.includes(c.runId))) {
    expect((await store.complete(c, encode(2), report)).ok).toBe(true);
    done.push(c.runId);
  }
  return done.sort();
};

/**
 * Claims every queued node of `store` at `now` and completes those of runs
 * `ids` (the others' leases stay), answering the runs completed.
 */
const finish = async (store: RedisStore, now: number, ids: ReadonlyArray<string>) =>
  complete(store, await claimAll(store, now), ids, now);

/** The fields of each entry of prefix `prefix`'s run list (shard 0), oldest first, as bytes. */
const rawEntries = async (prefix: string): Promise<Buffer[][]> =>
  (await raw.xrangeBuffer(shardKeys(prefix, 0).runList, "-", "+")).map(([, f]) => f);

/**
 * The run ids of each entry of prefix `prefix`'s run list (shard 0), oldest
 * first: after the entry's `p` (the prefix its runs share), if any, each id
 * of its `l` (one byte, the length in bytes, then the bytes) or each `r`'s value.
 */
const entries = async (prefix: string): Promise<string[][]> =>
  (await rawEntries(prefix)).map((f) => {
    const p = String(f[0]) === "p" ? f[1]!.toString() : "";
    const rest = String(f[0]) === "p" ? f.slice(2) : f;
    const ids: string[] = [];
    for (let i = 0; i < rest.length; i += 2) {
      const [name, value] = [rest[i]!.toString(), rest[i + 1]!];
      expect(["l", "r"]).toContain(name);
      if (name === "r") ids.push(p + value.toString());
      else
        for (let at = 0; at < value.length; at += 1 + value[at]!)
          ids.push(p + value.subarray(at + 1, at + 1 + value[at]!).toString());
    }
    return ids;
  });

/** Field `l` of a batch's entry for run ids (or rests) `ids`: each led by its length in bytes. */
const packed = (ids: ReadonlyArray<string>): Buffer =>
  Buffer.concat(ids.flatMap((id) => [Buffer.from([Buffer.byteLength(id)]), Buffer.from(id)]));

/** The run ids of prefix `prefix`'s run list (shard 0), oldest first. */
const listed = async (prefix: string): Promise<string[]> => (await entries(prefix)).flat();

const listedIds = async (store: RedisStore, limit = 100): Promise<string[]> =>
  (await store.listRuns({ limit })).map((r) => r.id);

describe("the run list", () => {
  it("lists each committed run once, whether submitted alone, re-sent or in a batch: a batch's runs in one entry", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "once" });
    await store.submit(sub("a"));
    // the same run again (same DAG): answered EXISTS, not listed twice
    expect((await store.submit(sub("a"))).existing).toBe(true);
    expect(
      (await store.submitMany([sub("b"), sub("c"), sub("a"), sub("d")])).map(
        (r) => r.ok && r.existing,
      ),
    ).toEqual([false, false, true, false]);
    // a batch of runs that are no plain job (two nodes), one of them there already
    const two = (runId: string) => ({ ...sub(runId), dag: compile(chain(inc.si(1), inc.s())) });
    expect(
      (await store.submitMany([two("e"), two("b"), two("f")])).map((r) => r.ok && r.existing),
    ).toEqual([false, false, false]);
    expect(await entries("once")).toEqual([["a"], ["b", "c", "d"], ["e", "f"]]);
    expect(await listedIds(store)).toEqual(["f", "e", "d", "c", "b", "a"]);
    expect(await raw.type(shardKeys("once", 0).runList)).toBe("stream");
    expect(await raw.exists(shardKeys("once", 0).legacyRuns)).toBe(0);
    await store.close();
  });

  it("writes the prefix a batch's run ids share once, cut at a character's start, then each id's rest led by its length, and reads entries written without a prefix", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "shared" });
    const s = shardKeys("shared", 0);
    // ids made in one millisecond share their time: written once, as `p`
    const timed = ["mxat1cnb-23472eed610d", "mxat1cnb-0f3e9a11c2b4", "mxat1cnc-77aa00bb11cc"];
    await store.submitMany(timed.map((id) => sub(id)));
    // ids that share no prefix, and ids whose shared bytes end inside a character (é and è
    // share their first byte): no `p`, or one cut back to the character's start
    const apart = ["x1", "y2"];
    const accents = ["runé-1", "runè-2"];
    await store.submitMany(apart.map((id) => sub(id)));
    await store.submitMany(accents.map((id) => sub(id)));
    // each rest led by its length in bytes (é: two bytes)
    expect(await rawEntries("shared")).toEqual([
      [
        Buffer.from("p"),
        Buffer.from("mxat1cn"),
        Buffer.from("l"),
        packed(["b-23472eed610d", "b-0f3e9a11c2b4", "c-77aa00bb11cc"]),
      ],
      [Buffer.from("l"), Buffer.from("\u0002x1\u0002y2")],
      [Buffer.from("p"), Buffer.from("run"), Buffer.from("l"), packed(["é-1", "è-2"])],
    ]);
    expect(packed(["é-1"])[0]).toBe(4);
    // (an entry without `p`: the ids whole)
    expect((await listedIds(store)).sort()).toEqual([...timed, ...apart, ...accents].sort());
    // pruned as a whole entry once its runs are gone, as before
    await raw.del(...timed.map((id) => s.run(id).record));
    await store.maintain({ now: 1_000, queues: ["default"] });
    expect(await entries("shared")).toEqual([apart, accents]);
    await store.close();
  });

  it("lists a batch whose ids, but the prefix they share, are not all under 256 bytes as one `r` per run", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "longids" });
    const ids = ["a".repeat(300), "b".repeat(10)];
    await store.submitMany(ids.map((id) => sub(id)));
    const [entry] = await rawEntries("longids");
    expect(entry!.filter((_, i) => i % 2 === 0).map(String)).toEqual(["r", "r"]);
    expect(await entries("longids")).toEqual([ids]);
    expect((await listedIds(store)).sort()).toEqual([...ids].sort());
    await store.close();
  });

  it("reads and prunes the entries an earlier version wrote: a batch's runs as one `r` each, after a `p` or not", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "older" });
    const s = shardKeys("older", 0);
    const ids = ["mxat1cnb-1", "mxat1cnb-2", "q1", "q2"];
    await store.submitMany(ids.map((id) => sub(id)));
    // the entries as a version before 2026-12-06 wrote them, instead of the one written
    await raw.del(s.runList);
    await raw.xadd(s.runList, "*", "p", "mxat1cnb-", "r", "1", "r", "2");
    await raw.xadd(s.runList, "*", "r", "q1", "r", "q2");
    expect(await entries("older")).toEqual([ids.slice(0, 2), ids.slice(2)]);
    expect(await listedIds(store)).toEqual(["q2", "q1", "mxat1cnb-2", "mxat1cnb-1"]);
    // pruned as a whole entry once its runs are gone
    await raw.del(...ids.slice(0, 2).map((id) => s.run(id).record));
    await store.maintain({ now: 1_000, queues: ["default"] });
    expect(await entries("older")).toEqual([ids.slice(2)]);
    await store.close();
  });

  it("is pruned of expired runs by maintenance, oldest first", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "prune" });
    const s = shardKeys("prune", 0);
    for (const id of ["r1", "r2", "r3"]) await store.submit(sub(id));
    // r1 and r2 expired (a finished run's hash expires after its retention)
    await raw.del(s.run("r1").record, s.run("r2").record);
    await store.maintain({ now: 1, queues: ["default"] });
    expect(await listed("prune")).toEqual(["r3"]);
    await store.close();
  });

  it("loses a finished run of the default retention once maintenance finds it passed since its end, its entry with it", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "retain" });
    const s = shardKeys("retain", 0);
    for (const id of ["a", "b", "c"]) await store.submit(keep(id, T));
    const done = await finish(store, T + 10, ["a", "b"]);
    expect(done).toEqual(["a", "b"]);
    // no key expiry (since 2026-12-05): a finished run stays until maintenance deletes it
    expect(await raw.pttl(s.run("a").record)).toBe(-1);
    await store.maintain({ now: T + 10 + WEEK - 1, queues: Q });
    expect(await listed("retain")).toEqual(["a", "b", "c"]);
    await store.maintain({ now: T + 10 + WEEK, queues: Q });
    expect(await raw.exists(s.run("a").record, s.run("b").record)).toBe(0);
    // one still running stays
    expect(await listed("retain")).toEqual(["c"]);
    expect(await raw.exists(s.run("c").record)).toBe(1);
    await store.close();
  });

  it("does not let a run held long (still running, or that ran long) hold back the runs due after it", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "held" });
    const s = shardKeys("held", 0);
    // a run that never ends, one that runs 20 minutes, then 300 in batches that end at once
    await store.submit(keep("stuck", T));
    await store.submit(keep("long", T));
    const ids = Array.from({ length: 300 }, (_, i) => `r${String(i).padStart(3, "0")}`);
    for (let i = 0; i < 300; i += 60)
      await store.submitMany(ids.slice(i, i + 60).map((id) => keep(id, T + 1)));
    const claims = await claimAll(store, T + 2, HOUR);
    expect(claims).toHaveLength(302);
    expect(await complete(store, claims, ids, T + 20)).toEqual(ids);
    expect(await complete(store, claims, ["long"], T + 20 + 20 * MINUTE)).toEqual(["long"]);
    // one maintenance call passes over both and deletes the 300 (more than a batch of 200)
    await store.maintain({ now: T + 20 + WEEK, queues: Q });
    expect(await listed("held")).toEqual(["stuck", "long"]);
    expect(await raw.exists(...ids.map((id) => s.run(id).record))).toBe(0);
    // the held runs behind the walk's head are looked at again: the long one, due, goes
    await store.maintain({ now: T + 20 + 20 * MINUTE + WEEK, queues: Q });
    expect(await listed("held")).toEqual(["stuck"]);
    expect(await raw.exists(s.run("long").record)).toBe(0);
    await store.close();
  });

  it("deletes the runs of another retention as they come due, their keys' expiry aside", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "other" });
    const s = shardKeys("other", 0);
    const ids = ["o1", "o2", "o3"];
    for (const id of ids) await store.submit({ ...keep(id, T), retentionMs: HOUR });
    expect(await finish(store, T + 10, ids)).toEqual(ids);
    expect(await raw.pttl(s.run("o1").record)).toBeGreaterThan(0);
    await store.maintain({ now: T + 10 + HOUR - 1, queues: Q });
    expect(await listed("other")).toEqual(ids);
    await store.maintain({ now: T + 10 + HOUR, queues: Q });
    expect(await listed("other")).toEqual([]);
    expect(await raw.exists(...ids.map((id) => s.run(id).record))).toBe(0);
    await store.close();
  });

  it("is pruned of an expired run behind a live one by the scan", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "scan" });
    const s = shardKeys("scan", 0);
    for (const id of ["live", "short1", "short2"]) await store.submit(sub(id));
    // and a batch's entry behind it, its runs all gone
    await store.submitMany(["b1", "b2", "b3"].map((id) => sub(id)));
    await raw.del(...["short1", "short2", "b1", "b2", "b3"].map((id) => s.run(id).record));
    // the oldest entry lives: the pass from the oldest end stops at it; the scan goes on
    await store.maintain({ now: 1, queues: ["default"] });
    expect(await listed("scan")).toEqual(["live"]);
    await store.close();
  });

  it("drops the entries of expired runs when it is listed", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "listing" });
    const s = shardKeys("listing", 0);
    for (const id of ["x", "y", "z"]) await store.submit(sub(id));
    await raw.del(s.run("y").record);
    expect(await listedIds(store)).toEqual(["z", "x"]);
    expect(await listed("listing")).toEqual(["x", "z"]);
    await store.close();
  });

  it("lists newest first across pages, without skipping runs when expired ones are dropped", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "pages" });
    const s = shardKeys("pages", 0);
    // one run per call: 250 entries
    const ids = Array.from({ length: 250 }, (_, i) => `p${String(i).padStart(3, "0")}`);
    for (const [i, id] of ids.entries()) await store.submit(sub(id, i));
    // every third run expired: a filtered listing pages through 200 entries at a time
    const expired = ids.filter((_, i) => i % 3 === 0);
    await raw.del(...expired.map((id) => s.run(id).record));
    const live = ids.filter((_, i) => i % 3 !== 0).reverse();
    expect((await store.listRuns({ limit: 1_000, status: "running" })).map((r) => r.id)).toEqual(
      live,
    );
    expect(await listed("pages")).toEqual([...live].reverse());
    await store.close();
  });

  it("keeps a batch's entry until its last run is gone, listing and pruning past the gone ones", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "batch" });
    const s = shardKeys("batch", 0);
    const ids = Array.from({ length: 300 }, (_, i) => `b${String(i).padStart(3, "0")}`);
    await store.submitMany(ids.map((id, i) => sub(id, i)));
    const batches = await entries("batch");
    expect(batches.length).toBeGreaterThan(2);
    expect(batches.flat()).toEqual(ids);
    // the first batch gone whole, the second but its last run, every third run of the rest
    const [first = [], second = [], ...rest] = batches;
    const expired = [
      ...first,
      ...second.slice(0, -1),
      ...rest.flat().filter((_, i) => i % 3 === 0),
    ];
    await raw.del(...expired.map((id) => s.run(id).record));
    const live = ids.filter((id) => !expired.includes(id));
    // a page of a few runs from a batch's entry: its newest
    expect(await listedIds(store, 3)).toEqual(live.slice(-3).reverse());
    // a listing goes newest first through every entry, within each too, and drops the first
    expect((await store.listRuns({ limit: 1_000, status: "running" })).map((r) => r.id)).toEqual(
      [...live].reverse(),
    );
    expect(await entries("batch")).toEqual([second, ...rest]);
    // maintenance from the oldest end: the second entry lives on with its last run
    await store.maintain({ now: 1_000, queues: ["default"] });
    expect(await entries("batch")).toEqual([second, ...rest]);
    await raw.del(s.run(second.at(-1) ?? "").record);
    await store.maintain({ now: 1_001, queues: ["default"] });
    expect(await entries("batch")).toEqual(rest);
    expect(await listedIds(store, 1_000)).toEqual(live.slice(1).reverse());
    await store.close();
  });

  it("still lists and prunes the sorted-set index an older version wrote", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "legacy" });
    const s = shardKeys("legacy", 0);
    // runs of the older version: their records, and their index entries by creation time
    for (const id of ["old1", "old2", "old3"]) await store.submit(sub(id));
    await raw.del(s.runList);
    await raw.zadd(s.legacyRuns, 1, "old1", 2, "old2", 3, "old3");
    await store.submit(sub("new1", 10));
    expect(await listedIds(store)).toEqual(["new1", "old3", "old2", "old1"]);
    await raw.del(s.run("old1").record, s.run("old2").record);
    await store.maintain({ now: 11, queues: ["default"] });
    expect(await raw.zrange(s.legacyRuns, "0", "-1")).toEqual(["old3"]);
    await raw.del(s.run("old3").record);
    expect(await listedIds(store)).toEqual(["new1"]);
    expect(await raw.exists(s.legacyRuns)).toBe(0);
    await store.close();
  });
});
