/**
 * What a run hash keeps to tell submissions apart (docs/redis-layout.md,
 * `fp` and `nonce`): the fingerprint only when another submission can name
 * the run (a run id of the caller's own, an idempotency key), and the
 * nonce of a call as its bytes when it is hex (since 2026-12-05); none for
 * a run id the client made at random, which names its call.
 */
import { createClient, Schema, task } from "@weft/core";
import { compile } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { raw, server } from "./fixtures/server.ts";

const job = task({ name: "job", input: Schema.Struct({ i: Schema.Int }), output: Schema.Int });

/** The run hash of `runId` under `prefix`: its fingerprint and nonce fields. */
const fields = async (prefix: string, runId: string) => {
  const [key] = await raw.keys(`${prefix}:*:run:${runId}`);
  expect(key).toBeDefined();
  const [fp, nonce] = await raw.hmgetBuffer(key!, "fp", "nonce");
  return { fp, nonce };
};

/** A store submission of one `job` without a fingerprint (a run id made at random), now. */
const unnamed = () => ({
  dag: compile(job.si({ i: 1 })),
  tags: [],
  idempotencyWindowMs: 0,
  retentionMs: 60_000,
  now: Date.now(),
  fingerprint: "",
});

describe("a run's fingerprint and nonce", () => {
  it("keeps no fingerprint and no nonce for a run id made at random without a key, and the client's 10 hex characters as 5 bytes for one given", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fp1" });
    const client = createClient(store);
    const [a, b] = await client.submitMany([job.si({ i: 1 }), job.si({ i: 2 })]);
    const one = await client.submit(job.si({ i: 3 }));
    for (const h of [a!, b!, one]) {
      const { fp, nonce } = await fields("fp1", h.runId);
      expect(fp).toBeNull();
      expect(nonce).toBeNull();
    }
    const named = await client.submit(job.si({ i: 4 }), { runId: "named" });
    const { fp, nonce } = await fields("fp1", named.runId);
    expect(fp).toHaveLength(32);
    expect(nonce).toHaveLength(5);
    await store.close();
  });

  it('tells a re-sent call of a run id made at random by the id, its nonce ""', async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fp4" });
    const base = { ...unnamed(), nonce: "" };
    const first = await store.submit({ ...base, runId: "made" });
    expect((await fields("fp4", "made")).nonce).toBeNull();
    // the same call again is answered as the first, through submit and submitMany
    expect(await store.submit({ ...base, runId: "made" })).toEqual(first);
    expect(first).toEqual({ runId: "made", existing: false });
    const [again] = await store.submitMany([{ ...base, runId: "made" }]);
    expect(again).toMatchObject({ ok: true, runId: "made", existing: false });
    // a call with a nonce of its own meets another call's run: refused
    await expect(
      store.submit({ ...base, runId: "made", nonce: "0a0b0c0d0e" }),
    ).rejects.toMatchObject({ _tag: "DuplicateRun" });
    await store.close();
  });

  it("tells a re-sent call by its nonce kept as bytes, and keeps a nonce that is not hex as it is", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "fp3" });
    const base = unnamed();
    const first = await store.submit({ ...base, runId: "hex", nonce: "00ff10a0b7" });
    expect((await fields("fp3", "hex")).nonce).toEqual(Buffer.from("00ff10a0b7", "hex"));
    // the same call again (its nonce) is answered as the first; another call is refused
    expect(await store.submit({ ...base, runId: "hex", nonce: "00ff10a0b7" })).toEqual(first);
    await expect(
      store.submit({ ...base, runId: "hex", nonce: "00ff10a0b8" }),
    ).rejects.toMatchObject({ _tag: "DuplicateRun" });
    // (upper-case or odd-length hex, or any other text: kept as sent)
    for (const [runId, nonce] of [
      ["upper", "00FF10A0B7"],
      ["odd", "abc"],
      ["text", "call-1"],
    ] as const) {
      const got = await store.submit({ ...base, runId, nonce });
      expect((await fields("fp3", runId)).nonce?.toString()).toBe(nonce);
      expect(await store.submit({ ...base, runId, nonce })).toEqual(got);
    }
    // and so through submitMany, whose plain jobs are written without submit's tables
    const [many] = await store.submitMany([{ ...base, runId: "many", nonce: "0a0b0c0d0e" }]);
    expect((await fields("fp3", "many")).nonce).toEqual(Buffer.from("0a0b0c0d0e", "hex"));
    expect(await store.submitMany([{ ...base, runId: "many", nonce: "0a0b0c0d0e" }])).toEqual([
      many,
    ]);
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
