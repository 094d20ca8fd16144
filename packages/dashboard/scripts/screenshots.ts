/**
 * Takes the dashboard screenshots shown in the README (docs/img/): a run
 * page with a chord mid-flight and the runs page. Starts its own
 * redis-server, a worker and the dashboard, drives Debian's chromium.
 * Run: npm run screenshots -w @weft/dashboard
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chain, chord, createClient, handle, Schema, startWorker, task } from "@weft/core";
import { deferred } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { startRedisServer } from "@weft/testing";
import { pino } from "pino";
import { chromium } from "playwright-core";
import { startDashboard } from "../src/index.ts";

const out = fileURLToPath(new URL("../../../docs/img/", import.meta.url));
mkdirSync(out, { recursive: true });

const fetchPage = task({ name: "crawl.fetch", input: Schema.Int, output: Schema.Int });
const parse = task({
  name: "crawl.parse",
  input: Schema.Int,
  output: Schema.Int,
  retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 0 } },
});
const index = task({ name: "crawl.index", input: Schema.Array(Schema.Int), output: Schema.Int });
const report = task({ name: "crawl.report", input: Schema.Int, output: Schema.String });

const server = await startRedisServer();
const store = await RedisStore.connect(server.url, { prefix: "shots" });
const hold = deferred();
const tries = new Map<number, number>();
const worker = startWorker({
  store,
  logger: pino({ level: "silent" }),
  concurrency: 8,
  handlers: [
    handle(fetchPage, async (n, ctx) => {
      await ctx.progress({ current: 1, total: 2 });
      if (n >= 6) await hold.promise;
      return n * 10;
    }),
    handle(parse, async (n) => {
      const t = (tries.get(n) ?? 0) + 1;
      tries.set(n, t);
      if (n === 20 && t === 1) throw new Error("upstream returned 503");
      return n + 1;
    }),
    handle(index, async (xs) => xs.reduce((a, b) => a + b, 0)),
    handle(report, async (n) => `indexed ${n}`),
  ],
});
const client = createClient(store);
for (let i = 0; i < 4; i++)
  await (await client.submit(report.si(i), { tags: ["nightly"] })).result();
const run = await client.submit(
  chain(
    chord(
      Array.from({ length: 8 }, (_, i) => chain(fetchPage.si(i), parse.s())),
      index.s(),
    ),
    report.s(),
  ),
  { tags: ["crawl"] },
);
const dashboard = await startDashboard({ store, port: 0 });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
  await page.goto(`${dashboard.url}#/run/${run.runId}`);
  await page.waitForSelector('g.node[data-node-id="2"][data-state="succeeded"]');
  await page.waitForSelector('g.node[data-state="running"]');
  await page.click('g.node[data-node-id="5"]');
  await page.waitForSelector("#panel tr.attempt >> nth=1");
  await page.screenshot({ path: `${out}dashboard-run.png` });
  hold.resolve();
  await run.result();
  await page.goto(`${dashboard.url}#/runs`);
  await page.waitForSelector(`tr[data-run-id="${run.runId}"] .s-succeeded`);
  await page.screenshot({ path: `${out}dashboard-runs.png` });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await dashboard.close();
  await worker.stop();
  await store.close();
  await server.stop();
}
