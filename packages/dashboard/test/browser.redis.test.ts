/**
 * The dashboard in a real browser (Debian's chromium, driven by
 * playwright-core) over a real Redis: a live run's nodes turn to succeeded
 * from the event stream, a node's attempt history opens, a run is cancelled
 * from its page.
 */
import { chain, createClient, group, handle, Schema, startWorker, task } from "@weft/core";
import { deferred } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningDashboard, startDashboard } from "../src/index.ts";

const CHROMIUM = "/usr/bin/chromium";

const step = task({ name: "step", input: Schema.Int, output: Schema.Int });
const flaky = task({
  name: "flaky",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 0 } },
});
const stuck = task({ name: "stuck", input: Schema.Int, output: Schema.Int });

let server: RedisServer;
let store: RedisStore;
let dashboard: RunningDashboard;
let browser: Browser;
let page: Page;
const gate = deferred();
/** Attempts of each flaky node so far, by node id. */
const flakyCalls = new Map<number, number>();

beforeAll(async () => {
  server = await startRedisServer();
  store = await RedisStore.connect(server.url, { prefix: "dash" });
  dashboard = await startDashboard({ store, port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  page = await browser.newPage();
});
afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await store?.close();
  await server?.stop();
});

describe("the dashboard in a browser", () => {
  it("draws a live run whose nodes turn to succeeded, and opens a node's attempt history", async () => {
    const client = createClient(store);
    const worker = startWorker({
      store,
      logger: pino({ level: "silent" }),
      concurrency: 4,
      handlers: [
        handle(step, async (n) => {
          await gate.promise;
          return n + 1;
        }),
        // each flaky node's first attempt fails (by node: both get the same input, and which
        // starts first is not fixed)
        handle(flaky, async (n, ctx) => {
          const calls = (flakyCalls.get(ctx.nodeId) ?? 0) + 1;
          flakyCalls.set(ctx.nodeId, calls);
          if (calls === 1) throw new Error("first attempt fails");
          return n * 2;
        }),
      ],
    });
    try {
      const run = await client.submit(
        chain(step.si(1), group(flaky.s(), flaky.s(), step.s())).onSuccess(step.si(9)),
      );
      await page.goto(`${dashboard.url}#/run/${run.runId}`);
      // drawn from the snapshot before the worker may go on
      await page.waitForSelector('g.node[data-node-id="0"]');
      expect(await page.locator("g.node").count()).toBe(5);
      // a callback's node is drawn apart (data-callback: a dashed border)
      expect(await page.locator("g.node[data-callback]").count()).toBe(1);
      expect(await page.locator('g.node[data-node-id="4"]').getAttribute("data-callback")).toBe(
        "success",
      );
      gate.resolve();
      for (const id of [0, 1, 2, 3, 4])
        await page.waitForSelector(`g.node[data-node-id="${id}"][data-state="succeeded"]`);
      await run.result({ timeout: 10_000 });

      await page.click('g.node[data-node-id="1"]');
      await page.waitForSelector("#panel tr.attempt >> nth=1");
      const rows = await page.locator("#panel tr.attempt").allTextContents();
      expect(rows).toHaveLength(2);
      expect(rows[0]).toContain("failed");
      expect(rows[0]).toContain("first attempt fails");
      expect(rows[1]).toContain("succeeded");
      // flaky(step(1)) = (1 + 1) * 2
      expect(await page.locator("#panel pre").first().textContent()).toBe("4");
    } finally {
      await worker.stop();
    }
  });

  it("lists runs and cancels a run from its page", async () => {
    const client = createClient(store);
    const run = await client.submit(stuck.si(7), { tags: ["browser"] });
    await page.goto(`${dashboard.url}#/runs?tag=browser`);
    await page.waitForSelector(`tr[data-run-id="${run.runId}"]`);
    await page.click(`tr[data-run-id="${run.runId}"] a`);
    await page.waitForSelector('g.node[data-node-id="0"][data-state="queued"]');
    page.once("dialog", (d) => void d.accept());
    await page.click("#cancel");
    await page.waitForSelector("#run-status .s-cancelled");
    await page.waitForSelector('g.node[data-node-id="0"][data-state="cancelled"]');
    expect((await store.getRun(run.runId))?.run.status).toBe("cancelled");
  });
});
