/**
 * A worker's metrics and traces (docs/operations.md): Prometheus text from
 * its hooks, one trace per run and one span per attempt through
 * @opentelemetry/api (the SDK's in-memory exporter here), the attempt's span
 * active inside its handler, hooks combined.
 */

import { context, ProxyTracerProvider, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import {
  chain,
  createClient,
  group,
  handle,
  Schema,
  startBeat,
  startWorker,
  task,
  upsertSchedule,
} from "@weft/core";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  beatMetrics,
  combineHooks,
  nodeSpanId,
  runTraceId,
  tracingHooks,
  workerMetrics,
} from "../src/index.ts";

const exporter = new InMemorySpanExporter();
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
});
afterAll(() => {
  trace.disable();
  context.disable();
});

const one = task({ name: "one", input: Schema.Int, output: Schema.Int });
const flaky = task({
  name: "flaky",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 0 } },
});
const join = task({ name: "join", input: Schema.Array(Schema.Int), output: Schema.Int });

describe("worker metrics and traces", () => {
  it("counts attempts by outcome, times them, and traces each attempt in its run's trace", async () => {
    exporter.reset();
    const store = new MemoryStore();
    const metrics = workerMetrics({ defaultMetrics: false });
    const activeInHandler: string[] = [];
    let flakyCalls = 0;
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      hooks: combineHooks(metrics.hooks, tracingHooks()),
      handlers: [
        handle(one, async (n) => {
          activeInHandler.push(trace.getActiveSpan()?.spanContext().spanId ?? "none");
          return n;
        }),
        handle(flaky, async (n) => {
          flakyCalls++;
          if (flakyCalls === 1) throw new Error("boom once");
          return n * 10;
        }),
        handle(join, async (xs) => xs.reduce((a, b) => a + b, 0)),
      ],
    });
    try {
      const run = await createClient(store).submit(
        chain(group(one.si(1), one.si(2), flaky.si(3)), join.s()),
      );
      expect(await run.result({ timeout: 10_000 })).toBe(33);
    } finally {
      await worker.stop();
    }
    const text = (await metrics.scrape()).body;
    expect(text).toContain('weft_attempts_total{task="one",outcome="succeeded"} 2');
    expect(text).toContain('weft_attempts_total{task="flaky",outcome="retried"} 1');
    expect(text).toContain('weft_attempts_total{task="flaky",outcome="succeeded"} 1');
    expect(text).toContain('weft_retries_total{task="flaky"} 1');
    expect(text).toContain(
      'weft_attempt_duration_seconds_count{task="join",outcome="succeeded"} 1',
    );
    expect(text).toContain('weft_attempts_running{task="one"} 0');

    const spans = exporter.getFinishedSpans();
    // 2 one + 2 flaky attempts + 1 join
    expect(spans.map((s) => s.name).sort()).toEqual(["flaky", "flaky", "join", "one", "one"]);
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const runId = spans[0]!.attributes["weft.run_id"] as string;
    expect([...traceIds][0]).toBe(runTraceId(runId));
    const failed = spans.find((s) => s.name === "flaky" && s.attributes["weft.attempt"] === 1)!;
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes["weft.outcome"]).toBe("retried");
    expect(failed.events.map((e) => e.name)).toContain("exception");
    const ok = spans.find((s) => s.name === "flaky" && s.attributes["weft.attempt"] === 2)!;
    expect(ok.attributes["weft.outcome"]).toBe("succeeded");
    // fan-in: the join's span links (no parent) to the exact attempt spans that produced its three
    // deps' results (flaky's second attempt, not its failed first), in the run's trace; every
    // attempt of a node has its node's span as parent
    const joinSpan = spans.find((s) => s.name === "join")!;
    expect(joinSpan.parentSpanContext?.spanId).toBe(nodeSpanId(runId, 3));
    const producer = (d: number) =>
      spans.find(
        (s) => s.attributes["weft.node_id"] === d && s.attributes["weft.outcome"] === "succeeded",
      )!;
    const linked = joinSpan.links.map((l) => [
      l.context.traceId,
      l.context.spanId,
      l.attributes?.["weft.node_id"],
    ]);
    expect(linked).toEqual(
      [0, 1, 2].map((d) => [runTraceId(runId), producer(d).spanContext().spanId, d]),
    );
    expect(producer(2)).toBe(ok);
    for (const s of spans.filter((x) => x.name !== "join")) {
      const node = s.attributes["weft.node_id"] as number;
      expect(s.parentSpanContext?.spanId).toBe(nodeSpanId(runId, node));
      expect(s.links).toEqual([]);
    }
    const flakyNode = failed.attributes["weft.node_id"] as number;
    expect(ok.parentSpanContext?.spanId).toBe(nodeSpanId(runId, flakyNode));
    // inside a handler the active span is the attempt's own
    const oneSpans = spans.filter((s) => s.name === "one").map((s) => s.spanContext().spanId);
    expect(activeInHandler.sort()).toEqual(oneSpans.sort());
  });

  it("combineHooks calls every hook even when one throws, and nests wrappers first-outermost", async () => {
    const calls: string[] = [];
    const hooks = combineHooks(
      {
        onAttemptStart: () => {
          calls.push("a");
          throw new Error("a fails");
        },
        wrapHandler: async (_a, run) => {
          calls.push("wrap1 in");
          const r = await run();
          calls.push("wrap1 out");
          return r;
        },
      },
      {
        onAttemptStart: () => {
          calls.push("b");
        },
        wrapHandler: async (_a, run) => {
          calls.push("wrap2 in");
          return run();
        },
      },
    );
    const info = { runId: "r", nodeId: 0, task: "t", attempt: 1, workerId: "w", deps: [] };
    await expect(Promise.resolve(hooks.onAttemptStart?.(info))).rejects.toThrow("a fails");
    expect(calls).toEqual(["a", "b"]);
    const r = await hooks.wrapHandler!(info, async () => {
      calls.push("handler");
      return 5;
    });
    expect(r).toBe(5);
    expect(calls.slice(2)).toEqual(["wrap1 in", "wrap2 in", "handler", "wrap1 out"]);
    // attemptSpan: the first hook that answers one
    const spans = combineHooks(
      { attemptSpan: () => undefined },
      { attemptSpan: () => "00f067aa0ba902b7" },
      { attemptSpan: () => "b7ad6b7169203331" },
    );
    expect(spans.attemptSpan?.(info)).toBe("00f067aa0ba902b7");
    expect("attemptSpan" in hooks).toBe(false);
  });

  it("answers no span id to record while no SDK is registered (a no-op tracer)", async () => {
    const info = { runId: "r", nodeId: 0, task: "t", attempt: 1, workerId: "w", deps: [] };
    // what @opentelemetry/api gives without an SDK: spans that are not recorded
    const off = tracingHooks({ tracer: new ProxyTracerProvider().getTracer("off") });
    let inside: string | undefined = "unset";
    await off.wrapHandler!(info, async () => {
      inside = off.attemptSpan?.(info);
    });
    expect(inside).toBeUndefined();
    // with the SDK's tracer the same hooks answer the attempt span's own id
    const on = tracingHooks();
    let traced: string | undefined;
    let active: string | undefined;
    await on.wrapHandler!(info, async () => {
      traced = on.attemptSpan?.(info);
      active = trace.getActiveSpan()?.spanContext().spanId;
    });
    expect(traced).toMatch(/^[0-9a-f]{16}$/);
    expect(traced).toBe(active);
    expect(traced).not.toBe(nodeSpanId("r", 0));
  });
});

describe("beat metrics", () => {
  it("times each fired tick's lag after its tick, by schedule, from a real beat's onFire", async () => {
    const store = new MemoryStore();
    const m = beatMetrics();
    const t0 = Date.now();
    await upsertSchedule(
      store,
      { id: "often", everyMs: 50, target: { task: "one", input: 1 }, overlap: "allow" },
      t0,
    );
    const fired: number[] = [];
    const beat = startBeat({
      store,
      pollMs: 20,
      logger: pino({ level: "silent" }),
      onFire: (f) => {
        m.onFire(f);
        fired.push(f.firedAt - f.tick);
      },
    });
    try {
      // the real condition: two ticks fired
      while (fired.length < 2) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await beat.stop();
    }
    const text = (await m.scrape()).body;
    expect(text).toContain(`weft_schedule_fires_total{schedule="often"} ${fired.length}`);
    expect(text).toContain(`weft_schedule_lag_seconds_count{schedule="often"} ${fired.length}`);
    const sum = Number(/weft_schedule_lag_seconds_sum\{schedule="often"\} (\S+)/.exec(text)?.[1]);
    expect(sum).toBeCloseTo(fired.reduce((a, b) => a + b, 0) / 1000, 6);
  });
});
