/**
 * The worker's logger is a second line of defence behind the stores' own
 * sanitising: an error that still carries the command it answers (ioredis
 * attaches `command: { name, args }`, and a handshake's args hold the
 * password) is logged with the command's name only.
 */
import { createClient, handle, Schema, StoreUnavailable, startWorker, task } from "@weft/core";
import { deferred } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore, virtualClock } from "../src/index.ts";

const PASSWORD = "p@ss/w:rd#1%";

/** An unsanitised error as ioredis rejects a command with after a failed handshake. */
const ioredisError = () => {
  const hello = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
    command: { name: "hello", args: ["3", "AUTH", "default", PASSWORD] },
  });
  const previous = Object.assign(new Error("ERR earlier"), {
    command: { name: "auth", args: ["default", PASSWORD] },
  });
  return Object.assign(new Error("Reached the max retries per request limit"), {
    command: { name: "evalsha", args: ["sha", 1, "key", PASSWORD] },
    previousErrors: [previous],
    lastNodeError: hello,
    cause: hello,
  });
};

describe("the worker's log", () => {
  it.each([
    ["a plain pino logger", (write: (s: string) => void) => pino({}, { write })],
    [
      "a logger with its own err serializer",
      (write: (s: string) => void) =>
        pino(
          { serializers: { err: (e: Error) => ({ ...pino.stdSerializers.err(e), custom: true }) } },
          { write },
        ),
    ],
  ])("logs errors without command arguments, with %s", async (_, make) => {
    let log = "";
    const claimFailed = deferred();
    const logger = make((s) => {
      log += s;
      if (s.includes("claim failed")) claimFailed.resolve();
    });
    const store = new MemoryStore();
    store.claim = () => Promise.reject(ioredisError());
    const worker = startWorker({ store, handlers: [], logger, idleMs: 10 });
    await claimFailed.promise;
    await worker.stop();

    const line = log.split("\n").find((l) => l.includes("claim failed"))!;
    expect(log).not.toContain("w:rd#1");
    const err = JSON.parse(line).err;
    expect(err.command).toEqual({ name: "evalsha" });
    expect(err.lastNodeError.command).toEqual({ name: "hello" });
    expect(err.previousErrors[0].command).toEqual({ name: "auth" });
    expect(err.message).toContain("Reached the max retries per request limit");
    if (_ === "a logger with its own err serializer") expect(err.custom).toBe(true);
  });
});

/** A pino logger that keeps every line, parsed. */
const capture = () => {
  const lines: Array<Record<string, unknown> & { level: number; msg: string }> = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  );
  return { lines, logger };
};

/**
 * Makes `store`'s calls fail with StoreUnavailable while `down` is set, as
 * every call does while Redis is down; counts the failed calls by method.
 */
const breakable = (store: MemoryStore) => {
  const state = { down: false, failed: new Map<string, number>() };
  const methods = ["claim", "heartbeat", "maintain", "registerWorker", "waitForWork"] as const;
  for (const method of methods) {
    const real = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store);
    (store as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
      if (!state.down) return real(...a);
      state.failed.set(method, (state.failed.get(method) ?? 0) + 1);
      return Promise.reject(unavailable());
    };
  }
  return state;
};

const unavailable = () =>
  new StoreUnavailable({
    url: "redis://127.0.0.1:6390",
    reason: "connection refused (ECONNREFUSED 127.0.0.1:6390)",
  });

describe("the worker's log while the store is down", () => {
  it("logs the first failure, then at most one line per backoff step with the count, then one line when the store is back", async () => {
    const clock = await virtualClock(0);
    const store = new MemoryStore({ clock });
    const redis = breakable(store);
    redis.down = true;
    const { lines, logger } = capture();
    const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
    const worker = startWorker({
      store,
      logger,
      clock,
      leaseMs: 4_000, // maintenance every second, heartbeats every 1.3 s
      handlers: [handle(inc, (n) => n + 1)],
    });
    await clock.advance(10 * 60_000); // ten minutes down

    const outage = lines.filter((l) => l.msg !== "worker started");
    const first = outage[0]!;
    expect(first).toMatchObject({ level: 50, op: "worker registration" });
    expect(first.msg).toMatch(/^worker registration failed: the store is unavailable; retrying/);
    expect((first.err as { message: string }).message).toMatch(/^cannot reach the store at /);
    const reminders = outage.slice(1);
    expect(
      reminders.every(
        (l) => l.level === 40 && /^the store is still unavailable after /.test(l.msg),
      ),
    ).toBe(true);
    // hundreds of failed calls (a maintenance tick a second, claims, registrations), few lines
    const counts = reminders.map((l) => l.failures as number);
    expect(counts.at(-1)).toBeGreaterThan(600);
    expect(reminders.length).toBeLessThanOrEqual(16);
    // one line per backoff step: the gaps double from 1 s up to a minute
    const at = reminders.map((l) => l.downMs as number);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(Math.min(2 ** (i + 1) * 1_000, 60_000));
      expect(g).toBeLessThanOrEqual(60_000 + 5_000);
    });
    expect(counts).toEqual([...counts].sort((a, b) => a - b));

    redis.down = false;
    const before = lines.length;
    await clock.advance(10_000);
    const after = lines.slice(before);
    const back = after.filter((l) => /^store reachable again after /.test(l.msg));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ level: 40 });
    expect(back[0]!.failures).toBeGreaterThan(counts.at(-1)!);
    expect(after.filter((l) => l.level >= 40)).toEqual(back);

    // and it works again
    const run = await createClient(store).submit(inc.si(1));
    await clock.advance(5_000);
    expect((await store.getRun(run.runId))!.run.status).toBe("succeeded");
    const stopped = worker.stop();
    await clock.advance(1_000);
    await stopped;
  });

  it("keeps running handlers running while heartbeats fail; their results are recorded when the store is back", async () => {
    const clock = await virtualClock(0);
    const store = new MemoryStore({ clock });
    const redis = breakable(store);
    const { lines, logger } = capture();
    const hold = task({ name: "hold", input: Schema.Int, output: Schema.Int });
    const released = deferred();
    let signal: AbortSignal | undefined;
    const worker = startWorker({
      store,
      logger,
      clock,
      leaseMs: 30_000,
      handlers: [
        handle(hold, async (n, ctx) => {
          signal = ctx.signal;
          await released.promise;
          return n * 2;
        }),
      ],
    });
    const run = await createClient(store).submit(hold.si(21));
    await clock.advance(100);
    expect(signal).toBeDefined();
    redis.down = true;
    await clock.advance(25_000); // heartbeats every 10 s fail, within the 30 s lease
    expect(redis.failed.get("heartbeat")).toBeGreaterThanOrEqual(2);
    expect(signal!.aborted).toBe(false);
    redis.down = false;
    released.resolve();
    await clock.advance(1_000);
    const snap = (await store.getRun(run.runId))!;
    expect(snap.run.status).toBe("succeeded");
    expect(snap.nodes[0]).toMatchObject({ attempts: 1, stalls: 0 });
    // one error line for the outage, whatever failed first, and one when it ended
    expect(lines.filter((l) => l.level >= 50)).toMatchObject([
      { msg: expect.stringMatching(/ failed: the store is unavailable; retrying with backoff/) },
    ]);
    expect(lines.filter((l) => /^store reachable again/.test(l.msg))).toHaveLength(1);
    expect(lines.some((l) => /lease lost/i.test(l.msg))).toBe(false);
    const stopped = worker.stop();
    await clock.advance(1_000);
    await stopped;
  });

  it("sends a completion or a failure report again while the store is unavailable, so the node is not re-delivered after its lease", async () => {
    const clock = await virtualClock(0);
    const store = new MemoryStore({ clock });
    // the first three report calls fail, as while Redis is down
    let failing = 3;
    const failed: string[] = [];
    for (const method of ["complete", "completeMany", "fail"] as const) {
      const real = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store);
      (store as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
        if (failing <= 0) return real(...a);
        failing -= 1;
        failed.push(method);
        return Promise.reject(unavailable());
      };
    }
    const { lines, logger } = capture();
    const ok = task({ name: "ok", input: Schema.Int, output: Schema.Int });
    const bad = task({
      name: "bad",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 1 },
    });
    const worker = startWorker({
      store,
      logger,
      clock,
      leaseMs: 60_000,
      concurrency: 1,
      handlers: [
        handle(ok, (n) => n + 1),
        handle(bad, () => {
          throw new Error("no");
        }),
      ],
    });
    const client = createClient(store);
    const good = await client.submit(ok.si(1));
    await clock.advance(2_000); // backoff 100, 200, 400 ms
    expect(failed).toHaveLength(3);
    const failing2 = await client.submit(bad.si(1));
    failing = 2;
    await clock.advance(2_000);
    expect(failed.filter((m) => m === "fail")).toHaveLength(2);
    expect((await store.getRun(good.runId))!.nodes[0]).toMatchObject({
      state: "succeeded",
      attempts: 1,
      stalls: 0,
    });
    expect((await store.getRun(failing2.runId))!.nodes[0]).toMatchObject({
      state: "failed",
      attempts: 1,
      stalls: 0,
    });
    expect(lines.some((l) => /could not record the outcome/.test(l.msg))).toBe(false);
    const stopped = worker.stop();
    await clock.advance(1_000);
    await stopped;
  });
});

describe("the worker's log when a report is refused for another reason", () => {
  it("sends a completion that fails with another error once, logs it, and the node is re-delivered after its lease", async () => {
    const clock = await virtualClock(0);
    const store = new MemoryStore({ clock });
    // the first report call fails with an error that is not StoreUnavailable
    const calls: string[] = [];
    let refuse = true;
    for (const method of ["complete", "completeMany"] as const) {
      const real = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store);
      (store as unknown as Record<string, unknown>)[method] = (...a: unknown[]) => {
        calls.push(method);
        if (!refuse) return real(...a);
        refuse = false;
        return Promise.reject(new Error("refused"));
      };
    }
    const { lines, logger } = capture();
    const ok = task({ name: "ok", input: Schema.Int, output: Schema.Int });
    const worker = startWorker({
      store,
      logger,
      clock,
      leaseMs: 5_000,
      concurrency: 1,
      handlers: [handle(ok, (n) => n + 1)],
    });
    const run = await createClient(store).submit(ok.si(1));
    await clock.advance(1_000);
    // not sent again: only StoreUnavailable is
    expect(calls).toHaveLength(1);
    expect(lines.filter((l) => /could not record the outcome/.test(l.msg))).toHaveLength(1);
    expect((await store.getRun(run.runId))!.nodes[0]).toMatchObject({ state: "running" });
    // the lease expires, the node is run again and its completion recorded
    await clock.advance(15_000);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect((await store.getRun(run.runId))!.nodes[0]).toMatchObject({
      state: "succeeded",
      attempts: 2,
      stalls: 1,
    });
    const stopped = worker.stop();
    await clock.advance(1_000);
    await stopped;
  });
});

describe("the worker's log when a run is cancelled under a running handler", () => {
  it.each([
    // signals off: the handler finishes and its completion is the first to hear of the cancel
    ["its completion is refused", false, "completion not recorded: the run was cancelled"],
    // the cancel is signalled: the handler is aborted and its attempt reported
    ["the cancel is signalled", true, "attempt stopped: run cancelled"],
  ] as const)(
    "says the run was cancelled when %s, at info, never a lost lease",
    async (_, signalled, msg) => {
      const store = new MemoryStore();
      const { lines, logger } = capture();
      const job = task({ name: "job", input: Schema.Int, output: Schema.Int });
      if (!signalled) store.subscribe = async () => async () => undefined;
      const running = deferred();
      const proceed = deferred();
      const reported = deferred();
      for (const report of ["complete", "fail"] as const) {
        const real = store[report].bind(store) as (...a: unknown[]) => Promise<unknown>;
        (store as unknown as Record<string, unknown>)[report] = async (...a: unknown[]) => {
          const r = await real(...a);
          reported.resolve();
          return r;
        };
      }
      const worker = startWorker({
        store,
        logger,
        idleMs: 10,
        handlers: [
          handle(job, async (n) => {
            running.resolve();
            await proceed.promise;
            return n;
          }),
        ],
      });
      const run = await createClient(store).submit(job.si(1));
      await running.promise;
      expect(await store.cancel(run.runId, { now: Date.now() })).toBe(true);
      proceed.resolve();
      await reported.promise;
      await worker.stop();
      expect(lines.find((l) => /cancel/.test(l.msg))).toMatchObject({ level: 30, msg });
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      expect(lines.some((l) => /lease/.test(l.msg))).toBe(false);
      expect((await store.getRun(run.runId))!.nodes[0]!.state).toBe("cancelled");
    },
  );
});
