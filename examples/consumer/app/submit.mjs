// A producer only: submits the chain to Redis (REDIS_URL, prefix WEFT_PREFIX) for a
// worker started with `weft worker handlers.mjs`, and prints its result.
import { createClient } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { aChain } from "./canvases.mjs";

const store = await RedisStore.connect(process.env.REDIS_URL, { prefix: process.env.WEFT_PREFIX });
try {
  const run = await createClient(store).submit(aChain());
  console.log(JSON.stringify({ chain: await run.result({ timeout: 30_000 }) }));
} finally {
  await store.close();
}
