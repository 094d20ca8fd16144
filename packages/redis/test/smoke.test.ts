import { chain, chord, createClient, handle, Schema, startWorker, task } from "@weft/core";
import { startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });

it("runs a chord then a chain step on redis", async () => {
  const server = await startRedisServer();
  const store = await RedisStore.connect(server.url);
  const worker = startWorker({
    store,
    handlers: [
      handle(add, async ({ a, b }) => a + b),
      handle(sum, async (xs) => xs.reduce((x, y) => x + y, 0)),
      handle(double, (x) => x * 2),
    ],
    logger: pino({ level: "silent" }),
    concurrency: 4,
  });
  const client = createClient(store);
  const run = await client.submit(
    chain(chord([add.si({ a: 1, b: 2 }), add.si({ a: 3, b: 4 })], sum.s()), double.s()),
  );
  expect(await run.result({ timeout: 5000 })).toBe(20);
  const snap = await client.get(run.runId);
  expect(snap.nodes.map((n) => n.state)).toEqual([
    "succeeded",
    "succeeded",
    "succeeded",
    "succeeded",
  ]);
  await worker.stop();
  await store.close();
  await server.stop();
});
