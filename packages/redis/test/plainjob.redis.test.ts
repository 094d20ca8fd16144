/**
 * A plain job's submission (one root, waiting on nothing, no time limit) skips
 * the general walk of `submit` and `submitmany` (includes/submitrun.lua,
 * `plainJob`). These tests replay the very calls the store sent through the
 * same scripts with that shortcut taken out, on an emptied Redis, and compare
 * every key the two leave: the shortcut must write, add and answer exactly
 * what the walk does.
 */
import { createClient, Schema, task } from "@weft/core";
import { type Command, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { scriptSha, scriptSource } from "../src/Scripts.ts";
import { raw, server } from "./fixtures/server.ts";

const job = task({ name: "job", input: Schema.Struct({ i: Schema.Int }), output: Schema.Int });
const urgent = task({
  name: "urgent",
  input: Schema.Int,
  output: Schema.Int,
  queue: "fast",
  priority: 12,
});

const SUBMITS = ["submit", "submitmany"];

const SHORTCUT = "local plain = plainJob(M, a, list)";

/** Script `name`'s source with the plain-job shortcut taken out: the general walk. */
const walkOnly = (name: string): string => {
  const source = scriptSource(name);
  expect(source).toContain(SHORTCUT);
  return source.replace(SHORTCUT, "local plain = nil");
};

/** Every key's type, value and whether it expires; stream entries without their ids. */
const snapshot = async (): Promise<Record<string, unknown>> => {
  const out: Record<string, unknown> = {};
  for (const key of (await raw.keys("*")).sort()) {
    const type = await raw.type(key);
    const value =
      type === "hash"
        ? await raw.hgetallBuffer(key).then((h) => Object.entries(h))
        : type === "zset"
          ? await raw.zrange(key, "0", "-1", "WITHSCORES")
          : type === "list"
            ? await raw.lrange(key, 0, -1)
            : type === "stream"
              ? (await raw.xrange(key, "-", "+")).map(([, fields]) => fields)
              : await raw.get(key);
    out[key] = { type, value, expires: (await raw.pttl(key)) > 0 };
  }
  return out;
};

/** The script calls a submission sends: submit's or submitmany's, with their keys and arguments. */
const recorded = (redis: Redis, into: Command[]): Redis => {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Command, stream?: never) => {
    if (command.name === "evalsha" || command.name === "eval") into.push(command);
    return send(command, stream);
  }) as typeof redis.sendCommand;
  return redis;
};

/** Submits with `act`, then replays its script calls with the walk only on an empty Redis. */
const compare = async (act: (client: ReturnType<typeof createClient>) => Promise<unknown>) => {
  await raw.flushall();
  const calls: Command[] = [];
  // by EVALSHA, whose calls name their script by its SHA-1 (the Lua is the same as a function's)
  const store = await RedisStore.connect(recorded(new Redis(server.url), calls), {
    prefix: "plain",
    functions: false,
  });
  const client = createClient(store);
  await act(client);
  const shortcut = await snapshot();
  const sent = calls.flatMap((c) => {
    const name = SUBMITS.find((n) => c.args[0] === scriptSha(n) || c.args[0] === scriptSource(n));
    return name ? [{ name, args: c.args.slice(1), reply: c.promise }] : [];
  });
  expect(sent.length).toBeGreaterThan(0);
  await raw.flushall();
  const answered: unknown[] = [];
  const replayed: unknown[] = [];
  for (const c of sent) {
    answered.push(text(await c.reply));
    replayed.push(text(await raw.eval(walkOnly(c.name), ...(c.args as [number, ...string[]]))));
  }
  const walked = await snapshot();
  await store.close();
  // the same replies, call by call
  expect(answered).toEqual(replayed);
  return { shortcut, walked };
};

/** A script's reply with its byte strings as text. */
const text = (reply: unknown): unknown =>
  Array.isArray(reply) ? reply.map(text) : Buffer.isBuffer(reply) ? reply.toString() : reply;

describe("a plain job's submission on Redis", () => {
  it("submitMany writes, queues and records exactly what the general walk does", async () => {
    const { shortcut, walked } = await compare((client) =>
      client.submitMany(
        Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? urgent.si(i) : job.si({ i }))),
        { tags: ["batch"] },
      ),
    );
    // the run hashes, the ready sets (scores: priority, then arrival), the run list,
    // the wake lists and the events, in the same order
    expect(Object.keys(shortcut).length).toBeGreaterThan(20);
    expect(shortcut).toEqual(walked);
  });

  it("a single submit with headers, a retention and an idempotency key does too", async () => {
    const { shortcut, walked } = await compare(async (client) => [
      await client.submit(job.si({ i: 1 }), {
        headers: { tenant: "acme" },
        retentionMs: 60_000,
        idempotencyKey: "k1",
        tags: ["one"],
      }),
      await client.submit(urgent.si(2)),
    ]);
    expect(shortcut).toEqual(walked);
  });

  it("a job with a time limit or a delay is no plain job: the walk queues it as before", async () => {
    const { shortcut, walked } = await compare(async (client) => [
      await client.submit(job.si({ i: 1 }), { delayMs: 60_000 }),
      await client.submit(job.si({ i: 2 }), { expiresInMs: 60_000 }),
    ]);
    expect(shortcut).toEqual(walked);
    // the delayed one waits in the delayed set, the other in the ready set
    const zsets = Object.entries(shortcut).filter(([k]) => /:(ready|delayed)$/.test(k));
    expect(zsets.map(([k]) => k.split(":").pop()).sort()).toEqual(["delayed", "ready"]);
  });
});
