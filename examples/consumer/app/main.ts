// The TypeScript program: the same chain and chord with typed results, type-checked by
// this project's own tsc (module/moduleResolution nodenext, strict) and run from its output.
import {
  chain,
  chord,
  createClient,
  handle,
  Schema,
  type Store,
  startWorker,
  task,
} from "@weft/core";
import { RedisStore } from "@weft/redis";
import { MemoryStore } from "@weft/testing";

const add = task({
  name: "consumer.add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const double = task({ name: "consumer.double", input: Schema.Int, output: Schema.Int });
const label = task({
  name: "consumer.label",
  input: Schema.Array(Schema.Int),
  output: Schema.Struct({ total: Schema.Int, parts: Schema.Int }),
});

const handlers = [
  handle(add, ({ a, b }) => a + b),
  handle(double, (x) => x * 2),
  handle(label, (xs) => ({ total: xs.reduce((x, y) => x + y, 0), parts: xs.length })),
];

const aChain = chain(add.si({ a: 1, b: 2 }), double.s(), double.s());
const aChord = chord([add.si({ a: 1, b: 1 }), add.si({ a: 2, b: 3 })], label.s());

const runOn = async (name: string, store: Store): Promise<void> => {
  const worker = startWorker({ store, handlers, concurrency: 4 });
  try {
    const client = createClient(store);
    const chained: number = await (await client.submit(aChain)).result({ timeout: 30_000 });
    const labelled: { readonly total: number; readonly parts: number } = await (
      await client.submit(aChord)
    ).result({ timeout: 30_000 });
    console.log(JSON.stringify({ store: name, chain: chained, chord: labelled }));
  } finally {
    await worker.stop();
    await store.close();
  }
};

process.env.WEFT_LOG_LEVEL ??= "warn";
const url = process.env.REDIS_URL;
if (url === undefined) throw new Error("REDIS_URL is not set");
await runOn("memory", new MemoryStore());
await runOn("redis", await RedisStore.connect(url, { prefix: "consumer-ts" }));
