import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chain, createClient, handle, startWorker } from "@weft/core";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { inc, slow } from "./fixtures/tasks.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

it("re-delivers the node of a worker killed with SIGKILL mid-node; the run completes and records it once", async () => {
  const prefix = "crash";
  const store = await RedisStore.connect(server.url, { prefix });
  const client = createClient(store);
  const run = await client.submit(chain(slow.si(41), inc.s()));

  const child = spawn(
    process.execPath,
    [
      "--conditions=@weft/source",
      "--import",
      "tsx",
      join(import.meta.dirname, "fixtures/hanging-worker.ts"),
    ],
    {
      env: { ...process.env, REDIS_URL: server.url, WEFT_PREFIX: prefix },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await once(lines, "line")) as [string];
  expect(first).toBe(`started ${run.runId} 0 1`);
  child.kill("SIGKILL");
  await once(child, "exit");

  const worker = startWorker({
    store,
    logger: pino({ level: "silent" }),
    leaseMs: 1_000,
    handlers: [handle(slow, (n) => n), handle(inc, (n) => n + 1)],
  });
  expect(await run.result({ timeout: 30_000 })).toBe(42);
  const snap = await client.get(run.runId);
  expect(snap.nodes[0]).toMatchObject({ state: "succeeded", attempts: 2, stalls: 1 });
  expect(snap.nodes[0]!.worker).toBe(worker.id);
  expect(snap.run).toMatchObject({ status: "succeeded", ended: 2 });
  await worker.stop();
  await store.close();
});
