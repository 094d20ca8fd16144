/**
 * One write per turn (Turn.ts): the scripts a store sends in one turn of the
 * event loop leave its socket in one write, and every reply still comes back.
 */
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { oneWritePerTurn } from "../src/Turn.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

/** Resolves after this turn of the event loop (its ticks and microtasks), before the next poll. */
const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Counts the writes that leave `socket` (one `_write` or `_writev` each). */
const countWrites = (socket: object) => {
  const counter = { writes: 0 };
  for (const name of ["_write", "_writev"] as const) {
    const own: unknown = Reflect.get(socket, name);
    if (typeof own !== "function") continue;
    Reflect.set(socket, name, (...args: unknown[]) => {
      counter.writes += 1;
      return Reflect.apply(own, socket, args);
    });
  }
  return counter;
};

describe("oneWritePerTurn", () => {
  it("sends the commands of one turn in one write, and each gets its reply", async () => {
    const redis = new Redis({ port: server.port, host: "127.0.0.1", enableAutoPipelining: false });
    try {
      await redis.ping();
      const counter = countWrites(redis.stream);
      oneWritePerTurn(redis);
      const replies = Promise.all([redis.set("a", "1"), redis.incr("b"), redis.get("a")]);
      expect(redis.stream.writableCorked).toBe(1);
      expect(counter.writes).toBe(0);
      await endOfTurn();
      expect(redis.stream.writableCorked).toBe(0);
      expect(counter.writes).toBe(1);
      expect(await replies).toEqual(["OK", 1, "1"]);
      // a second call in the same turn corks no further
      oneWritePerTurn(redis);
      oneWritePerTurn(redis);
      expect(redis.stream.writableCorked).toBe(1);
      await endOfTurn();
      expect(redis.stream.writableCorked).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it("a command sent from a later promise continuation of the turn joins the same write", async () => {
    const redis = new Redis({ port: server.port, host: "127.0.0.1", enableAutoPipelining: false });
    try {
      await redis.ping();
      const counter = countWrites(redis.stream);
      // as a worker: its completions go out from a tick, its claim from promise continuations
      const sent: Array<Promise<unknown>> = [];
      process.nextTick(() => {
        oneWritePerTurn(redis);
        sent.push(redis.set("c", "1"));
        void Promise.resolve()
          .then(() => undefined)
          .then(() => {
            oneWritePerTurn(redis);
            sent.push(redis.get("c"));
          });
      });
      await endOfTurn();
      expect(counter.writes).toBe(1);
      expect(await Promise.all(sent)).toEqual(["OK", "1"]);
    } finally {
      redis.disconnect();
    }
  });

  it("leaves a pipeline and an object without a socket as they are", () => {
    const redis = new Redis({ port: server.port, host: "127.0.0.1", lazyConnect: true });
    const pipe = redis.pipeline();
    expect(() => oneWritePerTurn(pipe)).not.toThrow();
    expect(() => oneWritePerTurn({})).not.toThrow();
    expect(() => oneWritePerTurn({ stream: null })).not.toThrow();
    redis.disconnect();
  });

  it("a store's script calls of one turn leave in one write", async () => {
    const store = await RedisStore.connect(`redis://127.0.0.1:${server.port}`, { prefix: "turn" });
    try {
      const redis = store.redis as Redis;
      const counter = countWrites(redis.stream);
      const calls = Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          store.claim({
            workerId: "w",
            queues: ["default"],
            tasks: ["t"],
            max: 1,
            leaseMs: 1_000,
            now: Date.now(),
            requestId: `r${i}`,
          }),
        ),
      );
      await endOfTurn();
      expect(counter.writes).toBe(1);
      expect((await calls).map((c) => c.length)).toEqual([0, 0, 0, 0, 0]);
    } finally {
      await store.close();
    }
  });
});
