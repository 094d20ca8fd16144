/**
 * Faults of the pipe on a real Redis (docs/guarantees.md, "Faults of the
 * pipe lose nothing"): garbage planted in each kind of stored record, and
 * scripts re-sent after a reconnect, simulated by running the very same
 * script call twice and answering the caller with the second reply (the
 * first reply lost on the dead connection).
 */
import {
  chain,
  createClient,
  group,
  handle,
  RunFailed,
  type RunSnapshot,
  Schema,
  startWorker,
  task,
} from "@weft/core";
import { type Claim, compile, decode, encode, fingerprint } from "@weft/core/store";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { unpackReply } from "../src/Packed.ts";
import { nodeField } from "../src/Records.ts";
import { SCRIPTS, sendScript } from "../src/Scripts.ts";
import { putRecord, putSpec, specApart, storedRecord } from "./fixtures/layout.ts";
import { raw, server } from "./fixtures/server.ts";

const count = task({ name: "count", input: Schema.Int, output: Schema.Int });
const double = task({ name: "double", input: Schema.Int, output: Schema.Int });
const total = task({ name: "total", input: Schema.Array(Schema.Int), output: Schema.Int });
const handlers = [handle(count, (n) => n), handle(double, (n) => n * 2)];
const silent = pino({ level: "silent" });
let n = 0;
const runKey = (prefix: string, runId: string) => shardKeys(prefix, 0).run(runId).record;

type ScriptFn = (name: string, keys: string[], args: unknown[]) => Promise<unknown>;
const internals = (store: RedisStore) => store as unknown as { script: ScriptFn };

/**
 * Makes every call of the scripts in `names` run twice, as ioredis does when
 * it re-sends an unanswered command after a reconnect; the caller gets the
 * second reply. Returns the first replies, by script name.
 */
const resend = (store: RedisStore, names: ReadonlyArray<string>) => {
  const s = internals(store);
  const real = s.script.bind(store);
  const first = new Map<string, unknown[]>();
  s.script = async (name, keys, args) => {
    if (!names.includes(name)) return real(name, keys, args);
    const lost = await real(name, keys, args);
    first.set(name, [...(first.get(name) ?? []), lost]);
    return real(name, keys, args);
  };
  return first;
};

/** Claims as worker "w" up to 20 nodes of queue `default` at time 1. */
const claimAll = (store: RedisStore) =>
  store.claim({ workerId: "w", queues: ["default"], max: 20, leaseMs: 1_000, now: 1 });

/** Sends `start` for node 0 of `runId` (queue `default`) as worker "w" would, and decodes its reply. */
const startAgain = async (
  store: RedisStore,
  prefix: string,
  runId: string,
  token: number,
  now: number,
) => {
  const k = shardKeys(prefix, 0);
  const keys = { ...runScriptKeys(k, runId), leases: k.queue("default").leases };
  const args = { runId, node: 0, token, worker: "w", now, queue: "default", eventsMax: 10_000 };
  const start = SCRIPTS.start;
  return start.reply(
    await sendScript(store.redis, "start", start.keyList(keys), start.argList(args)),
  );
};

describe("a corrupt record fails only its own node and run", () => {
  // [what is planted, where (a field; spec:<i>, a spec before node i's record in n<i>;
  // apart:<i>, a spec in s<i> as kept before 2026-12-05), the field it names, the states after]
  const cases = [
    [
      "a node spec (in n0), read on the claim path",
      "spec:0",
      "n0",
      ["failed", "skipped", "skipped"],
    ],
    [
      "a node spec (in n1), read when a completion leases it",
      "spec:1",
      "n1",
      ["succeeded", "failed", "skipped"],
    ],
    [
      "a node spec kept apart (s0), read on the claim path",
      "apart:0",
      "s0",
      ["failed", "skipped", "skipped"],
    ],
    [
      "a node spec kept apart (s1), read when a completion leases it",
      "apart:1",
      "s1",
      ["succeeded", "failed", "skipped"],
    ],
    ["a node record (n0), read when it starts", "n0", "n0", ["failed", "skipped", "skipped"]],
    ["a node record (n1), read by the cascade", "n1", "n1", ["succeeded", "failed", "skipped"]],
    ["a dependency list (d1)", "d1", "d1", ["succeeded", "failed", "skipped"]],
    ["the run's queue list (queues)", "queues", "queues", ["failed", "skipped", "skipped"]],
  ] as const;

  it.each(cases)(
    "%s: ten healthy runs on the same queue and one worker all succeed; the corrupt run fails naming the key and field; getRun shows it",
    async (_what, field, named, states) => {
      const prefix = `corrupt${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const bad = await client.submit(chain(count.si(1), double.s(), double.s()));
      const garbage = Buffer.from([0xc1, 0x93, 0x00, 0x67]);
      const [where, node] = field.split(":");
      const key = runKey(prefix, bad.runId);
      if (where === "spec") await putSpec(raw, key, Number(node), garbage);
      else if (where === "apart") await specApart(raw, key, Number(node), garbage);
      else await raw.hset(key, field, garbage);
      const healthy = await Promise.all(
        Array.from({ length: 10 }, (_, i) => client.submit(chain(count.si(i), double.s()))),
      );
      const worker = startWorker({ store, handlers, logger: silent, concurrency: 4, idleMs: 100 });
      try {
        expect(await Promise.all(healthy.map((h) => h.result({ timeout: 20_000 })))).toEqual(
          Array.from({ length: 10 }, (_, i) => i * 2),
        );
        const err = (await bad
          .result({ timeout: 20_000, waitForQuiet: true })
          .catch((e: unknown) => e)) as RunFailed;
        expect(err).toBeInstanceOf(RunFailed);
        expect(err.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
        expect(err.error?.message).toContain(
          `corrupt record: key ${runKey(prefix, bad.runId)} field ${named}: `,
        );
        const snap = (await store.getRun(bad.runId))!;
        expect(snap.run.status).toBe("failed");
        expect(snap.nodes.map((x) => x.state)).toEqual(states);
        expect(snap.run.ended).toBe(3);
        expect(snap.run.finishedAt).toBeDefined();
        // its `rare` marker went when the corruption was noted (docs/redis-layout.md)
        expect(await raw.hexists(runKey(prefix, bad.runId), "rare")).toBe(0);
        // nothing of the corrupt run is left in its queue or holds a lease
        const q = shardKeys(prefix, 0).queue("default");
        expect(await raw.zrange(q.ready, "0", "-1")).toEqual([]);
        expect(await raw.zrangebyscore(q.leases, "-inf", "(+inf")).toEqual([]);
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );

  it("keeps the raw bytes of a replaced node record (x<n>) and writes a valid failed record", async () => {
    const prefix = `corrupt${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "kept",
      dag: compile(chain(count.si(1), double.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const garbage = Buffer.from("not a record");
    await raw.hset(runKey(prefix, runId), "n0", garbage);
    const shown = (await store.getRun(runId))!;
    expect(shown.nodes[0]).toMatchObject({ state: "failed", id: 0 });
    expect(shown.nodes[0]!.error?.message).toMatch(/ field n0: /);
    expect(
      await store.claim({ workerId: "a", queues: ["default"], max: 5, leaseMs: 1_000, now: 1 }),
    ).toEqual([]);
    expect(await raw.hgetBuffer(runKey(prefix, runId), "x0")).toEqual(garbage);
    const record = await storedRecord(raw, runKey(prefix, runId), 0);
    expect(record[0]).toBe("f");
    const snap = (await store.getRun(runId))!;
    expect(snap.run).toMatchObject({ status: "failed", failedNode: 0, ended: 2, finishedAt: 1 });
    expect(snap.nodes[1]!.error?.message).toBe(
      "a corrupt record (field n0) stopped the run before this node could start",
    );
    await store.close();
  });

  it.each([
    ["an attempt count that is a numeric string", 1, "1", "field 2 is not a number"],
    ["a priority that is nil", 10, null, "field 11 is not a number"],
    ["a worker that is a number", 6, 7, "worker or task is not a string"],
    ["a task that is a list", 13, ["count"], "worker or task is not a string"],
    ["a token that is a string", 14, "x", "token is not a number"],
    ["dependents that are a number", 12, 1, "dependents are not a list"],
  ] as const)(
    "fails a node whose record decodes but holds %s, naming what is wrong",
    async (_what, at, value, why) => {
      const prefix = `corrupt${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const { runId } = await store.submit({
        runId: "typed",
        dag: compile(chain(count.si(1), double.s())),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 0,
      });
      const key = runKey(prefix, runId);
      const record = await storedRecord(raw, key, 0);
      record[at] = value;
      await putRecord(raw, key, 0, encode(record));
      expect(
        await store.claim({ workerId: "a", queues: ["default"], max: 5, leaseMs: 1_000, now: 1 }),
      ).toEqual([]);
      const snap = (await store.getRun(runId))!;
      expect(snap.run.status).toBe("failed");
      expect(snap.nodes[0]!.state).toBe("failed");
      expect(snap.nodes[0]!.error?.message).toBe(`corrupt record: key ${key} field n0: ${why}`);
      await store.close();
    },
  );

  it("fails a node whose record, not a succeeded one, has bytes after it (only a result may follow a record)", async () => {
    const prefix = `corrupt${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "tail",
      dag: compile(chain(count.si(1), double.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const key = runKey(prefix, runId);
    const queued = (await raw.hgetBuffer(key, "n0"))!;
    await putRecord(raw, key, 0, Buffer.concat([nodeField(queued).record, Buffer.from(encode(5))]));
    const shown = (await store.getRun(runId))!;
    expect(shown.nodes[0]!.error?.message).toBe(
      `corrupt record: key ${key} field n0: trailing bytes after the record`,
    );
    expect(
      await store.claim({ workerId: "a", queues: ["default"], max: 5, leaseMs: 1_000, now: 1 }),
    ).toEqual([]);
    const snap = (await store.getRun(runId))!;
    expect(snap.run.status).toBe("failed");
    expect(snap.nodes[0]!.error?.message).toBe(
      `corrupt record: key ${key} field n0: trailing bytes after the record`,
    );
    await store.close();
  });

  it("sweeps a large run in bounded steps: every node not started ends skipped and leaves its queue", async () => {
    const prefix = `corrupt${++n}`;
    const store = await RedisStore.connect(server.url, { prefix, budget: 4, submitChunk: 8 });
    const wide = group(...Array.from({ length: 30 }, (_, i) => count.si(i)));
    const { runId } = await store.submit({
      runId: "wide",
      dag: compile(chain(wide, total.s().with({ queue: "late" }))),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    await raw.hset(runKey(prefix, runId), "n3", Buffer.from("garbage"));
    // the claim pops five members: node 3's record is corrupt, the four others start
    const claims = await store.claim({
      workerId: "w",
      queues: ["default"],
      max: 5,
      leaseMs: 10_000,
      now: 1,
    });
    expect(claims.map((c) => c.nodeId)).toEqual([0, 1, 2, 4]);
    const snap = (await store.getRun(runId))!;
    expect(snap.run).toMatchObject({ status: "failed", failedNode: 3 });
    expect(snap.nodes.filter((x) => x.state === "running").map((x) => x.id)).toEqual([0, 1, 2, 4]);
    expect(snap.nodes.filter((x) => x.state === "skipped")).toHaveLength(26);
    const q = shardKeys(prefix, 0).queue("default");
    expect(await raw.zcard(q.ready)).toBe(0);
    expect(await raw.llen(shardKeys(prefix, 0).run(runId).work)).toBe(0);
    // the running members finish normally; then the run ends
    for (const c of claims) {
      const r = await store.complete(c, encode(c.nodeId), {
        now: 2,
        workerId: "w",
        queues: ["default"],
        nextMax: 1,
        leaseMs: 10_000,
      });
      expect(r).toEqual({ ok: true, next: [] });
    }
    const done = (await store.getRun(runId))!;
    expect(done.run).toMatchObject({ status: "failed", ended: 31, finishedAt: 2 });
    expect(done.nodes[30]!.error?.message).toBe(
      "a corrupt record (field n3) stopped the run before this node could start",
    );
    await store.close();
  });

  it.each([
    ["status", "nonsense", /unknown status "nonsense"/],
    ["ended", "many", /not a count: "many"/],
  ])(
    "a run record field (%s) that cannot be read fails the run; getRun shows it failed",
    async (field, value, why) => {
      const prefix = `corrupt${++n}`;
      const store = await RedisStore.connect(server.url, { prefix });
      const client = createClient(store);
      const run = await client.submit(group(count.si(1), count.si(2)));
      const other = await client.submit(count.si(3));
      await raw.hset(runKey(prefix, run.runId), field, value);
      const shown = (await store.getRun(run.runId))!;
      expect(shown.run.status).toBe("failed");
      expect(shown.run.error?.message).toMatch(why);
      const worker = startWorker({ store, handlers, logger: silent, idleMs: 100 });
      try {
        expect(await other.result({ timeout: 20_000 })).toBe(3);
        const err = (await run.result({ timeout: 20_000 }).catch((e: unknown) => e)) as RunFailed;
        expect(err).toBeInstanceOf(RunFailed);
        expect(err.error?.message).toContain(`key ${runKey(prefix, run.runId)} field ${field}: `);
        const snap = (await store.getRun(run.runId))!;
        expect(snap.run.status).toBe("failed");
        expect(snap.run.finishedAt).toBeDefined();
      } finally {
        await worker.stop();
        await store.close();
      }
    },
  );
});

describe("a corrupt attempt history (h<n>)", () => {
  it("shows as one CorruptRecord entry in getRun, which does not throw, and the node runs on", async () => {
    const prefix = `corrupt${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "hist",
      dag: compile(count.si(1)),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const req = { workerId: "a", queues: ["default"], max: 1, leaseMs: 1_000 };
    const [first] = await store.claim({ ...req, now: 1 });
    const boom = { tag: "Boom", message: "once", retryable: true };
    expect((await store.fail(first!, boom, { now: 2, retryAt: 3 })).ok).toBe(true);
    expect((await store.getRun(runId))!.nodes[0]!.history).toMatchObject([
      { attempt: 1, outcome: "failed", error: boom },
    ]);
    // a msgpack timestamp (an extension type) appended to the history
    await raw.hset(
      runKey(prefix, runId),
      "h0",
      Buffer.concat([
        (await raw.hgetBuffer(runKey(prefix, runId), "h0"))!,
        Buffer.from("d6ff00000000", "hex"),
      ]),
    );
    const snap = (await store.getRun(runId))!;
    expect(snap.nodes[0]).toMatchObject({ state: "retrying", attempts: 1 });
    expect(snap.nodes[0]!.history).toEqual([
      {
        attempt: 0,
        worker: "",
        startedAt: 0,
        endedAt: 0,
        outcome: "failed",
        error: {
          tag: "CorruptRecord",
          retryable: false,
          message: expect.stringMatching(
            new RegExp(
              `^corrupt record: key ${runKey(prefix, runId).replace(/[{}]/g, "\\$&")} field h0: not an attempt history: value 2 .*extension type -1`,
            ),
          ),
        },
      },
    ]);
    // the history is for display only: the node retries and succeeds
    const [second] = await store.claim({ ...req, now: 3 });
    expect(second).toMatchObject({ attempt: 2 });
    const done = { now: 4, workerId: "a", queues: ["default"], nextMax: 0, leaseMs: 1_000 };
    expect((await store.complete(second!, encode(1), done)).ok).toBe(true);
    expect((await store.getRun(runId))!.run.status).toBe("succeeded");
    await store.close();
  });
});

describe("a re-sent script is a no-op that answers the same", () => {
  const opts = (now: number, nextMax = 0) => ({
    now,
    workerId: "w",
    queues: ["default"],
    nextMax,
    leaseMs: 10_000,
  });
  const claimOne = async (store: RedisStore, now: number) =>
    (await store.claim({ workerId: "w", queues: ["default"], max: 1, leaseMs: 10_000, now }))[0]!;

  it("submit: a middle chunk that fails (its answer lost) leaves the run uncommitted, its commit never sent", async () => {
    const prefix = `midfail${++n}`;
    const store = await RedisStore.connect(server.url, { prefix, submitChunk: 2 });
    const s = internals(store);
    const real = s.script.bind(store);
    let calls = 0;
    s.script = async (name, keys, args) => {
      // the third submit call (a middle chunk, after the first and another middle one) fails
      if (name === "submit" && ++calls === 3) throw new Error("connection reset by the test");
      return real(name, keys, args);
    };
    const dag = compile(group(...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => count.si(i))));
    const err = await store
      .submit({ runId: "half", dag, tags: [], idempotencyWindowMs: 0, retentionMs: 60_000, now: 0 })
      .catch((e: unknown) => e);
    expect((err as Error).message).toContain("connection reset by the test");
    // the first chunk, then the three middle ones sent together; no commit
    expect(calls).toBe(4);
    expect(await raw.hget(runKey(prefix, "half"), "status")).toBe("pending");
    expect(await raw.zscore(shardKeys(prefix, 0).pending, "half")).not.toBeNull();
    const claims = await claimAll(store);
    expect(claims).toEqual([]);
    await store.close();
  });

  it("submit: every chunk of a multi-chunk run re-sent, the first and the commit included: written and committed once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix, submitChunk: 2 });
    const first = resend(store, ["submit"]);
    const dag = compile(group(count.si(1), count.si(2), count.si(3), count.si(4), count.si(5)));
    const sub = await store.submit({
      runId: "chunks",
      dag,
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    expect(sub).toEqual({ runId: "chunks", existing: false });
    expect(first.get("submit")?.map((r) => String((r as Buffer[])[0]))).toEqual(["OK", "OK", "OK"]);
    const claims = await claimAll(store);
    expect(claims.map((c) => c.nodeId)).toEqual([0, 1, 2, 3, 4]);
    expect(await raw.zcard(shardKeys(prefix, 0).pending)).toBe(0);
    expect(await raw.hget(runKey(prefix, "chunks"), "status")).toBe("running");
    // the fingerprint is kept as its 32 bytes
    expect(await raw.hgetBuffer(runKey(prefix, "chunks"), "fp")).toEqual(
      Buffer.from(fingerprint(dag), "hex"),
    );
    await store.close();
  });

  it("submitmany: a batch re-sent, keyed runs and a refused one included: each answers as the first send, written once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    await store.submit({
      runId: "taken",
      dag: compile(count.si(9)),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const first = resend(store, ["submitmany"]);
    const sub = (runId: string, input: number, key?: string) => ({
      runId,
      dag: compile(chain(count.si(input), double.s())),
      tags: [],
      ...(key === undefined ? {} : { idempotencyKey: key }),
      idempotencyWindowMs: key === undefined ? 0 : 60_000,
      retentionMs: 60_000,
      now: 0,
    });
    const got = await store.submitMany([
      sub("m1", 1),
      sub("m2", 2, "order-2"),
      sub("taken", 3),
      sub("m4", 4),
    ]);
    expect(got).toEqual([
      { ok: true, runId: "m1", existing: false },
      { ok: true, runId: "m2", existing: false },
      { ok: false, error: expect.objectContaining({ _tag: "DuplicateRun", runId: "taken" }) },
      { ok: true, runId: "m4", existing: false },
    ]);
    // one call, sent twice: the first send wrote the runs, the second found its own nonces
    expect(first.get("submitmany")).toHaveLength(1);
    const claims = await claimAll(store);
    expect(claims.map((c) => `${c.runId}#${c.nodeId}`).sort()).toEqual([
      "m1#0",
      "m2#0",
      "m4#0",
      "taken#0",
    ]);
    for (const id of ["m1", "m2", "m4"])
      expect(await raw.hget(runKey(prefix, id), "status")).toBe("running");
    await store.close();
  });

  it("submit of a one-node run without a key (sent as submitmany's plain job), re-sent: answered as the first send, written once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const first = resend(store, ["submitmany", "submit"]);
    const sub = await store.submit({
      runId: "single",
      dag: compile(count.si(1)),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    expect(sub).toEqual({ runId: "single", existing: false });
    // one submitmany call, sent twice (the second found its own nonce), and no submit
    expect(first.get("submitmany")).toHaveLength(1);
    expect(first.get("submit")).toBeUndefined();
    const k = shardKeys(prefix, 0);
    expect(await raw.zcard(k.queue("default").ready)).toBe(1);
    expect(await raw.xlen(k.runList)).toBe(1);
    const claims = await claimAll(store);
    expect(claims.map((c) => `${c.runId}#${c.nodeId}`)).toEqual(["single#0"]);
    // a second submit of the same run id is refused, as `submit` refuses it
    await expect(
      store.submit({
        runId: "single",
        dag: compile(count.si(2)),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 2,
      }),
    ).rejects.toMatchObject({ _tag: "DuplicateRun", runId: "single" });
    await store.close();
  });

  it("client.submitMany of plain jobs (sent short, ids made for the call), re-sent: answered as the first send, written once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const first = resend(store, ["submitmany"]);
    const handles = await createClient(store).submitMany([count.si(1), count.si(2), count.si(3)]);
    expect(handles.map((h) => h.existing)).toEqual([false, false, false]);
    // one call, sent twice: the second found the first run of the call there, and so looked up
    // every run (submitmany.lua, FRESH) and answered each as the first send did
    expect(first.get("submitmany")).toHaveLength(1);
    const k = shardKeys(prefix, 0);
    expect(await raw.zcard(k.queue("default").ready)).toBe(3);
    // written once: one entry of the run list, each run's `queued` event once
    expect(await raw.xlen(k.runList)).toBe(1);
    expect(await raw.get(`${k.events}:n`)).toBe("3");
    const claims = await claimAll(store);
    expect(claims.map((c) => c.runId).sort()).toEqual(handles.map((h) => h.runId).sort());
    await store.close();
  });

  it("submit with an idempotency key, re-sent: the caller gets its own new run, not `existing`", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    resend(store, ["submit"]);
    const sub = await store.submit({
      runId: "keyed",
      dag: compile(count.si(1)),
      tags: [],
      idempotencyKey: "order-1",
      idempotencyWindowMs: 60_000,
      retentionMs: 60_000,
      now: 0,
    });
    expect(sub).toEqual({ runId: "keyed", existing: false });
    // the key names its run and the run's fingerprint: msgpack [fingerprint (32 bytes), runId]
    const value = (await raw.getBuffer(shardKeys(prefix, 0).idempotency("order-1")))!;
    expect((decode(value) as unknown[])[1]).toBe("keyed");
    expect(value.includes(Buffer.from(fingerprint(compile(count.si(1))), "hex"))).toBe(true);
    await store.close();
  });

  it("an idempotency key written before keys held a fingerprint (the bare run id) still returns its run", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const sub = (runId: string) => ({
      runId,
      dag: compile(count.si(1)),
      tags: [],
      idempotencyKey: "legacy",
      idempotencyWindowMs: 60_000,
      retentionMs: 60_000,
      now: 0,
    });
    await store.submit(sub("old-run"));
    await raw.set(shardKeys(prefix, 0).idempotency("legacy"), "old-run", "PX", 60_000);
    expect(await store.submit(sub("new-run"))).toEqual({ runId: "old-run", existing: true });
    await store.close();
  });

  it("start: re-sent under the token the node runs under, the same claim data, no stall or attempt counted", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "started",
      dag: compile(count.si(1)),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const c = await claimOne(store, 1);
    const before = await store.getRun(runId);
    const again = await startAgain(store, prefix, runId, c.token, 1);
    expect(again).toMatchObject({ code: "OK", attempt: c.attempt, stalls: c.stalls });
    expect(await store.getRun(runId)).toEqual(before);
    expect(before!.nodes[0]).toMatchObject({
      state: "running",
      attempts: 1,
      stalls: 0,
      token: c.token,
    });
    await store.close();
  });

  it("start: re-sent after it stalled a node out, its first reply lost: the same answer, the cascade left for drain", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "stalls",
      dag: compile(chain(count.si(1).with({ retry: { maxStalls: 0 } }), double.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    await claimOne(store, 1);
    await store.maintain({ now: 20_000, queues: ["default"] }); // the lease expired: re-delivered
    // the claim, sent by hand: the node leased again and started, which stalls it out
    const k = shardKeys(prefix, 0);
    const claim = SCRIPTS.claim;
    const {
      leased: [leased],
    } = claim.reply(
      await sendScript(
        store.redis,
        "claim",
        claim.keyList({
          tokens: k.tokens,
          seq: k.seq,
          lastClaim: k.lastClaim("w"),
          shardWork: k.work,
          events: k.events,
          workerNames: k.workerNames,
          queues: [k.queue("default")],
        }),
        claim.argList({
          now: 20_001,
          max: 1,
          leaseMs: 10_000,
          requestId: "",
          part: 0,
          promote: 0,
          worker: "w",
          eventsMax: 10_000,
          runPrefix: k.runPrefix,
          queueNames: "default",
          tasks: [],
        }),
      ),
    );
    const lost = SCRIPTS.start.reply(leased!.start);
    expect(lost).toEqual({ code: "STALLED_OUT", more: true, runQueues: ["default"] });
    const stalled = await store.getRun(runId);
    expect(stalled!.nodes.map((x) => x.state)).toEqual(["failed", "waiting"]);
    // the start re-sent: the same answer
    expect(await startAgain(store, prefix, runId, leased!.token, 20_001)).toEqual(lost);
    expect(await store.getRun(runId)).toEqual(stalled);
    // nobody drained it: maintenance does, once the work is 5 s old
    await store.maintain({ now: 30_000, queues: ["default"] });
    const done = (await store.getRun(runId))!;
    expect(done.nodes.map((x) => x.state)).toEqual(["failed", "skipped"]);
    expect(done.run).toMatchObject({ status: "failed", ended: 2 });
    await store.close();
  });

  it("complete: re-sent, it answers the same next claims and records the result once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "done",
      dag: compile(chain(count.si(1), double.s(), double.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const c = await claimOne(store, 1);
    const first = resend(store, ["complete"]);
    const r = await store.complete(c, encode(1), opts(2, 1));
    // the first reply (lost) handed out node 1; the re-send answers the same claim
    // (a reply that hands out nodes comes packed whole in one string: complete.lua)
    const packed = first.get("complete")![0];
    expect(Buffer.isBuffer(packed)).toBe(true);
    const lost = unpackReply(packed as Buffer) as unknown[];
    expect(String(lost[0])).toBe("OK");
    const handed = (lost[2] as unknown[])[1];
    expect(r.ok && r.replayed).toBe(true);
    const next = r.ok ? r.next : [];
    expect(next.map((x: Claim) => [x.nodeId, x.token])).toEqual([[1, Number(handed)]]);
    const snap = (await store.getRun(runId)) as RunSnapshot;
    expect(snap.nodes.map((x) => x.state)).toEqual(["succeeded", "running", "waiting"]);
    expect(snap.nodes[0]!.history).toEqual([]);
    expect(snap.run.ended).toBe(1);
    expect(decode((await store.getResult(runId, 0))!)).toBe(1);
    const leases = await raw.zrangebyscore(
      shardKeys(prefix, 0).queue("default").leases,
      "-inf",
      "(+inf",
    );
    expect(leases).toEqual([`${runId}#1#${handed}`]);
    await store.close();
  });

  it("fail: re-sent, it answers OK and records the attempt once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "failed",
      dag: compile(count.si(1)),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const c = await claimOne(store, 1);
    resend(store, ["fail"]);
    const error = { tag: "Boom", message: "try later", retryable: true };
    expect(await store.fail(c, error, { now: 2, retryAt: 500 })).toEqual({
      ok: true,
      next: [],
      replayed: true,
    });
    const snap = (await store.getRun(runId))!;
    expect(snap.nodes[0]).toMatchObject({ state: "retrying", dueAt: 500, attempts: 1 });
    expect(snap.nodes[0]!.history).toHaveLength(1);
    expect(await raw.zcard(shardKeys(prefix, 0).queue("default").delayed)).toBe(1);
    await store.close();
  });

  it("cancel: re-sent, it answers true again and cancels once", async () => {
    const prefix = `resend${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const { runId } = await store.submit({
      runId: "stopped",
      dag: compile(group(count.si(1), count.si(2))),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const first = resend(store, ["cancel"]);
    expect(await store.cancel(runId, { now: 1 })).toBe(true);
    expect(String((first.get("cancel")![0] as Buffer[])[0])).toBe("OK");
    const snap = (await store.getRun(runId))!;
    expect(snap.run).toMatchObject({ status: "cancelled", ended: 2, finishedAt: 1 });
    // a new call is a new request: the run had already ended
    Reflect.deleteProperty(store, "script"); // back to the prototype's: no more re-sends
    expect(await store.cancel(runId, { now: 2 })).toBe(false);
    await store.close();
  });

  it("release, drain, discard and start (stalling a node out): repeated, they change nothing more", async () => {
    const prefix = `resend${++n}`;
    // a budget of one item per call: every cascade goes on in `drain`
    const store = await RedisStore.connect(server.url, {
      prefix,
      submitChunk: 1,
      abandonAfterMs: 10,
      budget: 1,
    });
    const { runId } = await store.submit({
      runId: "twice",
      dag: compile(
        chain(
          count.si(1).with({ retry: { maxStalls: 0 } }),
          group(double.s(), double.s(), double.s()),
        ),
      ),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    resend(store, ["release", "drain", "discard"]);
    const c = await claimOne(store, 1);
    await store.release(c, { now: 2 });
    const released = (await store.getRun(runId))!;
    expect(released.nodes[0]).toMatchObject({ state: "queued", attempts: 0 });
    expect(released.nodes[0]!.history.map((h) => h.outcome)).toEqual(["released"]);
    // a stall over maxStalls 0: start fails the node (its cascade drained, twice)
    await claimOne(store, 3);
    await store.maintain({ now: 20_000, queues: ["default"] });
    expect(await claimOne(store, 20_001)).toBeUndefined();
    const stalled = (await store.getRun(runId))!;
    expect(stalled.nodes.map((x) => x.state)).toEqual(["failed", "skipped", "skipped", "skipped"]);
    expect(stalled.nodes[0]!.history.map((h) => h.outcome)).toEqual(["released", "stalled"]);
    expect(stalled.run).toMatchObject({ status: "failed", ended: 4 });
    expect(await raw.llen(shardKeys(prefix, 0).run(runId).work)).toBe(0);
    // that start, re-sent: the same answer (its cascade already drained), nothing changed
    const again = await startAgain(store, prefix, runId, stalled.nodes[0]!.token!, 20_001);
    expect(again).toEqual({ code: "STALLED_OUT", more: false, runQueues: ["default"] });
    expect(await store.getRun(runId)).toEqual(stalled);
    // a submission that died before its commit, discarded (twice) by maintenance
    const s = internals(store);
    const real = s.script;
    s.script = (name, keys, args) =>
      name === "submit" && String(args[2]).includes("c")
        ? Promise.reject(new Error("producer died"))
        : real(name, keys, args);
    await expect(
      store.submit({
        runId: "half",
        dag: compile(group(count.si(1), count.si(2))),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 30_000,
      }),
    ).rejects.toThrow("producer died");
    s.script = real;
    await store.maintain({ now: 40_000, queues: ["default"] });
    expect(await store.getRun("half")).toBeUndefined();
    expect(await raw.zcard(shardKeys(prefix, 0).pending)).toBe(0);
    await store.close();
  });
});

describe("a stall on Redis", () => {
  it("stalls out a run's nodes from two queues in one claim, each lease taken out of its own queue", async () => {
    const prefix = `stall${++n}`;
    const store = await RedisStore.connect(server.url, { prefix });
    const once = { retry: { maxStalls: 0 } };
    const { runId } = await store.submit({
      runId: "twoqueues",
      dag: compile(
        group(
          count.si(1).with(once),
          count.si(2).with({ ...once, queue: "other" }),
          count.si(3).with(once),
          count.si(4).with({ ...once, queue: "other" }),
        ),
      ),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 0,
    });
    const queues = ["default", "other"];
    const claim = (now: number) =>
      store.claim({ workerId: "w", queues, max: 10, leaseMs: 1_000, now });
    expect((await claim(1)).map((c) => c.nodeId).sort()).toEqual([0, 1, 2, 3]);
    // the leases expire: the nodes are ready again, and the next claim stalls them all out
    await store.maintain({ now: 5_000, queues });
    expect(await claim(5_001)).toEqual([]);
    const snap = (await store.getRun(runId))!;
    expect(snap.nodes.map((x) => [x.state, x.error?.tag])).toEqual(
      Array.from({ length: 4 }, () => ["failed", "Stalled"]),
    );
    for (const q of queues) {
      const keys = shardKeys(prefix, 0).queue(q);
      expect(await raw.zcount(keys.leases, "-inf", "(+inf")).toBe(0);
      expect(await raw.zcard(keys.ready)).toBe(0);
    }
    await store.close();
  });
});
