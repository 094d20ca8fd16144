import {
  chain,
  createClient,
  handle,
  InvalidInput,
  Schema,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import { freePort } from "@weft/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { raw, server } from "./fixtures/server.ts";

const signup = task({
  name: "signup",
  input: Schema.Struct({ user: Schema.Struct({ email: Schema.String, age: Schema.Int }) }),
  output: Schema.String,
});
const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });

describe("bad input", () => {
  it("refuses an input that fails its schema at submit, with the field's path, writing nothing", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "refuse" });
    const client = createClient(store);
    const err = await client
      .submit(signup.si({ user: { email: "a@b.c", age: 4.5 } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInput);
    expect((err as InvalidInput).message).toMatch(/\["user"\]\["age"\]/);
    expect(await raw.keys("refuse:*")).toEqual([]);
    await store.close();
  });

  it("names the URL, password masked, when Redis is unreachable", async () => {
    const port = await freePort();
    const err = await RedisStore.connect(`redis://:s3cret@127.0.0.1:${port}`, {
      connectTimeoutMs: 2_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailable);
    const message = (err as StoreUnavailable).message;
    expect(message).toContain(`redis://:***@127.0.0.1:${port}`);
    expect(message).not.toContain("s3cret");
  });

  it("fails a node whose stored upstream result cannot be decoded, and goes on serving", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "corrupt" });
    const client = createClient(store);
    const run = await client.submit(chain(count.si(1), double.s()));
    // complete node 0 by hand with bytes that are not msgpack
    const [c] = await store.claim({
      workerId: "t",
      queues: ["default"],
      max: 1,
      leaseMs: 10_000,
      now: Date.now(),
    });
    await store.complete(c!, Buffer.from([0xd9, 0x10]), {
      now: Date.now(),
      workerId: "t",
      queues: [],
      nextMax: 0,
      leaseMs: 1,
    });
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      handlers: [handle(count, (n) => n), handle(double, (n) => n * 2)],
    });
    await run.result({ timeout: 20_000 }).catch(() => undefined);
    const snap = await client.get(run.runId);
    expect(snap.nodes[1]).toMatchObject({ state: "failed", attempts: 1 });
    expect(snap.nodes[1]!.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
    const ok = await client.submit(chain(count.si(2), double.s()));
    expect(await ok.result({ timeout: 20_000 })).toBe(4);
    await worker.stop();
    await store.close();
  });
});
