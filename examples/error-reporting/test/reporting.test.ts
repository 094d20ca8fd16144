/**
 * Failures go to a local error collector over HTTP, as a Sentry integration
 * sends them: one event per node failed for good, tagged with the task, run,
 * node, attempt and worker, with the input and the retried attempts as
 * breadcrumbs; a success sends nothing; a collector that is down fails no
 * attempt.
 */
import { createClient, RunFailed, startWorker, type WorkerHooks } from "@weft/core";
import { deferred } from "@weft/core/store";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type Collector, startCollector } from "../src/collector.ts";
import { errorReportingHooks } from "../src/reporter.ts";
import { charge, handlers } from "../src/tasks.ts";

let collector: Collector | undefined;
afterEach(async () => {
  await collector?.close();
  collector = undefined;
});

const withWorker = async <T>(
  hooks: WorkerHooks,
  fn: (client: ReturnType<typeof createClient>) => Promise<T>,
  onLog: (line: string) => void = () => undefined,
): Promise<T> => {
  const store = new MemoryStore();
  const worker = startWorker({
    store,
    handlers,
    hooks,
    workerId: "billing-1",
    idleMs: 20,
    logger: pino({ level: "warn" }, { write: onLog }),
  });
  try {
    return await fn(createClient(store));
  } finally {
    await worker.stop();
    await store.close();
  }
};

describe("error reporting through worker hooks", () => {
  it("sends a node that failed for good to the collector, with tags, input and its retries as breadcrumbs", async () => {
    collector = await startCollector();
    const c = collector;
    await withWorker(errorReportingHooks({ url: c.url, environment: "test" }), async (client) => {
      const ok = await client.submit(charge.si({ order: "o-1", card: "4242" }));
      expect(await ok.result({ timeout: 20_000 })).toBe("charged o-1");
      const run = await client.submit(charge.si({ order: "o-2", card: "flaky" }));
      await expect(run.result({ timeout: 20_000 })).rejects.toBeInstanceOf(RunFailed);
      const event = await c.waitFor(1);
      expect(event).toMatchObject({
        level: "error",
        platform: "node",
        environment: "test",
        exception: { values: [{ type: "NonRetryableError", value: "card declined for o-2" }] },
        tags: {
          task: "billing.charge",
          run_id: run.runId,
          node_id: "0",
          attempt: "3",
          worker: "billing-1",
        },
        extra: { input: { order: "o-2", card: "flaky" } },
      });
      expect(event.event_id).toMatch(/^[0-9a-f]{32}$/);
      expect(event.breadcrumbs.map((b) => b.message)).toEqual([
        "attempt 1 failed (Error: gateway timeout (try 1)); retrying",
        "attempt 2 failed (Error: gateway timeout (try 2)); retrying",
      ]);
      // the success sent nothing
      expect(c.events).toHaveLength(1);
    });
  });

  it("a collector that is down fails no attempt: the worker logs the hook's failure and goes on", async () => {
    collector = await startCollector();
    const url = collector.url;
    await collector.close();
    collector = undefined;
    const hookFailed = deferred<string>();
    await withWorker(
      errorReportingHooks({ url }),
      async (client) => {
        const run = await client.submit(charge.si({ order: "o-3", card: "0000" }));
        const err = (await run.result({ timeout: 20_000 }).catch((e: unknown) => e)) as RunFailed;
        expect(err.error?.message).toBe("card declined for o-3");
        const ok = await client.submit(charge.si({ order: "o-4", card: "4242" }));
        expect(await ok.result({ timeout: 20_000 })).toBe("charged o-4");
        // the hook's POST fails after the node's failure was recorded: the worker logs it
        const line = JSON.parse(await hookFailed.promise) as { hook: string; runId: string };
        expect(line).toMatchObject({ hook: "onNodeFailed", runId: run.runId });
      },
      (l) => {
        if (l.includes("worker hook onNodeFailed failed; ignored")) hookFailed.resolve(l);
      },
    );
  });

  it("the collector refuses a body that is not an event, naming what is missing", async () => {
    collector = await startCollector();
    const res = await fetch(collector.url, { method: "POST", body: JSON.stringify({ hello: 1 }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "an event needs event_id and exception.values" });
    expect(collector.events).toEqual([]);
  });
});
