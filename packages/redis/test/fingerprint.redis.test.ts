/**
 * What a run hash keeps to tell submissions apart (docs/redis-layout.md,
 * `fp` and `nonce`): the fingerprint only when another submission can name
 * the run (a run id of the caller's own, an idempotency key), and the
 * client's nonce of 10 hex characters.
 */
import { createClient, Schema, task } from "@weft/core";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { raw, server } from "./fixtures/server.ts";

const job = task({ name: "job", input: Schema.Struct({ i: Schema.Int }), output: Schema.Int });

/** The run hash of `runId` under `prefix`: its fingerprint and nonce fields. */
const fields = async (prefix: string, runId: string) => {
  const [key] = await raw.keys(`${prefix}:*:run:${runId}`);
  expect(key).toBeDefined();
  const [fp, nonce] = await raw.hmgetBuffer(key!, "fp", "nonce");
  return { fp, nonce: nonce?.toString() };
};

describe("a run's fingerprint and nonce", () => {
  it("keeps no fingerprint for a run id made at random without a key, and a 10-character nonce", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fp1" });
    const client = createClient(store);
    const [a, b] = await client.submitMany([job.si({ i: 1 }), job.si({ i: 2 })]);
    const one = await client.submit(job.si({ i: 3 }));
    for (const h of [a!, b!, one]) {
      const { fp, nonce } = await fields("fp1", h.runId);
      expect(fp).toBeNull();
      expect(nonce).toMatch(/^[0-9a-f]{10}$/);
    }
    await store.close();
  });

  it("keeps the fingerprint (32 bytes) of a run named by its caller or by an idempotency key", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fp2" });
    const client = createClient(store);
    const named = await client.submit(job.si({ i: 1 }), { runId: "mine" });
    const keyed = await client.submit(job.si({ i: 2 }), { idempotencyKey: "k" });
    const [many] = await client.submitMany([job.si({ i: 3 })], [{ idempotencyKey: "m" }]);
    for (const h of [named, keyed, many!])
      expect((await fields("fp2", h.runId)).fp).toHaveLength(32);
    // and compares it: the same canvas again is this run, another one is refused
    expect((await client.submit(job.si({ i: 1 }), { runId: "mine" })).existing).toBe(true);
    await expect(client.submit(job.si({ i: 9 }), { runId: "mine" })).rejects.toMatchObject({
      _tag: "DuplicateRun",
    });
    expect((await client.submit(job.si({ i: 2 }), { idempotencyKey: "k" })).runId).toBe(
      keyed.runId,
    );
    await store.close();
  });
});
