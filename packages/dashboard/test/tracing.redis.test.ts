/**
 * Fan-in links on Redis (docs/operations.md, "Traces"): a traced attempt's
 * span id rides with its result (field `t<i>` of the run hash, in the
 * completion's own HSET), and a dependent's span links to that exact span;
 * an untraced worker stores nothing of the kind.
 */
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  type Canvas,
  chain,
  createClient,
  group,
  handle,
  Schema,
  startWorker,
  task,
} from "@weft/core";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTraceId, tracingHooks } from "../src/index.ts";

let server: RedisServer;
let admin: Redis;
const exporter = new InMemorySpanExporter();
beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
});
afterAll(async () => {
  trace.disable();
  context.disable();
  admin?.disconnect();
  await server?.stop();
});

const one = task({ name: "one", input: Schema.Int, output: Schema.Int });
const join = task({ name: "join", input: Schema.Array(Schema.Int), output: Schema.Int });
const handlers = [
  handle(one, async (n) => n),
  handle(join, async (xs) => xs.reduce((a, b) => a + b, 0)),
];

/** The span-id fields (`t<i>`) of a run's hash, by node id. */
const spanFields = async (runId: string): Promise<Record<string, string>> => {
  const [key] = await admin.keys(`*:run:${runId}`);
  const all = await admin.hgetall(key!);
  return Object.fromEntries(Object.entries(all).filter(([f]) => /^t\d+$/.test(f)));
};

/** Runs `canvas` to its end on a traced worker of `store`: its run id and result, and the spans it made. */
const runTraced = async <O>(store: RedisStore, canvas: Canvas<unknown, O>) => {
  exporter.reset();
  const traced = startWorker({
    store,
    handlers,
    hooks: tracingHooks(),
    logger: pino({ level: "silent" }),
  });
  let run: { runId: string; result: O };
  try {
    const submitted = await createClient(store).submit(canvas);
    run = { runId: submitted.runId, result: await submitted.result({ timeout: 10_000 }) };
  } finally {
    // (every attempt's span has ended once the worker stopped)
    await traced.stop();
  }
  return { ...run, spans: exporter.getFinishedSpans() };
};

describe("fan-in span links on Redis", () => {
  it("links a chord body's span to the exact attempt spans of its header; stores nothing untraced", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "traced" });
    try {
      const { runId, result, spans } = await runTraced(
        store,
        chain(group(one.si(1), one.si(2), one.si(3)), join.s()),
      );
      expect(result).toBe(6);
      const spanOf = (node: number) =>
        spans.find((s) => s.attributes["weft.node_id"] === node)!.spanContext().spanId;
      // each header member's span id was recorded with its result
      expect(await spanFields(runId)).toEqual({
        t0: spanOf(0),
        t1: spanOf(1),
        t2: spanOf(2),
        t3: spanOf(3),
      });
      const body = spans.find((s) => s.name === "join")!;
      expect(body.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual(
        [0, 1, 2].map((d) => [runTraceId(runId), spanOf(d)]),
      );

      const plain = startWorker({ store, handlers, logger: pino({ level: "silent" }) });
      try {
        const run = await createClient(store).submit(chain(group(one.si(1), one.si(2)), join.s()));
        expect(await run.result({ timeout: 10_000 })).toBe(3);
        expect(await spanFields(run.runId)).toEqual({});
      } finally {
        await plain.stop();
      }
    } finally {
      await store.close();
    }
  });

  it("links a chain step's span to its dependency's, when the completion hands the step out in the same call", async () => {
    const store = await RedisStore.connect(server.url, { prefix: "tracedchain" });
    try {
      const { runId, result, spans } = await runTraced(store, chain(one.si(5), one.s(), one.s()));
      expect(result).toBe(5);
      const spanOf = (node: number) => spans.find((s) => s.attributes["weft.node_id"] === node)!;
      for (const n of [1, 2]) {
        expect(spanOf(n).links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([
          [runTraceId(runId), spanOf(n - 1).spanContext().spanId],
        ]);
      }
    } finally {
      await store.close();
    }
  });
});
