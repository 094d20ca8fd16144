/**
 * A short Redis outage while handlers run: a heartbeat that cannot reach
 * Redis raises `StoreUnavailable` (it never answers "lost" for a lease it
 * could not check), the worker keeps its handlers running, and their results
 * are recorded once Redis is back, the lease having never expired.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createClient,
  handle,
  Schema,
  type Settled,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import { type Claim, compile, deferred, type LeaseState } from "@weft/core/store";
import { startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CONNECTION_SETTINGS, RedisStore } from "../src/index.ts";

const slow = task({ name: "slow", input: Schema.Int, output: Schema.Int });
const base = { tags: [], idempotencyWindowMs: 0, retentionMs: 60_000 } as const;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const server = async (args: ReadonlyArray<string> = [], port?: number) => {
  const s = await startRedisServer(args, port === undefined ? {} : { port });
  cleanups.push(() => s.stop());
  return s;
};

/** Settles with what `p` did: `{ ok: true, value }` or `{ ok: false, error }`. */
const settled = <T>(p: Promise<T>): Promise<Settled<T, unknown>> =>
  p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );

describe("a heartbeat while Redis does not answer", () => {
  it("raises StoreUnavailable while Redis is paused (never `lost`), and answers `held` once it is back", async () => {
    const s = await server();
    // Weft's settings with a short command timeout: a paused Redis times the heartbeat out
    const redis = new Redis({
      host: "127.0.0.1",
      port: s.port,
      ...CONNECTION_SETTINGS,
      commandTimeout: 300,
    });
    const admin = new Redis(s.url);
    cleanups.push(async () => {
      redis.disconnect();
      admin.disconnect();
    });
    const store = await RedisStore.connect(redis, { prefix: "paused" });
    await store.submit({ ...base, runId: "r", dag: compile(slow.si(1)), now: Date.now() });
    const claims: ReadonlyArray<Claim> = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 1,
      leaseMs: 60_000,
      now: Date.now(),
    });
    expect(claims).toHaveLength(1);

    await admin.call("CLIENT", "PAUSE", "2000", "ALL");
    const during = await settled(store.heartbeat(claims, { now: Date.now(), leaseMs: 60_000 }));
    expect(during.ok).toBe(false);
    expect(!during.ok && during.error).toBeInstanceOf(StoreUnavailable);
    expect((!during.ok && (during.error as StoreUnavailable).failure) || "").toBe("unreachable");

    await admin.ping(); // answered when the pause ends
    const after: ReadonlyArray<LeaseState> = await store.heartbeat(claims, {
      now: Date.now(),
      leaseMs: 60_000,
    });
    expect(after).toEqual(["held"]);
  });

  it("raises StoreUnavailable while Redis is stopped", async () => {
    const s = await server();
    const store = await RedisStore.connect(s.url, { prefix: "stopped" });
    cleanups.push(() => store.close());
    await store.submit({ ...base, runId: "r", dag: compile(slow.si(1)), now: Date.now() });
    const claims = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 1,
      leaseMs: 60_000,
      now: Date.now(),
    });
    await s.stop();
    const during = await settled(store.heartbeat(claims, { now: Date.now(), leaseMs: 60_000 }));
    expect(during.ok).toBe(false);
    expect(!during.ok && during.error).toBeInstanceOf(StoreUnavailable);
  });
});

describe("a worker through a Redis restart", () => {
  it("keeps its handler running while Redis is stopped and restarted on the same port; the result is recorded, attempt 1", async () => {
    // persistence on, in a directory of our own, so that the restarted server has the run back
    const dir = mkdtempSync(join(tmpdir(), "weft-outage-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const persist = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
    const first = await server(persist);
    const store = await RedisStore.connect(first.url, { prefix: "restart" });
    cleanups.push(() => store.close());

    // every heartbeat started while Redis is down settles `heartbeatDuringOutage` (before the
    // fix: ["lost"]); the first one started once it is back settles `heartbeatAfterOutage`
    let phase: "up" | "down" | "back" = "up";
    const heartbeatDuringOutage = deferred<Settled<ReadonlyArray<LeaseState>, unknown>>();
    const heartbeatAfterOutage = deferred<Settled<ReadonlyArray<LeaseState>, unknown>>();
    const heartbeat = store.heartbeat.bind(store);
    store.heartbeat = (claims, opts) => {
      const p = heartbeat(claims, opts);
      if (phase === "down") void settled(p).then(heartbeatDuringOutage.resolve);
      if (phase === "back") void settled(p).then(heartbeatAfterOutage.resolve);
      return p;
    };

    let log = "";
    const logger = pino(
      { level: "info" },
      {
        write: (line: string) => {
          log += line;
        },
      },
    );
    const running = deferred<AbortSignal>();
    const released = deferred();
    const worker = startWorker({
      store,
      logger,
      leaseMs: 60_000,
      heartbeatMs: 50,
      idleMs: 100,
      handlers: [
        handle(slow, async (n, ctx) => {
          running.resolve(ctx.signal);
          await released.promise;
          return n + 1;
        }),
      ],
    });
    cleanups.push(() => worker.stop(1_000));
    const run = await createClient(store).submit(slow.si(41));
    const signal = await running.promise;

    await first.stop(); // SIGTERM: the append-only file is flushed
    phase = "down";
    const hb = await heartbeatDuringOutage.promise;
    expect(hb.ok).toBe(false);
    expect(!hb.ok && hb.error).toBeInstanceOf(StoreUnavailable);
    expect(signal.aborted).toBe(false);

    const back = once(store.redis, "ready");
    await server(persist, first.port);
    await back;
    phase = "back";
    expect(await heartbeatAfterOutage.promise).toEqual({ ok: true, value: ["held"] });
    released.resolve();
    expect(await run.result({ timeout: 20_000 })).toBe(42);
    expect(signal.aborted).toBe(false);
    const node = (await store.getRun(run.runId))!.nodes[0]!;
    expect([node.state, node.attempts, node.stalls, node.history]).toEqual(["succeeded", 1, 0, []]);
    expect(log).not.toMatch(/lease lost|LeaseLost/);
    // the outage in the worker's log: one error line, reminders at most, one line when it ended
    const lines = log
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 50)).toMatchObject([
      { msg: expect.stringMatching(/ failed: the store is unavailable; retrying with backoff/) },
    ]);
    expect(lines.filter((l) => /^store reachable again after /.test(l.msg))).toHaveLength(1);
  });
});
