/**
 * The Effect-native API on a real Redis: `RedisStore.layer(url)` connects
 * when built and closes when its scope closes; `WeftClient` and
 * `WeftWorker` run a canvas on it; a store that cannot be reached, or a URL
 * that is not a Redis URL, is the layer's typed failure.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest";
import { chain, group, handle, Schema, task, WeftClient, WeftStore, WeftWorker } from "@weft/core";
import { freePort, type RedisServer, startRedisServer } from "@weft/testing";
import { Effect, Layer, Schedule } from "effect";
import { Redis } from "ioredis";
import { pino } from "pino";
import { RedisStore } from "../src/index.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const square = task({ name: "square", input: Schema.Int, output: Schema.Int });
const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
const handlers = [
  handle(add, ({ a, b }) => a + b),
  handle(square, (n) => Effect.succeed(n * n)),
  handle(sum, (xs) => xs.reduce((x, y) => x + y, 0)),
];

/** A client and a worker on one Redis store under `prefix`; the store is provided too. */
const live = (prefix: string) =>
  Layer.mergeAll(
    WeftClient.layer,
    WeftWorker.layer({ handlers, logger: pino({ level: "silent" }), idleMs: 50 }),
  ).pipe(Layer.provideMerge(RedisStore.layer(server.url, { prefix })));

describe("RedisStore.layer", () => {
  it.effect("runs a chain of a group on Redis through WeftClient and WeftWorker", () =>
    Effect.gen(function* () {
      const client = yield* WeftClient;
      const run = yield* client.submit(
        chain(group(add.si({ a: 1, b: 2 }), square.si(4)), sum.s(), square.s()),
      );
      expect(yield* run.result({ timeout: 20_000 })).toBe(361);
      const store = yield* WeftStore;
      expect(store).toBeInstanceOf(RedisStore);
      expect(store.name).toBe(`redis://127.0.0.1:${server.port}`);
    }).pipe(Effect.provide(live("effect-chain"))),
  );

  it.live("connects when built and closes its connections when its scope closes", () =>
    Effect.gen(function* () {
      const raw = new Redis(server.url);
      yield* Effect.addFinalizer(() => Effect.sync(() => raw.disconnect()));
      const clients = Effect.promise(async () => {
        const list = (await raw.client("LIST")) as string;
        return list.trim().split("\n").length;
      });
      const alone = yield* clients;
      const during = yield* Effect.gen(function* () {
        const store = yield* WeftStore;
        yield* Effect.promise(() => store.listRuns({ limit: 1 }));
        return yield* clients;
      }).pipe(Effect.provide(RedisStore.layer(server.url, { prefix: "effect-close" })));
      expect(during).toBeGreaterThan(alone);
      // the server drops a closed connection on its next event-loop turn: wait for that
      yield* clients.pipe(
        Effect.repeat({ until: (n) => n === alone, schedule: Schedule.spaced("10 millis") }),
      );
    }),
  );

  it.effect("fails with StoreUnavailable when nothing listens at the URL", () =>
    Effect.gen(function* () {
      const url = `redis://127.0.0.1:${yield* Effect.promise(() => freePort())}`;
      const e = yield* Effect.flip(
        WeftStore.useSync((s) => s.name).pipe(
          Effect.provide(RedisStore.layer(url, { connectTimeoutMs: 2_000 })),
        ),
      );
      expect(e._tag).toBe("StoreUnavailable");
      expect(e.message).toMatch(/cannot reach the store at redis:\/\/127\.0\.0\.1:\d+/);
    }),
  );

  it.effect("fails with InvalidConnectionOptions for a URL that is not a Redis URL", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        WeftStore.useSync((s) => s.name).pipe(
          Effect.provide(RedisStore.layer("http://127.0.0.1:6379")),
        ),
      );
      expect(e._tag).toBe("InvalidConnectionOptions");
    }),
  );
});
