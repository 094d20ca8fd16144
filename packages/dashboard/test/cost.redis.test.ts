/**
 * What the dashboard asks of Redis: opening a run is a bounded number of
 * commands (a few per 1 000 nodes, none per node), and a node's lease one
 * ZSCORE, counted with `INFO commandstats` on a private server. Timings are in bench/
 * (`npm run bench:dashboard -w @weft/bench`).
 */
import { createClient, group, Schema, task } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDashboard } from "../src/index.ts";

let server: RedisServer;
let admin: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

const calls = async (cmd?: string): Promise<number> => {
  const text = await admin.info("commandstats");
  let n = 0;
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (m[1] !== "info" && (cmd === undefined || m[1] === cmd)) n += Number(m[2]);
  return n;
};

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });

describe("the cost of opening a run", () => {
  it("reads a 3,000-node run in a bounded number of commands, not one per node", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "cost" });
    try {
      const run = await createClient(store).submit(
        group(...Array.from({ length: 3_000 }, (_, i) => inc.si(i))),
      );
      const app = createDashboard({ store });
      const before = await calls();
      const res = await app.request(`/api/runs/${run.runId}`);
      const body = (await res.json()) as { nodes: unknown[] };
      const used = (await calls()) - before;
      expect(body.nodes).toHaveLength(3_000);
      // getRun: 5 pipelined HMGETs per 1 000 nodes and a few HGETs; the stream position: 1-2
      expect(used).toBeLessThanOrEqual(3 * 5 + 6);
    } finally {
      await store.close();
    }
  });

  it("reads a running node's lease expiry with one ZSCORE, whatever the number of running nodes", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "lease" });
    try {
      const run = await createClient(store).submit(
        group(...Array.from({ length: 200 }, (_, i) => inc.si(i))),
      );
      const claimed = await store.claim({
        workerId: "w",
        queues: ["default"],
        max: 200,
        leaseMs: 60_000,
        now: Date.now(),
      });
      expect(claimed).toHaveLength(200);
      const app = createDashboard({ store });
      const before = await calls("zscore");
      const res = await app.request(`/api/runs/${run.runId}/nodes/7`);
      const body = (await res.json()) as { state: string; leaseExpiresAt?: number };
      expect(body.state).toBe("running");
      expect(body.leaseExpiresAt).toBe(claimed.find((c) => c.nodeId === 7)?.leaseUntil);
      expect((await calls("zscore")) - before).toBe(1);
    } finally {
      await store.close();
    }
  });
});
