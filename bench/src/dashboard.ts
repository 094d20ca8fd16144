/**
 * What opening a 10,000-node run in the dashboard costs: the Redis commands
 * (`INFO commandstats` delta) and the time of `GET /api/runs/:id`, which
 * the run page calls once (live updates then come from the event stream).
 * Starts a private redis-server. Run: npm run bench:dashboard -w @weft/bench
 * (`DASH_NODES` sets the run's size, default 10 000; `DASH_REPEAT` the
 * number of reads, default 7). With /usr/bin/chromium, also the time until
 * the run page has drawn every node.
 */
import { existsSync } from "node:fs";
import { createClient, group, Schema, task } from "@weft/core";
import { startDashboard } from "@weft/dashboard";
import { RedisStore } from "@weft/redis";
import { startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";

const NODES = Number(process.env.DASH_NODES ?? 10_000);
const REPEAT = Number(process.env.DASH_REPEAT ?? 7);
const CHROMIUM = "/usr/bin/chromium";

const commandStats = async (redis: Redis): Promise<Map<string, number>> => {
  const text = await redis.info("commandstats");
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
};

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const server = await startRedisServer();
const store = await RedisStore.connect(server.url, { prefix: "dash" });
const admin = new Redis(server.url);
try {
  const run = await createClient(store).submit(
    group(...Array.from({ length: NODES }, (_, i) => inc.si(i))),
  );
  const dashboard = await startDashboard({ store, port: 0 });
  const url = new URL(`/api/runs/${run.runId}`, dashboard.url);
  const rows: Array<{ ms: number; commands: number; bytes: number; by: string }> = [];
  for (let i = 0; i < REPEAT; i++) {
    const before = await commandStats(admin);
    const t0 = performance.now();
    const res = await fetch(url);
    const body = await res.text();
    const ms = performance.now() - t0;
    const after = await commandStats(admin);
    const nodes = (JSON.parse(body) as { nodes: unknown[] }).nodes.length;
    if (nodes !== NODES) throw new Error(`read ${nodes} nodes, expected ${NODES}`);
    const delta = [...after]
      .map(([cmd, calls]) => [cmd, calls - (before.get(cmd) ?? 0)] as const)
      .filter(([cmd, d]) => d > 0 && cmd !== "info");
    rows.push({
      ms,
      commands: delta.reduce((a, [, d]) => a + d, 0),
      bytes: body.length,
      by: delta.map(([c, d]) => `${c} ${d}`).join(", "),
    });
  }
  // the run page in a browser: until every node is drawn (dagre layout + SVG), when chromium is here
  let browserMs: number | undefined;
  if (existsSync(CHROMIUM)) {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const page = await browser.newPage();
      const t0 = performance.now();
      await page.goto(`${dashboard.url}#/run/${run.runId}`);
      await page.waitForSelector(`g.node[data-node-id="${NODES - 1}"]`, { timeout: 600_000 });
      browserMs = performance.now() - t0;
    } finally {
      await browser.close();
    }
  }
  await dashboard.close();
  const sorted = [...rows].sort((a, b) => a.ms - b.ms);
  console.log(`GET /api/runs/:id of a ${NODES}-node run, ${REPEAT} reads`);
  for (const r of rows)
    console.log(`  ${r.ms.toFixed(1)} ms  ${r.commands} commands (${r.by})  ${r.bytes} bytes`);
  console.log(
    `min ${sorted[0]!.ms.toFixed(1)} ms, median ${sorted[Math.floor(REPEAT / 2)]!.ms.toFixed(1)} ms`,
  );
  if (browserMs !== undefined)
    console.log(`run page in chromium, every node drawn: ${browserMs.toFixed(0)} ms`);
} finally {
  admin.disconnect();
  await store.close();
  await server.stop();
}
