/**
 * Where a node's spec is kept on a real Redis (docs/redis-layout.md, field
 * `n<i>`): a run of more than 32 nodes keeps it before the node's record, in
 * the record's field, through every transition; a smaller run keeps it apart,
 * in `s<i>`; a large run written before 2026-12-05 (its specs apart) runs as
 * before, and so does one with both. A re-drive's edit, a replacement and
 * `addToChord` write a spec where the node keeps it.
 */
import {
  chain,
  chord,
  createClient,
  group,
  handle,
  replace,
  Schema,
  startWorker,
  task,
} from "@weft/core";
import { decode } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { shardKeys } from "../src/Keys.ts";
import { specApart, storedSpec } from "./fixtures/layout.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const total = task({ name: "total", input: Schema.Array(Schema.Int), output: Schema.Int });
/** Fails for a negative input. */
const positive = task({ name: "positive", input: Schema.Int, output: Schema.Int });
/** Replaced by chain(count.si(n), double): 2n. */
const doubled = task({ name: "doubled", input: Schema.Int, output: Schema.Int });
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });
/** Adds one member to its chord (counting n + 1000), then answers n. */
const grow = task({ name: "grow", input: Schema.Int, output: Schema.Int });
const handlers = [
  handle(count, (n) => n),
  handle(total, (xs) => xs.reduce((a, b) => a + b, 0)),
  handle(positive, (n) => {
    if (n < 0) throw new Error(`${n} is negative`);
    return n;
  }),
  handle(doubled, (n) => replace(chain(count.si(n), double.s()))),
  handle(double, (n) => n * 2),
  handle(grow, async (n, ctx) => {
    await ctx.addToChord(count.si(n + 1000));
    return n;
  }),
];
const silent = pino({ level: "silent" });
let n = 0;

/** A fresh prefix, its store and client, and the hash key of a run. */
const setup = async () => {
  const prefix = `specs${++n}`;
  const store = await RedisStore.connect(server.url, { prefix });
  const client = createClient(store);
  const hashOf = (runId: string) => shardKeys(prefix, 0).run(runId).record;
  return { store, client, hashOf };
};

/** Where each node of a run keeps its spec: "record" (before it in n<i>) or "apart" (s<i>). */
const placesOf = async (key: string, nodes: number): Promise<string[]> => {
  const out: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const field = (await raw.hgetBuffer(key, `n${i}`))!;
    const apart = (await raw.hexists(key, `s${i}`)) === 1;
    // (a msgpack bin, 0xc4 to 0xc6, before the record; a record is an array)
    const before = field[0]! >= 0xc4 && field[0]! <= 0xc6;
    out.push(before && !apart ? "record" : !before && apart ? "apart" : "both or none");
  }
  return out;
};

const members = (width: number) => Array.from({ length: width }, (_, i) => count.si(i));
const sumTo = (width: number) => (width * (width - 1)) / 2;

describe("a node's spec", () => {
  it("is kept before its record in a run of more than 32 nodes, apart in a smaller one, through every transition", async () => {
    const { store, client, hashOf } = await setup();
    const wide = await client.submit(chord(members(40), total.s()));
    const small = await client.submit(chord(members(31), total.s()));
    expect(await placesOf(hashOf(wide.runId), 41)).toEqual(Array(41).fill("record"));
    expect(await placesOf(hashOf(small.runId), 32)).toEqual(Array(32).fill("apart"));
    // (the stored spec names neither the node nor its task: the field and the record do)
    expect((decode((await storedSpec(raw, hashOf(wide.runId), 40))!) as unknown[])[0]).toBeNull();
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 8, idleMs: 100 });
    try {
      expect(await wide.result({ timeout: 20_000 })).toBe(sumTo(40));
      expect(await small.result({ timeout: 20_000 })).toBe(sumTo(31));
      // claimed, started, succeeded: still before the record, its result after it
      expect(await placesOf(hashOf(wide.runId), 41)).toEqual(Array(41).fill("record"));
      expect(await placesOf(hashOf(small.runId), 32)).toEqual(Array(32).fill("apart"));
      const snap = (await store.getRun(wide.runId))!;
      expect(snap.nodes.map((x) => [x.id, x.spec.id, x.spec.task, x.state])).toEqual(
        Array.from({ length: 41 }, (_, i) => [i, i, i < 40 ? "count" : "total", "succeeded"]),
      );
      expect(snap.nodes[7]!.spec.bound).toBe(7);
      expect(await store.getResult(wide.runId, 7)).toEqual(await store.getResult(small.runId, 7));
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("apart in a small run, follows every node record and dependency list in its listpack: a chain step's records are found first", async () => {
    const { store, client, hashOf } = await setup();
    const run = await client.submit(chain(count.si(1), double.s(), double.s()));
    const fields = ((await raw.hkeys(hashOf(run.runId))) as string[]).filter((f) =>
      /^[nds]\d+$/.test(f),
    );
    expect(fields).toEqual(["n0", "n1", "n2", "d1", "d2", "s0", "s1", "s2"]);
    expect(await raw.object("ENCODING", hashOf(run.runId))).toBe("listpack");
    await store.close();
  });

  it("kept apart in a large run, as written before 2026-12-05, or in some of its nodes only, runs and reads as before", async () => {
    const { store, client, hashOf } = await setup();
    const older = await client.submit(chord(members(40), total.s()));
    const mixed = await client.submit(group(...members(40), chain(count.si(5), total.si([1, 2]))));
    for (let i = 0; i < 41; i++) await specApart(raw, hashOf(older.runId), i);
    for (let i = 0; i < 42; i += 3) await specApart(raw, hashOf(mixed.runId), i);
    expect(await placesOf(hashOf(older.runId), 41)).toEqual(Array(41).fill("apart"));
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 8, idleMs: 100 });
    try {
      expect(await older.result({ timeout: 20_000 })).toBe(sumTo(40));
      expect(await mixed.result({ timeout: 20_000 })).toEqual([...members(40).map((_, i) => i), 3]);
      expect(await placesOf(hashOf(older.runId), 41)).toEqual(Array(41).fill("apart"));
      const snap = (await store.getRun(mixed.runId))!;
      expect(snap.nodes.map((x) => [x.spec.id, x.spec.task])).toEqual(
        Array.from({ length: 42 }, (_, i) => [i, i < 41 ? "count" : "total"]),
      );
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("edited by a re-drive, replaced, or a chord body's grown by addToChord, stays where its node keeps it", async () => {
    const { store, client, hashOf } = await setup();
    // a failing member of a 40-member chord, re-driven with an edited input
    const failing = await client.submit(chord([...members(39), positive.si(-4)], total.s()));
    // a member replaced by a chain of two new nodes; a member adding one to its chord
    const replaced = await client.submit(
      chord([...members(38), doubled.si(21), grow.si(3)], total.s()),
    );
    const worker = startWorker({ store, handlers, logger: silent, concurrency: 8, idleMs: 100 });
    try {
      await expect(failing.result({ timeout: 20_000, waitForQuiet: true })).rejects.toThrow(
        "-4 is negative",
      );
      await client.redrive(failing.runId, { task: positive, input: 4 });
      expect(await failing.result({ timeout: 20_000 })).toBe(sumTo(39) + 4);
      expect(await placesOf(hashOf(failing.runId), 41)).toEqual(Array(41).fill("record"));
      expect((await store.getRun(failing.runId))!.nodes[39]!.spec.bound).toBe(4);

      // members 0-37, 21 doubled (42), 3 grown, and the added member 1003
      expect(await replaced.result({ timeout: 20_000 })).toBe(sumTo(38) + 42 + 3 + 1003);
      const snap = (await store.getRun(replaced.runId))!;
      // the replacement's two nodes and the added member after the 41 submitted
      expect(snap.nodes.length).toBe(44);
      expect(await placesOf(hashOf(replaced.runId), 44)).toEqual(Array(44).fill("record"));
      expect(snap.nodes[38]!.spec.replacedBy).toBeDefined();
      expect(snap.nodes[40]!.spec.deps.length).toBe(41);
    } finally {
      await worker.stop();
      await store.close();
    }
  });
});
