/**
 * A run's fields at their default are not written (docs/redis-layout.md): no
 * `id` (the key names the run), no `queues` when every node is in queue
 * `default`, no `out` when the output is node 0, and a spec's `default`
 * queue as nil. A run written before 2026-12-03, with all of them, reads
 * and runs as before. A spec has no id and task (since 2026-12-05): the
 * scripts hand them back with it, and a spec written before runs as before.
 */
import { chain, chord, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { decode, encode } from "msgpackr";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { specApart, storedSpec } from "./fixtures/layout.ts";
import { raw, server } from "./fixtures/server.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const mail = task({ name: "mail", input: Schema.Int, output: Schema.Int, queue: "emails" });
const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
const silent = pino({ level: "silent" });

/** The run hash's field names. */
const fieldsOf = async (hash: string) => (await raw.hkeys(hash)).sort();

/** A store under `prefix`, a client on it, and the hash of a run's record (shard 0). */
const storeUnder = async (prefix: string) => {
  const store = await RedisStore.connect(server.url, { prefix });
  const hashOf = (runId: string) => runScriptKeys(shardKeys(prefix, 0), runId).record;
  return { store, client: createClient(store), hashOf };
};

describe("a run's fields at their default", () => {
  it("are not written: no id, no queues for queue default, no out for output node 0, a spec's default queue nil", async () => {
    const prefix = "defaults";
    const { store, client, hashOf } = await storeUnder(prefix);
    const plain = await client.submit(inc.si(1));
    const emails = await client.submit(chain(inc.si(1), mail.s()));
    const both = await client.submit(group(inc.si(1), inc.si(2)));
    // a run without a queue list is found by cancel (and re-drive): it has one, `default`
    const cancelled = await client.submit(inc.si(5));
    expect(await store.cancel(cancelled.runId, { now: Date.now() })).toBe(true);
    expect(await store.cancel("no-such-run", { now: Date.now() })).toBe(false);
    // (since 2026-12-05 neither `total` nor `ended` for one node, and no `nonce` for a run id
    // the client made at random)
    expect(await fieldsOf(hashOf(plain.runId))).toEqual(["created", "n0", "s0", "status"]);
    expect(await raw.hmget(hashOf(emails.runId), "total", "ended", "nonce")).toEqual([
      "2",
      "0",
      null,
    ]);
    // a second queue is written, and so is an output other than node 0
    expect(await raw.hget(hashOf(emails.runId), "queues")).toBe("default,emails");
    expect(await raw.hexists(hashOf(emails.runId), "out")).toBe(1);
    expect(await raw.hexists(hashOf(both.runId), "out")).toBe(1);
    expect(await raw.hexists(hashOf(both.runId), "queues")).toBe(0);
    const specQueue = async (runId: string, node: number) =>
      (decode((await storedSpec(raw, hashOf(runId), node))!) as unknown[])[2];
    expect(await specQueue(plain.runId, 0)).toBeNull();
    expect(await specQueue(emails.runId, 1)).toBe("emails");

    const worker = startWorker({
      store,
      logger: silent,
      queues: ["default", "emails"],
      handlers: [handle(inc, (n) => n + 1), handle(mail, (n) => n * 10)],
    });
    try {
      expect(await plain.result()).toBe(2);
      expect(await emails.result()).toBe(20);
      expect(await both.result()).toEqual([2, 3]);
      const snap = (await store.getRun(plain.runId))!;
      expect(snap.run).toMatchObject({
        id: plain.runId,
        status: "succeeded",
        queues: ["default"],
        total: 1,
        ended: 1,
      });
      // a chain's `ended` kept up to date to its end
      expect(await raw.hget(hashOf(emails.runId), "ended")).toBe("2");
      expect((await store.getRun(emails.runId))!.run).toMatchObject({ total: 2, ended: 2 });
      expect(snap.nodes[0]?.spec.queue).toBe("default");
      expect(snap.output).toBe(0);
      const listed = await store.listRuns({ limit: 10 });
      expect(listed.map((r) => r.id).sort()).toEqual(
        [plain.runId, emails.runId, both.runId, cancelled.runId].sort(),
      );
      expect(await store.redrive(cancelled.runId, { now: Date.now() })).toEqual({
        ok: true,
        queued: 1,
      });
      expect(await cancelled.result()).toBe(6);
      expect(await store.redrive("no-such-run", { now: Date.now() })).toEqual({
        ok: false,
        reason: "not-found",
      });
      // still none once finished; the result is kept after the node's record (no r0)
      expect(await fieldsOf(hashOf(plain.runId))).toEqual(
        ["created", "finished", "n0", "s0", "status"].sort(),
      );
      const n0 = (await raw.hgetBuffer(hashOf(plain.runId), "n0"))!;
      expect(n0.subarray(n0.length - 1)).toEqual(Buffer.from(encode(2)));
      expect(await store.getResult(plain.runId, 0)).toEqual(Buffer.from(encode(2)));
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("keep a finished run's `finished` as ms after its `created`, read back as an epoch ms", async () => {
    const prefix = "finishedrel";
    const { store, client, hashOf } = await storeUnder(prefix);
    // a run whose `created` is not a time (set before any worker runs it) keeps an epoch ms
    const odd = await client.submit(inc.si(5));
    await raw.hset(hashOf(odd.runId), "created", "0");
    const worker = startWorker({ store, logger: silent, handlers: [handle(inc, (n) => n + 1)] });
    try {
      // a plain job (its completion's shortcut) and a chain (the general way to a run's end)
      const plain = await client.submit(inc.si(1));
      const steps = await client.submit(chain(inc.si(1), inc.s()));
      expect([await plain.result(), await steps.result()]).toEqual([2, 3]);
      for (const run of [plain, steps]) {
        const [created, finished] = await raw.hmget(hashOf(run.runId), "created", "finished");
        const delta = Number(finished);
        expect(Number.isInteger(delta)).toBe(true);
        expect(delta).toBeGreaterThanOrEqual(0);
        expect(delta).toBeLessThan(1e12);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.run.finishedAt).toBe(Number(created) + delta);
        expect(snap.run.finishedAt).toBeGreaterThanOrEqual(snap.nodes.at(-1)!.finishedAt!);
      }
      // (read as it is)
      expect(await odd.result()).toBe(6);
      const finished = Number(await raw.hget(hashOf(odd.runId), "finished"));
      expect(finished).toBeGreaterThanOrEqual(1e12);
      expect((await store.getRun(odd.runId))!.run.finishedAt).toBe(finished);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("leave a spec's id and task out; a worker gets them back, and a spec that has them runs as before", async () => {
    const prefix = "specowner";
    const { store, client, hashOf } = await storeUnder(prefix);
    // a plain job, a chain (its step handed by the completion), a chord (members claimed
    // together, the body started apart), each twice: as written, and as an earlier version
    // wrote its specs (id and task in them, in fields s<i> of their own)
    const submitAll = () =>
      Promise.all([
        client.submit(inc.si(1)),
        client.submit(chain(inc.si(1), inc.s(), mail.s())),
        client.submit(chord([inc.si(1), inc.si(2), inc.si(3)], sum.s())),
      ]);
    const fresh = await submitAll();
    const older = await submitAll();
    const tasks = [["inc"], ["inc", "inc", "mail"], ["inc", "inc", "inc", "sum"]];
    for (const [i, run] of fresh.entries()) {
      for (const [node, name] of tasks[i]!.entries()) {
        const bytes = (await storedSpec(raw, hashOf(run.runId), node))!;
        expect((decode(bytes) as unknown[]).slice(0, 2)).toEqual([null, null]);
        expect(bytes.includes(Buffer.from(encode(name)))).toBe(false);
      }
    }
    for (const [i, run] of older.entries()) {
      for (const [node, name] of tasks[i]!.entries()) {
        const spec = decode((await storedSpec(raw, hashOf(run.runId), node))!) as unknown[];
        spec[0] = node;
        spec[1] = name;
        // (all 13 fields, as an earlier version wrote every spec)
        const defaults = [[], [], [], 0, {}, []];
        while (spec.length < 13) spec.push(defaults[spec.length - 7]);
        await specApart(raw, hashOf(run.runId), node, encode(spec));
      }
    }
    const seen: Array<[string, number]> = [];
    const worker = startWorker({
      store,
      logger: silent,
      queues: ["default", "emails"],
      handlers: [
        handle(inc, (n, ctx) => {
          seen.push([ctx.runId, ctx.nodeId]);
          return n + 1;
        }),
        handle(mail, (n) => n * 10),
        handle(sum, (xs) => xs.reduce((a, b) => a + b, 0)),
      ],
    });
    try {
      for (const runs of [fresh, older]) {
        expect(await Promise.all(runs.map((r) => r.result()))).toEqual([2, 30, 9]);
        for (const [i, run] of runs.entries()) {
          const snap = (await store.getRun(run.runId))!;
          expect(snap.nodes.map((n) => [n.id, n.spec.id, n.spec.task, n.state])).toEqual(
            tasks[i]!.map((name, node) => [node, node, name, "succeeded"]),
          );
        }
      }
      // each handler ran under the node its claim named
      const incs = [...fresh, ...older].flatMap((run, k) =>
        tasks[k % 3]!.flatMap((name, node) => (name === "inc" ? [`${run.runId}#${node}`] : [])),
      );
      expect(seen.map(([run, node]) => `${run}#${node}`).sort()).toEqual(incs.sort());
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it("read a run written before 2026-12-03 (id, queues, out, a spec naming queue default) as before", async () => {
    const prefix = "olddefaults";
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    const run = await client.submit(chain(inc.si(1), inc.s()));
    const hash = runScriptKeys(shardKeys(prefix, 0), run.runId).record;
    // the fields an earlier version wrote, before any worker ran it
    await raw.hset(hash, "id", run.runId, "queues", "default", "out", Buffer.from([1]));
    for (const node of [0, 1]) {
      const spec = decode((await storedSpec(raw, hash, node))!) as unknown[];
      spec[2] = "default";
      await specApart(raw, hash, node, encode(spec));
    }
    const worker = startWorker({ store, logger: silent, handlers: [handle(inc, (n) => n + 1)] });
    try {
      expect(await run.result()).toBe(3);
      const snap = (await store.getRun(run.runId))!;
      expect(snap.run).toMatchObject({ id: run.runId, status: "succeeded", queues: ["default"] });
      expect(snap.nodes.map((n) => [n.state, n.spec.queue])).toEqual([
        ["succeeded", "default"],
        ["succeeded", "default"],
      ]);
      expect(await raw.hget(hash, "id")).toBe(run.runId);
    } finally {
      await worker.stop();
      await store.close();
    }
  });
});
