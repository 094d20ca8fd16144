/**
 * One beat process for `schedules.ts`: connects to `REDIS_URL` with prefix
 * `WEFT_PREFIX` and runs `startBeat` until SIGTERM.
 */
import { startBeat } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { pino } from "pino";

const store = await RedisStore.connect(process.env.REDIS_URL ?? "", {
  prefix: process.env.WEFT_PREFIX ?? "weft",
});
const beat = startBeat({
  store,
  logger: pino({ level: "warn" }),
  pollMs: Number(process.env.BEAT_POLL_MS ?? 1_000),
});
process.stdout.write("ready\n");
process.on("SIGTERM", async () => {
  await beat.stop();
  await store.close();
  process.exit(0);
});
