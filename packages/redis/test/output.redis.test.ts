/**
 * Reading a run's output on Redis (`getOutput`, what `result()` reads): the
 * stored shape and only the nodes it names, whatever the caller expected.
 */
import { chain, chord, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { watched } from "./fixtures/watched.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
const silent = pino({ level: "silent" });

describe("reading a run's output on Redis", () => {
  it("reads the nodes the stored shape names, whether or not the caller expected them", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "output" });
    const worker = startWorker({
      store,
      logger: silent,
      handlers: [handle(inc, (n) => n + 1), handle(sum, (xs) => xs.reduce((a, b) => a + b, 0))],
    });
    const client = createClient(store);
    const c = await client.submit(chain(inc.si(1), inc.s(), inc.s()));
    expect(await c.result()).toBe(4);
    const out = await store.getOutput(c.runId, [2]);
    expect(out?.output).toBe(2);
    expect(out?.nodes.map((n) => [n.id, n.state, n.spec.task])).toEqual([[2, "succeeded", "inc"]]);
    // expected wrongly (a handle by task name expects node 0): the stored shape wins
    const wrong = await store.getOutput(c.runId, [0, 1]);
    expect(wrong?.nodes.map((n) => n.id)).toEqual([2]);
    expect(wrong?.nodes[0]?.result).toEqual(out?.nodes[0]?.result);
    expect(await (await client.handle(c.runId, inc)).result()).toBe(4);
    // a group's output names each member once; a chord's, its body
    const g = await client.submit(group(inc.si(1), inc.si(2), inc.si(3)));
    expect(await g.result()).toEqual([2, 3, 4]);
    expect((await store.getOutput(g.runId))?.nodes.map((n) => n.id)).toEqual([0, 1, 2]);
    const h = await client.submit(chord([inc.si(1), inc.si(2)], sum.s()));
    expect(await h.result()).toBe(5);
    expect((await store.getOutput(h.runId, [2]))?.nodes.map((n) => n.id)).toEqual([2]);
    expect(await store.getOutput("no-such-run")).toBeUndefined();
    await worker.stop();
    await store.close();
  });

  it("result() reads a finished run's output with its one read, and a waited run's with its last", async () => {
    const prefix = "output-wait";
    const store = await RedisStore.connect(server.url, { prefix });
    const { redis, sent } = watched(server.url);
    const reader = await RedisStore.connect(redis, { prefix });
    const worker = startWorker({ store, logger: silent, handlers: [handle(inc, (n) => n + 1)] });
    const client = createClient(store);
    // submitted by the reader's client: it knows the canvas's output node
    const h = await createClient(reader).submit(chain(inc.si(1), inc.s()));
    await (await client.handle(h.runId, chain(inc.si(1), inc.s()))).result();
    const before = sent.length;
    expect(await h.result()).toBe(3);
    // one `waitrun` call: the run record, the shape and the output node's fields
    expect(sent.slice(before)).toEqual(["fcall"]);
    // a handle by task name expects node 0, the run's output is node 1: one more read
    const byTask = await createClient(reader).handle(h.runId, inc);
    const mid = sent.length;
    expect(await byTask.result()).toBe(3);
    expect(sent.slice(mid)).toEqual(["fcall", "hmget"]);
    await worker.stop();
    await Promise.all([store.close(), reader.close()]);
    redis.disconnect();
  });
});
