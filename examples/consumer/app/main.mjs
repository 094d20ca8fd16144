// Runs a chain and a chord with an in-process worker on the in-memory store and on
// Redis (REDIS_URL), and prints one JSON line per store: { store, chain, chord }.
import { createClient, startWorker } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { MemoryStore } from "@weft/testing";
import { aChain, aChord } from "./canvases.mjs";
import { handlers } from "./handlers.mjs";

const runOn = async (name, store) => {
  const worker = startWorker({ store, handlers, concurrency: 4 });
  try {
    const client = createClient(store);
    const chain = await client.submit(aChain());
    const chord = await client.submit(aChord());
    const result = {
      store: name,
      chain: await chain.result({ timeout: 30_000 }),
      chord: await chord.result({ timeout: 30_000 }),
    };
    console.log(JSON.stringify(result));
  } finally {
    await worker.stop();
    await store.close();
  }
};

process.env.WEFT_LOG_LEVEL ??= "warn";
await runOn("memory", new MemoryStore());
await runOn("redis", await RedisStore.connect(process.env.REDIS_URL, { prefix: "consumer-js" }));
