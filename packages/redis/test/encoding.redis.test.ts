/**
 * How Redis keeps a run's hash: a compact listpack for a run of at most 32
 * nodes, a hash table above (field `big`, docs/redis-layout.md), from its
 * first write. In a listpack every field read or write walks the list, which
 * a large run's transitions pay many times each, and a run written in chunks
 * would pay at its first chunk's every field.
 */
import { chain, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { raw, server } from "./fixtures/server.ts";

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });

describe("a run's hash on Redis", () => {
  it("stays a listpack up to 32 nodes and is a hash table from 33, and both run to the end", async () => {
    const prefix = "encoding";
    const store = await RedisStore.connect(server.url, { prefix });
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      handlers: [handle(inc, (n) => n + 1)],
    });
    const client = createClient(store);
    const chainOf = (length: number) =>
      chain(inc.si(0), ...Array.from({ length: length - 1 }, () => inc.s()));
    const hashOf = (runId: string) => runScriptKeys(shardKeys(prefix, 0), runId).record;
    for (const [canvas, nodes, expected] of [
      [chainOf(32), 32, 32],
      [chainOf(33), 33, 33],
      [chainOf(100), 100, 100],
      [group(...Array.from({ length: 40 }, (_, i) => inc.si(i))), 40, undefined],
      // written in chunks of 250 nodes (the hash table from the first one, before its nodes)
      [group(...Array.from({ length: 300 }, (_, i) => inc.si(i))), 300, undefined],
    ] as const) {
      const run = await client.submit(canvas);
      const hash = hashOf(run.runId);
      // (the encoding is chosen when the run is written)
      expect(await raw.object("ENCODING", hash)).toBe(nodes > 32 ? "hashtable" : "listpack");
      expect(await raw.hexists(hash, "big")).toBe(nodes > 32 ? 1 : 0);
      const result = await run.result();
      if (expected !== undefined) expect(result).toBe(expected);
      else expect(result).toEqual(Array.from({ length: nodes }, (_, i) => i + 1));
      expect(await raw.object("ENCODING", hash)).toBe(nodes > 32 ? "hashtable" : "listpack");
      // the record reads as any run's
      const snapshot = await store.getRun(run.runId);
      expect(snapshot?.run.status).toBe("succeeded");
      expect(snapshot?.nodes.length).toBe(nodes);
    }
    await worker.stop();
    await store.close();
  });

  it("keeps a queue's leases set a skiplist from its first lease, counted and reaped without its +inf member", async () => {
    const prefix = "leaseset";
    const store = await RedisStore.connect(server.url, { prefix });
    const client = createClient(store);
    const runs = await client.submitMany([inc.si(1), inc.si(2), inc.si(3)]);
    const leases = shardKeys(prefix, 0).queue("default").leases;
    const claim = { workerId: "w", queues: ["default"], leaseMs: 1_000, now: Date.now() };
    expect(await store.claim({ ...claim, max: 2 })).toHaveLength(2);
    // a listpack would take each new lease by a walk of the list and a copy of it
    expect(await raw.object("ENCODING", leases)).toBe("skiplist");
    expect(await raw.zcard(leases)).toBe(3);
    expect((await store.queueStats(["default"]))[0]?.leased).toBe(2);
    // the leases expire and are reaped (the nodes go back to ready): the member stays
    const maintained = await store.maintain({ now: claim.now + 5_000, queues: ["default"] });
    expect(maintained.redelivered).toBe(2);
    expect((await store.queueStats(["default"]))[0]).toMatchObject({ leased: 0, ready: 3 });
    expect(await raw.zrangebyscore(leases, "-inf", "+inf", "WITHSCORES")).toEqual([
      expect.stringMatching(/^\(keeps this set a skiplist\)-+$/),
      "inf",
    ]);
    // and the runs run to the end as before
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      handlers: [handle(inc, (n) => n + 1)],
    });
    expect(await Promise.all(runs.map((r) => r.result()))).toEqual([2, 3, 4]);
    await worker.stop();
    await store.close();
  });

  it("names workers by number, and with hash-max-listpack-value raised to 256 keeps a run with long arguments compact and a large run a hash table", async () => {
    // a Kubernetes pod's name as the host, a long task name, and an argument of 100 bytes
    const longTask = task({
      name: "payments.sendReceiptEmail",
      input: Schema.String,
      output: Schema.Int,
    });
    const workerId = "payments-worker-7d9f8b6c5d-x2k4p:1:ab12cd34";
    const encodings = async (server: RedisServer): Promise<string[]> => {
      const store = await RedisStore.connect(server.url, { prefix: "names" });
      const worker = startWorker({
        store,
        workerId,
        logger: pino({ level: "silent" }),
        handlers: [handle(longTask, (s) => s.length), handle(inc, (n) => n + 1)],
      });
      const client = createClient(store);
      const r = new Redis(server.url);
      const out: string[] = [];
      for (const canvas of [
        longTask.si("receipt"),
        longTask.si("x".repeat(100)),
        chain(inc.si(0), ...Array.from({ length: 32 }, () => inc.s())),
      ]) {
        const run = await client.submit(canvas);
        await run.result();
        const hash = runScriptKeys(shardKeys("names", 0), run.runId).record;
        out.push(String(await r.object("ENCODING", hash)));
        // the record names the worker by number; a snapshot names it by its id
        expect((await store.getRun(run.runId))?.nodes[0]?.worker).toBe(workerId);
      }
      r.disconnect();
      await worker.stop();
      await store.close();
      return out;
    };
    // at Redis's default (64 bytes): the worker's id is not in the record; the argument is
    expect(await encodings(server)).toEqual(["listpack", "hashtable", "hashtable"]);
    const raised = await startRedisServer(["--hash-max-listpack-value", "256"]);
    try {
      expect(await encodings(raised)).toEqual(["listpack", "listpack", "hashtable"]);
    } finally {
      await raised.stop();
    }
  });
});
