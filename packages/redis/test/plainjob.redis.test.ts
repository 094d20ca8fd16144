/**
 * The common cases take shortcuts past the general machinery of the scripts:
 * a plain job's submission skips the walk of `submit` and `submitmany`
 * (includes/submitrun.lua, `plainJob`), its start in `claim` skips loading the
 * run (includes/startnode.lua, `plainStart`), and its completion, like a chain
 * step's (a node whose one dependent waits on it alone, handed to the same
 * worker), skips the run machinery and the cascade in `complete` and
 * `completemany` (includes/completenode.lua, `shortCompletion`). These tests
 * replay the very calls the store sent through the same scripts with the
 * shortcuts taken out, on an emptied Redis, and compare the replies and every
 * key the two leave: a shortcut must write, add and answer exactly what the
 * general path does. The node records a call meets again, byte for byte, are
 * copies of its first decode (includes/record.lua, `SEEN_RECORDS`), and the
 * records a walk queues from the same bytes take the first one's packing
 * (`QUEUED_BYTES`): both taken out the same way, in every script that holds
 * them. So is a chord member's completion that only takes one pending
 * dependency off its body, read already in the call (includes/completenode.lua,
 * `soleWaitingDependent`). The node records the function library keeps across
 * calls (a start's running record for the node's completion, `RUNNING_BYTES`;
 * `SEEN_RECORDS` and `QUEUED_BYTES` too) are checked by running a workload
 * with functions and by EVALSHA (which keeps nothing across calls). */
import { chain, chord, createClient, DuplicateRun, group, Schema, task } from "@weft/core";
import { type Claim, compile, encode } from "@weft/core/store";
import { type Command, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisStore } from "../src/index.ts";
import { runEndChannel, shardKeys } from "../src/Keys.ts";
import { packList, unpackReply } from "../src/Packed.ts";
import { LIBRARY, scriptSha, scriptSource } from "../src/Scripts.ts";
import { raw, server } from "./fixtures/server.ts";
import { snapshot } from "./fixtures/snapshot.ts";

const job = task({ name: "job", input: Schema.Struct({ i: Schema.Int }), output: Schema.Int });
const urgent = task({
  name: "urgent",
  input: Schema.Int,
  output: Schema.Int,
  queue: "fast",
  priority: 12,
});
const step = task({ name: "step", input: Schema.Int, output: Schema.Int });

const SUBMIT_SHORTCUT: readonly [string, string] = [
  "local plain, from = plainJob(M, a, list)",
  "local plain, from = nil",
];
const SUBMITMANY_SHORTCUT: readonly [string, string] = [
  "local lean = plainSubmit(f, at, toReady, sRun, sNow, sQueue, sList2, sList3)",
  "local lean = nil",
];
const START_SHORTCUT: readonly [string, string] = [
  "elseif leased and oneHash and n == 0 and ahead[runId] == false then",
  "elseif false then",
];
const COMPLETE_SHORTCUT: readonly [string, string] = [
  "short, read, ds, dread = shortCompletion(",
  "short, read, ds, dread = nil, nil, nil, nil and shortCompletion(",
];

const MEMBER_SHORTCUT: readonly [string, string] = [
  "local w, wr = soleWaitingDependent(M, r, budget)",
  "local w, wr = nil, nil and soleWaitingDependent(M, r, budget)",
];

/** A chord member's completion after the first of its run in a `completemany` call. */
const MEMBER_SUCCEEDED: readonly [string, string] = [
  "local code, more = memberSucceeded(M, RC",
  "local code, more = nil and memberSucceeded(M, RC",
];
/** The same in completemany's loop. */
const MEMBER_SUCCEEDED_IN_LOOP: readonly [string, string] = [
  "code, more = memberSucceeded(open, CODES",
  "code, more = nil and memberSucceeded(open, CODES",
];

/** A chord member's start after the first of its run in a `claim` call: in startNode, and in claim's loop. */
const MEMBER_STARTED: readonly [string, string] = [
  "if leased and oneHash and M.wbuf then",
  "if nil and leased and oneHash and M.wbuf then",
];
const MEMBER_STARTED_IN_CLAIM: readonly [string, string] = [
  "local M = leased and open and keys == open.k",
  "local M = nil and leased and open and keys == open.k",
];

const SEEN_RECORDS: readonly [string, string] = [
  "local seen = SEEN_RECORDS[raw]",
  "local seen = nil",
];

const QUEUED_BYTES: readonly [string, string] = ["local b = QUEUED_BYTES[from]", "local b = nil"];

/** The walk of a new run's roots passes the nodes sent with a dependency list undecoded. */
const WAITING_UNDECODED: readonly [string, string] = [
  "local waits = M.waits",
  "local waits = false",
];

/** The scripts the tests' calls send, and the shortcuts each holds (its text, and what takes it out). */
const SHORTCUTS: Record<string, ReadonlyArray<readonly [string, string]>> = {
  submit: [QUEUED_BYTES, SUBMIT_SHORTCUT, SEEN_RECORDS, WAITING_UNDECODED],
  submitmany: [QUEUED_BYTES, SUBMIT_SHORTCUT, SUBMITMANY_SHORTCUT, SEEN_RECORDS, WAITING_UNDECODED],
  claim: [QUEUED_BYTES, START_SHORTCUT, MEMBER_STARTED, MEMBER_STARTED_IN_CLAIM, SEEN_RECORDS],
  complete: [QUEUED_BYTES, COMPLETE_SHORTCUT, MEMBER_SHORTCUT, MEMBER_SUCCEEDED, SEEN_RECORDS],
  completemany: [
    QUEUED_BYTES,
    COMPLETE_SHORTCUT,
    MEMBER_SHORTCUT,
    MEMBER_SUCCEEDED,
    MEMBER_SUCCEEDED_IN_LOOP,
    SEEN_RECORDS,
  ],
  drain: [QUEUED_BYTES, SEEN_RECORDS],
  progress: [],
  fail: [QUEUED_BYTES, SEEN_RECORDS],
  cancel: [QUEUED_BYTES, SEEN_RECORDS],
  redrive: [QUEUED_BYTES, SEEN_RECORDS],
};

/** Script `name`'s source with its shortcuts, record copies and shared packings taken out: the general path. */
const generalOnly = (name: string): string => {
  let source = scriptSource(name);
  for (const [shortcut, without] of SHORTCUTS[name] ?? []) {
    expect(source).toContain(shortcut);
    source = source.replace(shortcut, without);
  }
  return source;
};

/** submitmany.lua's branches for a run sent short: the first of its like ones, and those like it. */
const SENT_SHORT = 'if mark == "" then';
const SENT_LIKE = 'elseif mark == "\\255" then';

/** The script calls a store sends, with their keys and arguments. */
const recorded = (redis: Redis, into: Command[]): Redis => {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Command, stream?: never) => {
    if (command.name === "evalsha" || command.name === "eval") into.push(command);
    return send(command, stream);
  }) as typeof redis.sendCommand;
  return redis;
};

/**
 * A script call the store sent: the script's name, its keys and arguments, its reply; or
 * a test's own script (`source`), sent on the store's connection, replayed as it is.
 */
interface Sent {
  readonly name: string;
  readonly source?: string;
  readonly args: ReadonlyArray<unknown>;
  readonly reply: Promise<unknown>;
}

/** Replays `sent` on an emptied Redis, each script's source as `source` makes it: the replies and the keys left. */
const replay = async (sent: ReadonlyArray<Sent>, source: (name: string) => string) => {
  await raw.flushall();
  const replies: unknown[] = [];
  for (const c of sent) {
    const lua = c.source ?? source(c.name);
    replies.push(text(await raw.eval(lua, ...(c.args as [number, ...string[]]))));
  }
  return { replies, keys: await snapshot() };
};

/**
 * Acts with `act` on a store, then replays its script calls with the general path only
 * on an empty Redis: the replies and keys of both.
 */
const compare = async (act: (store: RedisStore) => Promise<unknown>) => {
  await raw.flushall();
  const calls: Command[] = [];
  // by EVALSHA, whose calls name their script by its SHA-1 (the Lua is the same as a function's)
  const store = await RedisStore.connect(recorded(new Redis(server.url), calls), {
    prefix: "plain",
    functions: false,
  });
  await act(store);
  const shortcut = await snapshot();
  const sent = calls.map((c): Sent => {
    const name = Object.keys(SHORTCUTS).find(
      (n) => c.args[0] === scriptSha(n) || c.args[0] === scriptSource(n),
    );
    if (!name && c.name === "eval")
      return { name: "", source: String(c.args[0]), args: c.args.slice(1), reply: c.promise };
    if (!name) throw new Error(`a script these tests do not replay: ${String(c.args[0])}`);
    return { name, args: c.args.slice(1), reply: c.promise };
  });
  expect(sent.length).toBeGreaterThan(0);
  const answered: unknown[] = [];
  for (const c of sent) answered.push(text(await c.reply));
  const general = await replay(sent, generalOnly);
  await store.close();
  // the same replies, call by call
  expect(answered).toEqual(general.replies);
  return { shortcut, walked: general.keys, sent };
};

/** A script's reply with its byte strings as text. */
const text = (reply: unknown): unknown =>
  Array.isArray(reply) ? reply.map(text) : Buffer.isBuffer(reply) ? reply.toString() : reply;

describe("a plain job's submission on Redis", () => {
  it("submitMany writes, queues and records exactly what the general walk does", async () => {
    const { shortcut, walked, sent } = await compare((store) =>
      createClient(store).submitMany(
        Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? urgent.si(i) : job.si({ i }))),
        { tags: ["batch"] },
      ),
    );
    // the run hashes (fields by name), the ready sets (scores: priority, then arrival), the
    // run list, the wake lists and the events, in the same order
    expect(Object.keys(shortcut).length).toBeGreaterThan(20);
    expect(shortcut).toEqual(walked);
    // every run of the batch was written by submitmany's own shortcut (plainSubmit)
    expect(await timesTaken(sent, "if lean then")).toBe(20);
  });

  it("submitMany sends runs that are no plain job, or are there already, the general way", async () => {
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      const named = [{ runId: "r1" }, { runId: "r2" }];
      await client.submitMany([job.si({ i: 1 }), urgent.si(2)], named);
      // the same runs again (there already: returned), another canvas under a taken id (a
      // DuplicateRun), then a chain and a retention among plain jobs
      await client.submitMany([job.si({ i: 1 }), urgent.si(2)], named);
      await expect(client.submitMany([job.si({ i: 9 })], [{ runId: "r1" }])).rejects.toThrow(
        DuplicateRun,
      );
      // a run id twice in one batch: the second is there already when its turn comes
      const twice = await client.submitMany(
        [job.si({ i: 7 }), job.si({ i: 7 })],
        [{ runId: "r3" }, { runId: "r3" }],
      );
      expect(twice.map((h) => [h.runId, h.existing])).toEqual([
        ["r3", false],
        ["r3", true],
      ]);
      // plain jobs with a run field not at its default: tags, then headers
      await client.submitMany([job.si({ i: 8 })], { tags: ["one"] });
      await client.submitMany([job.si({ i: 9 })], { headers: { tenant: "acme" } });
      return client.submitMany(
        [job.si({ i: 3 }), chain(step.si(4), step.s()), job.si({ i: 5 }), job.si({ i: 6 })],
        { retentionMs: 60_000 },
      );
    });
    expect(shortcut).toEqual(walked);
    // the first two, the first r3, the tagged and the headed ones and the last batch's three
    // plain jobs; not the duplicates or the chain
    expect(await timesTaken(sent, "if lean then")).toBe(8);
  });

  it("submitMany sends a plain job at its defaults short, written as the general walk writes it", async () => {
    const { shortcut, walked, sent } = await compare((store) =>
      createClient(store).submitMany(
        Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? urgent.si(i) : job.si({ i }))),
      ),
    );
    expect(shortcut).toEqual(walked);
    expect(await timesTaken(sent, "if lean then")).toBe(20);
    // the jobs in queue "default" went short, the urgent ones (queue "fast") not: 13 in each
    // submitmany call replayed (a call the client queued before it connected is recorded as
    // queued and as sent), the first in six arguments, the twelve like it (same time, queue
    // and record) in three
    const batches = sent.filter((c) => c.name === "submitmany").length;
    expect(batches).toBeGreaterThan(0);
    expect(await timesTaken(sent, SENT_SHORT)).toBe(batches);
    expect(await timesTaken(sent, SENT_LIKE)).toBe(12 * batches);
  });

  it("a single-node run with a field not at its default is sent whole and keeps the field", async () => {
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submitMany([job.si({ i: 1 })], { tags: ["t"] });
      await client.submitMany([job.si({ i: 2 })], { headers: { tenant: "acme" } });
      await client.submitMany([job.si({ i: 3 })], { retentionMs: 60_000 });
      await client.submitMany([job.si({ i: 4 })], [{ runId: "named" }]);
      await client.submitMany([job.si({ i: 5 })], { idempotencyKey: "k5" });
      await client.submitMany([job.si({ i: 6 })], { delayMs: 60_000 });
      await client.submitMany([job.si({ i: 7 })], { expiresInMs: 60_000 });
      await client.submitMany([urgent.si(8)]);
      // (as the store may be handed them: a nonce without a fingerprint, a key without either)
      const bare = (runId: string, i: number) => ({
        runId,
        dag: compile(job.si({ i })),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 7 * 86_400_000,
        now: 1_000,
        nonce: "",
        fingerprint: "",
      });
      await store.submitMany([
        { ...bare("n9", 9), nonce: "n9" },
        { ...bare("k10", 10), idempotencyKey: "k10", idempotencyWindowMs: 60_000 },
        { ...bare("f11", 11), fingerprint: "ab".repeat(32) },
      ]);
    });
    expect(shortcut).toEqual(walked);
    // none went short (isShort, RedisStore.ts): each run hash holds its field
    expect(await timesTaken(sent, SENT_SHORT)).toBe(0);
    expect(await timesTaken(sent, SENT_LIKE)).toBe(0);
    const hashes = runHashes(shortcut);
    expect(hashes).toHaveLength(11);
    const holding = (field: string) => hashes.filter((h) => h.has(field)).length;
    for (const field of ["tags", "hdr", "retention", "nbf", "exp", "queues"])
      expect(holding(field)).toBe(1);
    // a run given its id keeps its nonce (two), a run given its id or under a key the canvas's
    // fingerprint (two, and the bare one handed one), the bare run under a key its key's string
    expect(holding("nonce")).toBe(2);
    expect(holding("fp")).toBe(3);
    expect(Object.keys(shortcut).filter((k) => k.endsWith(":idem:k10"))).toHaveLength(1);
  });

  it("a run sent short stands for the full list the client would send for it", async () => {
    // two plain jobs at their defaults, recorded as the store sends them (short, the second
    // like the first)...
    const calls: Command[] = [];
    await raw.flushall();
    const store = await RedisStore.connect(recorded(new Redis(server.url), calls), {
      prefix: "plain",
      functions: false,
    });
    await createClient(store).submitMany([job.si({ i: 1 }), job.si({ i: 2 })]);
    await store.close();
    const call = calls.find(
      (c) => c.args[0] === scriptSha("submitmany") || c.args[0] === scriptSource("submitmany"),
    )!;
    const args = call.args.slice(1) as [number, ...Array<string | Buffer>];
    const runs = unpackReply(args[args.length - 1] as Buffer) as Buffer[];
    expect(runs.length).toBe(9);
    expect(runs[0]!.length).toBe(0);
    expect([...runs[6]!]).toEqual([0xff]);
    // ...and as the full lists of submitmany.lua's ARGV, each field at its default
    const [, runId, now, queue, record, spec, , secondId, secondSpec] = runs;
    const fullOf = (id: Buffer, nodeSpec: Buffer) => [
      id,
      now!,
      "default",
      queue!,
      "[]",
      "604800000",
      "0",
      "",
      "",
      Buffer.from([0]),
      "",
      "return-existing",
      "0",
      "0",
      "",
      "",
      "",
      "1",
      "0",
      record!,
      nodeSpec,
      "",
    ];
    const full = packList([...fullOf(runId!, spec!), ...fullOf(secondId!, secondSpec!)]);
    const short = [{ name: "submitmany", args, reply: Promise.resolve(null) }];
    const long = [
      { name: "submitmany", args: [...args.slice(0, -1), full], reply: Promise.resolve(null) },
    ];
    // the same keys, whichever way each is written: short or full, by the shortcut or the walk
    const byShortcut = await replay(short, scriptSource);
    expect(Object.keys(byShortcut.keys).length).toBeGreaterThan(3);
    expect((await replay(short, generalOnly)).keys).toEqual(byShortcut.keys);
    expect((await replay(long, generalOnly)).keys).toEqual(byShortcut.keys);
    expect((await replay(long, scriptSource)).keys).toEqual(byShortcut.keys);
  });

  it("a single submit with headers, a retention and an idempotency key does too", async () => {
    const { shortcut, walked } = await compare(async (store) => [
      await createClient(store).submit(job.si({ i: 1 }), {
        headers: { tenant: "acme" },
        retentionMs: 60_000,
        idempotencyKey: "k1",
        tags: ["one"],
      }),
      await createClient(store).submit(urgent.si(2)),
    ]);
    expect(shortcut).toEqual(walked);
  });

  it("a job with a time limit or a delay is no plain job: the walk queues it as before", async () => {
    const { shortcut, walked } = await compare(async (store) => [
      await createClient(store).submit(job.si({ i: 1 }), { delayMs: 60_000 }),
      await createClient(store).submit(job.si({ i: 2 }), { expiresInMs: 60_000 }),
    ]);
    expect(shortcut).toEqual(walked);
    // the delayed one waits in the delayed set, the other in the ready set
    const zsets = Object.entries(shortcut).filter(([k]) => /:(ready|delayed)$/.test(k));
    expect(zsets.map(([k]) => k.split(":").pop()).sort()).toEqual(["delayed", "ready"]);
  });

  it("like records of runs submitted at different times in one call are each queued at its own", async () => {
    // the same node record bytes in both runs, queued by one submitmany call: held 60 s from
    // each run's own time, not by the first one's packing
    const delayed = (runId: string, now: number) => ({
      runId,
      dag: compile(group(job.si({ i: 1 }).with({ delayMs: 60_000 }), job.si({ i: 2 }))),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now,
    });
    const { shortcut, walked } = await compare((store) =>
      store.submitMany([delayed("d1", 1_000), delayed("d2", 5_000)]),
    );
    expect(shortcut).toEqual(walked);
    // (members runId#node#priority, scored by due time)
    const held = Object.entries(shortcut).find(([k]) => k.endsWith(":delayed"));
    expect((held?.[1] as { value: string[] } | undefined)?.value).toEqual([
      "d1#0#5",
      "61000",
      "d2#0#5",
      "65000",
    ]);
  });
});

/** Claim options: worker "w" leases up to `max` nodes of `queues` for 10 s at `now`. */
const leaseOf = (queues: ReadonlyArray<string>, max: number, now: number) => ({
  workerId: "w",
  queues,
  max,
  leaseMs: 10_000,
  now,
});

/** Completion options of worker "w" serving `queues` at `now`. */
const reportOf = (queues: ReadonlyArray<string>, now: number) => ({
  now,
  workerId: "w",
  queues,
  nextMax: 1,
  leaseMs: 10_000,
});

/** The run hashes among `keys` (a snapshot), each as its fields by name. */
const runHashes = (keys: Record<string, unknown>) =>
  Object.entries(keys)
    .filter(([k]) => /:run:[^:]+$/.test(k))
    .map(
      ([, v]) =>
        new Map((v as { value: Array<[string, Buffer]> }).value.map(([f, b]) => [f, String(b)])),
    );

describe("a plain job's start and completion, and a chain step, on Redis", () => {
  it("claim, completeMany and complete answer, write and record exactly what the general path does", async () => {
    const both = ["default", "fast"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submitMany(
        Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? urgent.si(i) : job.si({ i }))),
        { tags: ["batch"] },
      );
      await client.submit(job.si({ i: 100 }), { retentionMs: 60_000 });
      // (one left running: its record as its start left it)
      await client.submit(job.si({ i: 101 }));
      // one queue (claim's single pop), then both
      const claims = [
        ...(await store.claim(leaseOf(["default"], 4, 1_000))),
        ...(await store.claim(leaseOf(both, 20, 1_001))),
      ];
      expect(claims).toHaveLength(14);
      const running = claims.pop();
      expect(running?.attempt).toBe(1);
      // progress on one: the completion deletes its field
      expect(await store.progress(claims[1]!, { current: 1, total: 2 })).toBe("held");
      const done = await store.completeMany(
        claims.slice(0, -1).map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 1 })),
        reportOf(both, 1_002),
      );
      expect(done.every((r) => r.ok)).toBe(true);
      // the last alone, by `complete`, with a trace span
      const last = await store.complete(claims.at(-1)!, encode(7), {
        ...reportOf(both, 1_003),
        span: "0123456789abcdef",
      });
      expect(last.ok).toBe(true);
    });
    expect(runHashes(shortcut).filter((h) => h.get("status") === "succeeded")).toHaveLength(13);
    expect(shortcut).toEqual(walked);
    // the claims answered every start in line (attempt, stalls, task and spec after the token), not
    // as a list of eight (claim.lua): plain jobs of one queue, without headers or dependencies; and
    // so their items packed in one string. One with the queue index, attempt, stalls and task of
    // the last one in line went as 0, member, token and spec
    const shapes: string[] = [];
    for (const c of sent.filter((x) => x.name === "claim")) {
      const reply = (await c.reply) as unknown[];
      expect(reply).toHaveLength(3);
      const items = unpackReply(reply[2] as Buffer) as unknown[];
      for (let i = 0; i < items.length; ) {
        const like = items[i] === 0;
        const inline = typeof items[i + 3] === "number";
        shapes.push(like ? "like" : inline ? "inline" : "list");
        i += like || !inline ? 4 : 7;
      }
    }
    // (each claim's first, and the first after another task's: the urgent jobs, claimed first)
    const [inline, like] = ["inline", "like"];
    expect(shapes).toEqual([
      ...[inline, like, like, like],
      ...[inline, like, like, like],
      ...[inline, like, like, like, like, like],
    ]);

    // the shortcuts were taken, for every run: replayed with each marking what it writes,
    // every run hash holds the start's mark, and those completed the completion's
    const marked = await replay(sent, (name) =>
      scriptSource(name)
        .replaceAll(
          'redis.call("HSET", keys.record, "n0", bytes)',
          'redis.call("HSET", keys.record, "n0", bytes, "plainstart", "1")',
        )
        .replace(
          'packRecord(r), "status", "succeeded", "finished",',
          'packRecord(r), "status", "succeeded", "ended", "9", "finished",',
        ),
    );
    const runs = runHashes(marked.keys);
    // (a run of one node keeps no `ended` until it ends, and none after: a finished run's is
    // its `total`, absent for one node)
    expect(runs.map((h) => [h.get("plainstart"), h.get("ended")]).sort()).toEqual([
      ["1", undefined],
      ...Array(13).fill(["1", "9"]),
    ]);
  });

  it("like plain jobs claimed together start from the packing of the last like ones", async () => {
    const both = ["default", "fast"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      // eight like jobs at their defaults (the same record bytes), two urgent ones before them
      await createClient(store).submitMany([
        urgent.si(1),
        ...Array.from({ length: 8 }, (_, i) => job.si({ i })),
        urgent.si(2),
      ]);
      const claims = await store.claim(leaseOf(both, 20, 1_000));
      expect(claims.map((c) => c.spec.task)).toEqual(["urgent", "urgent", ...Array(8).fill("job")]);
      const done = await store.completeMany(
        claims.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 1 })),
        reportOf(both, 1_001),
      );
      expect(done.every((r) => r.ok)).toBe(true);
    });
    expect(runHashes(shortcut).filter((h) => h.get("status") === "succeeded")).toHaveLength(10);
    expect(shortcut).toEqual(walked);
    // the first two jobs started the general way, the second made LIKE_START.plain; the six
    // after it started from it
    expect(await timesTaken(sent, "local bytes = P.prefix .. uintBytes(token)")).toBe(6);
  });

  it("runs that are no plain job as read go the general way with what the shortcut read, as before", async () => {
    const { shortcut, walked } = await compare(async (store) => {
      const client = createClient(store);
      const q = ["default"];
      // a chain's first step: a node 0 alone in its call, in a run of two nodes
      await client.submit(chain(step.si(1), step.s()));
      const [first] = await store.claim(leaseOf(q, 1, 1_000));
      const next = await store.complete(first!, encode(1), reportOf(q, 1_001));
      expect(next.ok && next.next).toHaveLength(1);
      if (next.ok) await store.complete(next.next[0]!, encode(2), reportOf(q, 1_002));
      // a report under a token whose lease is not held: stale, the node still running
      await client.submit(job.si({ i: 2 }));
      const [held] = await store.claim(leaseOf(q, 1, 2_000));
      const forged = { ...held!, token: held!.token + 100 };
      expect(await store.complete(forged, encode(0), reportOf(q, 2_001))).toEqual({
        ok: false,
        reason: "stale",
      });
      await store.complete(held!, encode(2), reportOf(q, 2_002));
      // a cancelled run: its node ends cancelled
      const { runId } = await store.submit({
        runId: "c",
        dag: compile(job.si({ i: 3 })),
        tags: [],
        idempotencyWindowMs: 0,
        retentionMs: 60_000,
        now: 13_000,
      });
      const [cancelled] = await store.claim(leaseOf(q, 1, 13_001));
      expect(await store.cancel(runId, { now: 13_002 })).toBe(true);
      expect(await store.complete(cancelled!, encode(3), reportOf(q, 13_003))).toEqual({
        ok: false,
        reason: "cancelled",
      });
      // a retry: failed, then claimed again once due (a plain job retrying: the shortcut)
      await client.submit(job.si({ i: 4 }));
      const [failing] = await store.claim(leaseOf(q, 1, 14_000));
      await store.fail(
        failing!,
        { tag: "HandlerError", message: "boom", retryable: true },
        { now: 14_001, retryAt: 14_002 },
      );
      const [retried] = await store.claim(leaseOf(q, 1, 14_003));
      expect(retried?.attempt).toBe(2);
      await store.complete(retried!, encode(4), reportOf(q, 14_004));
    });
    expect(shortcut).toEqual(walked);
  });

  it("chain steps hand out their next step as the general path does, and leave the others to it", async () => {
    const both = ["default", "fast"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submitMany([
        ...[1, 2, 3].map((i) => chain(step.si(i), step.s(), step.s())),
        // the next step on another queue: handed out to a worker that serves it
        chain(step.si(4), urgent.s(), step.s()),
        // the last step on a queue the second completion's worker does not serve
        chain(step.si(5), step.s(), urgent.s()),
        // completed with nextMax 0: its next step goes to the ready set
        chain(step.si(6), step.s()),
      ]);
      const first = await store.claim(leaseOf(both, 10, 1_000));
      expect(first).toHaveLength(6);
      expect(await store.progress(first[0]!, { current: 1 })).toBe("held");
      const handed = await store.completeMany(
        first.slice(0, 5).map((claim, i) => ({
          claim,
          result: encode(claim.nodeId + 10),
          nextMax: 1,
          ...(i === 1 ? { span: "0123456789abcdef" } : {}),
        })),
        reportOf(both, 1_001),
      );
      const alone = await store.complete(first[5]!, encode(6), {
        ...reportOf(both, 1_002),
        nextMax: 0,
      });
      expect(alone).toEqual({ ok: true, next: [] });
      const second = handed.flatMap((r) => (r.ok ? r.next : []));
      expect(second.map((c) => c.nodeId)).toEqual([1, 1, 1, 1, 1]);
      const third = await store.completeMany(
        second.map((claim) => ({ claim, result: encode(claim.nodeId + 20), nextMax: 1 })),
        reportOf(["default"], 1_003),
      );
      const last = third.flatMap((r) => (r.ok ? r.next : []));
      expect(last).toHaveLength(4);
      const rest = [
        ...last,
        ...(await store.claim(leaseOf(["fast"], 10, 1_004))),
        ...(await store.claim(leaseOf(["default"], 10, 1_004))),
      ];
      expect(rest).toHaveLength(6);
      const ended = await store.completeMany(
        rest.map((claim) => ({ claim, result: encode(claim.nodeId + 30), nextMax: 1 })),
        reportOf(both, 1_005),
      );
      expect(ended.every((r) => r.ok && r.next.length === 0)).toBe(true);
    });
    expect(runHashes(shortcut).map((h) => h.get("status"))).toEqual(Array(6).fill("succeeded"));
    expect(shortcut).toEqual(walked);

    // the chain steps that took the shortcut, counted by a replay where it counts itself
    const counted = await replay(sent, (name) =>
      scriptSource(name).replace(
        '"ended", digits(ended + 1))',
        '"ended", digits(ended + 1)) redis.call("HINCRBY", keys.record, "chainsteps", 1)',
      ),
    );
    expect(
      runHashes(counted.keys)
        .map((h) => Number(h.get("chainsteps") ?? 0))
        .sort(),
    ).toEqual([0, 1, 2, 2, 2, 2]);
    // of those, the steps whose dependent waited as the one of the last like steps handed out
    // (LIKE_SUCCESS.step, made at the second): the third like chain's, in both calls
    expect(await timesTaken(sent, "bytes = E.prefix .. uintBytes(lease)")).toBe(2);
    // the walk of the roots at submission decoded the six first steps' records, not the
    // eleven sent with a dependency list
    expect(await timesTaken(sent, "if not (waits and waits[n]) then")).toBe(6);
  });

  it("completeMany sends items that share their last four fields in groups of four, which answer and write what groups of eight do", async () => {
    const { shortcut, sent } = await compare(async (store) => {
      await createClient(store).submitMany([
        ...Array.from({ length: 6 }, (_, i) => job.si({ i })),
        ...[1, 2].map((i) => chain(step.si(i), step.s(), step.s())),
      ]);
      const claims = await store.claim(leaseOf(["default"], 10, 1_000));
      expect(claims).toHaveLength(8);
      // the same nextMax, served queues, run queues and span (none): in groups of four
      const first = await store.completeMany(
        claims.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 1 })),
        reportOf(["default"], 1_001),
      );
      const steps = first.flatMap((r) => (r.ok ? r.next : []));
      expect(steps.map((c) => c.nodeId)).toEqual([1, 1]);
      // a span on one item: in groups of eight
      const second = await store.completeMany(
        steps.map((claim, i) => ({
          claim,
          result: encode(claim.nodeId),
          nextMax: 1,
          ...(i === 0 ? { span: "0123456789abcdef" } : {}),
        })),
        reportOf(["default"], 1_002),
      );
      // a lone item: in a group of eight
      const last = second.flatMap((r) => (r.ok ? r.next : []));
      expect(last).toHaveLength(2);
      await store.completeMany(
        [{ claim: last[0]!, result: encode(7), nextMax: 1 }],
        reportOf(["default"], 1_003),
      );
      await store.completeMany(
        [{ claim: last[1]!, result: encode(8), nextMax: 0 }],
        reportOf(["default"], 1_004),
      );
    });
    expect(runHashes(shortcut).map((h) => h.get("status"))).toEqual(Array(8).fill("succeeded"));
    expect(runHashes(shortcut).filter((h) => h.has("t1"))).toHaveLength(1);
    // ARGV after the keys: now, worker, leaseMs, budget, eventsMax, runPrefix, queuePrefix,
    // items, shared
    const calls = sent.filter((c) => c.name === "completemany");
    const at = (c: Sent) => 1 + Number(c.args[0]) + 7;
    const shape = (c: Sent) => [
      (unpackReply(c.args[at(c)] as Buffer) as unknown[]).length,
      String(c.args[at(c) + 1]) === ""
        ? 0
        : (unpackReply(c.args[at(c) + 1] as Buffer) as unknown[]).length,
    ];
    expect(calls.map(shape)).toEqual([
      [32, 4],
      [16, 0],
      [8, 0],
      [8, 0],
    ]);
    // the calls of groups of four sent as groups of eight instead: the same replies and keys
    const widened = sent.map((c): Sent => {
      if (c.name !== "completemany" || String(c.args[at(c) + 1]) === "") return c;
      const items = unpackReply(c.args[at(c)] as Buffer) as Buffer[];
      const shared = unpackReply(c.args[at(c) + 1] as Buffer) as Buffer[];
      const wide: Buffer[] = [];
      for (let i = 0; i < items.length; i += 4) wide.push(...items.slice(i, i + 4), ...shared);
      const args = [...c.args];
      args[at(c)] = packList(wide);
      args[at(c) + 1] = "";
      return { ...c, args };
    });
    const replayed = await replay(widened, scriptSource);
    const answered: unknown[] = [];
    for (const c of sent) answered.push(text(await c.reply));
    expect(replayed.replies).toEqual(answered);
    expect(replayed.keys).toEqual(shortcut);
  });
});

describe("a chain step's read of a run's rare fields, on Redis", () => {
  const LEAN = 'if u[2] == "0" and u[1] == "running" then';

  it("a step reads them only once its run's `rare` marker is gone: a later step's progress and failed attempt are deleted as by the general path", async () => {
    const q = ["default"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submitMany(
        ["quiet", "progress", "retried"].map(() => chain(step.si(1), step.s(), step.s())),
        [{ runId: "quiet" }, { runId: "progress" }, { runId: "retried" }],
      );
      const heads = await store.claim(leaseOf(q, 10, 1_000));
      const seconds = (
        await store.completeMany(
          heads.map((claim) => ({ claim, result: encode(1), nextMax: 1 })),
          reportOf(q, 1_001),
        )
      ).flatMap((r) => (r.ok ? r.next : []));
      expect(seconds.map((c) => [c.runId, c.nodeId])).toEqual([
        ["quiet", 1],
        ["progress", 1],
        ["retried", 1],
      ]);
      const [quiet, reporting, failing] = seconds;
      // node 1 of "progress" reports progress (field p1); node 1 of "retried" fails once
      // (field e1) and runs again
      expect(await store.progress(reporting!, { current: 1 })).toBe("held");
      await store.fail(
        failing!,
        { tag: "HandlerError", message: "boom", retryable: true },
        { now: 1_002, retryAt: 1_003 },
      );
      const [again] = await store.claim(leaseOf(q, 1, 1_004));
      expect([again?.runId, again?.nodeId, again?.attempt]).toEqual(["retried", 1, 2]);
      const thirds = (
        await store.completeMany(
          [quiet!, reporting!, again!].map((claim) => ({ claim, result: encode(2), nextMax: 1 })),
          reportOf(q, 1_005),
        )
      ).flatMap((r) => (r.ok ? r.next : []));
      expect(thirds.map((c) => c.nodeId)).toEqual([2, 2, 2]);
      await store.completeMany(
        thirds.map((claim) => ({ claim, result: encode(3), nextMax: 1 })),
        reportOf(q, 1_006),
      );
    });
    expect(shortcut).toEqual(walked);
    const hashes = runHashes(shortcut);
    expect(hashes.map((h) => h.get("status"))).toEqual(Array(3).fill("succeeded"));
    // no run keeps a progress or an error field of a node that succeeded
    for (const h of hashes) expect([...h.keys()].filter((f) => /^[pe]\d+$/.test(f))).toEqual([]);
    // the quiet run keeps its marker; the others lost it with their first rare field
    expect(hashes.map((h) => h.get("rare") ?? null).sort()).toEqual(["0", null, null]);
    // every run's first step (node 0, the marker standing) and the quiet run's later ones
    // (node 1, then node 2) read no rare field; the others' read them (a progress and an
    // error field deleted)
    expect(await timesTaken(sent, LEAN)).toBe(5);
  });

  it("a chord's members completed together read no progress or error field while the marker stands; once a member's progress or failed attempt took it, theirs are deleted as by the general path", async () => {
    const q = ["default"];
    const BARE = 'if M.pre and (M.pre.rare == "0" or M.pre.rare == "w") then';
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      // 40 members each: more than 32 nodes, their specs before their records
      const members = () => Array.from({ length: 40 }, (_, i) => step.si(i));
      await client.submit(chord(members(), total.s()), { runId: "quiet" });
      await client.submit(chord(members(), total.s()), { runId: "noisy" });
      const claims = [
        ...(await store.claim(leaseOf(q, 50, 1_000))),
        ...(await store.claim(leaseOf(q, 50, 1_000))),
      ];
      expect(claims.map((c) => c.runId).sort()).toEqual([
        ...Array(40).fill("noisy"),
        ...Array(40).fill("quiet"),
      ]);
      const of = (runId: string) => claims.filter((c) => c.runId === runId);
      // a member of "noisy" reports progress (field p3); another fails once (field e5) and
      // runs again
      const noisy = of("noisy");
      expect(await store.progress(noisy[3]!, { current: 1 })).toBe("held");
      await store.fail(
        noisy[5]!,
        { tag: "HandlerError", message: "boom", retryable: true },
        { now: 1_002, retryAt: 1_003 },
      );
      const [again] = await store.claim(leaseOf(q, 1, 1_004));
      expect([again?.runId, again?.nodeId, again?.attempt]).toEqual(["noisy", 5, 2]);
      noisy[5] = again!;
      for (const [runId, list] of [
        ["quiet", of("quiet")],
        ["noisy", noisy],
      ] as const) {
        const done = await store.completeMany(
          list.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 0 })),
          reportOf(q, 1_005),
        );
        expect(
          done.every((r) => r.ok),
          runId,
        ).toBe(true);
      }
    });
    expect(shortcut).toEqual(walked);
    const hashes = runHashes(shortcut);
    // (the bodies are ready, not run)
    for (const h of hashes) expect(Number(h.get("ended"))).toBe(40);
    // no run keeps a progress or an error field of a node that succeeded
    for (const h of hashes) expect([...h.keys()].filter((f) => /^[pe]\d+$/.test(f))).toEqual([]);
    expect(hashes.map((h) => h.get("rare") ?? null).sort()).toEqual(["0", null]);
    // the quiet run's completions read none of its members' progress and error fields; the
    // noisy run's read them
    expect(await timesTaken(sent, BARE)).toBe(1);
  });

  it("a member with a dependency list, queued as the same bytes as the members claimed with it, starts the general way: its claim carries its dependency's result", async () => {
    const q = ["default"];
    const { sent } = await compare(async (store) => {
      const client = createClient(store);
      // node 41 (a chain's second step, past 32 nodes: its spec before its record) waits on
      // node 40; once 40 succeeded it is queued as the other members are, behind them
      await client.submit(
        chord(
          [
            ...Array.from({ length: 40 }, (_, i) => step.si(i)),
            chain(step.si(1_000), step.s()),
            ...Array.from({ length: 20 }, (_, i) => step.si(100 + i)),
          ],
          total.s(),
        ),
        { runId: "deps" },
      );
      const first = await store.claim(leaseOf(q, 45, 1_000));
      const root = first.find((c) => c.nodeId === 40);
      expect(root).toBeDefined();
      await store.completeMany(
        [{ claim: root!, result: encode(1_000), nextMax: 0 }],
        reportOf(q, 1_001),
      );
      const rest = await store.claim(leaseOf(q, 100, 1_002));
      const dependent = rest.findIndex((c) => c.nodeId === 41);
      // claimed after the like members of its claim, with node 40's result as its input
      expect(dependent).toBeGreaterThan(2);
      expect(rest[dependent]?.deps.length).toBe(1);
    });
    expect(await timesTaken(sent, "M.wbuf[field] = bytes")).toBeGreaterThan(0);
  });

  it("a chord submitted in chunks keeps marker `w` while its roots are drained, and its members' completions read no progress or error field", async () => {
    const q = ["default"];
    const BARE = 'if M.pre and (M.pre.rare == "0" or M.pre.rare == "w") then';
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      // more than a chunk (250 nodes): committed, its roots drained through the run's work list
      await client.submit(
        chord(
          Array.from({ length: 300 }, (_, i) => step.si(i)),
          total.s(),
        ),
        { runId: "wide" },
      );
      expect(await store.redis.hget("plain:{plain:s00}:run:wide", "rare")).toBe("w");
      for (;;) {
        const claims = await store.claim(leaseOf(q, 100, 1_000));
        if (claims.length === 0) break;
        const done = await store.completeMany(
          claims.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 0 })),
          reportOf(q, 1_001),
        );
        expect(done.every((r) => r.ok)).toBe(true);
      }
    });
    expect(shortcut).toEqual(walked);
    const [hash] = runHashes(shortcut);
    expect([hash?.get("status"), hash?.get("rare")]).toEqual(["succeeded", "w"]);
    expect([...(hash?.keys() ?? [])].filter((f) => /^[pe]\d+$/.test(f))).toEqual([]);
    // every completemany call met the chord's members with the marker standing
    expect(await timesTaken(sent, BARE)).toBeGreaterThanOrEqual(3);
  });

  it("a step that failed for good and was re-driven succeeds as by the general path: its error field deleted", async () => {
    const q = ["default"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submit(chain(step.si(1), step.s(), step.s()), { runId: "redriven" });
      const [head] = await store.claim(leaseOf(q, 1, 1_000));
      const done = await store.complete(head!, encode(1), reportOf(q, 1_001));
      const second = done.ok ? done.next[0] : undefined;
      expect(second?.nodeId).toBe(1);
      // node 1 fails for good (field e1), and the run with it; then it is re-driven
      await store.fail(
        second!,
        { tag: "HandlerError", message: "boom", retryable: false },
        { now: 1_002, retryAt: null },
      );
      expect((await store.redrive("redriven", { now: 1_003 })).ok).toBe(true);
      let [claim] = await store.claim(leaseOf(q, 1, 1_004));
      expect(claim?.nodeId).toBe(1);
      for (let at = 1_005; claim; at++) {
        const next = await store.complete(claim, encode(claim.nodeId), reportOf(q, at));
        claim = next.ok ? next.next[0] : undefined;
      }
    });
    const [run] = runHashes(shortcut);
    expect(run?.get("status")).toBe("succeeded");
    expect(run?.has("e1")).toBe(false);
    expect(shortcut).toEqual(walked);
    // the run's marker went with node 1's error field: its steps after node 0 read the run whole
    expect(run?.has("rare")).toBe(false);
    expect(await timesTaken(sent, LEAN)).toBe(1);
  });

  it("a step that goes the general way after a lean read ends its run with its retention, telling its waiter", async () => {
    // the lean read leaves the run's retention and waiter count unread: the last step (no
    // chain step: it ends the run) reads them before the general path ends the run
    const store = await RedisStore.connect(server.url, { prefix: "later" });
    const k = shardKeys("later", 0);
    const listener = new Redis(server.url);
    try {
      await createClient(store).submit(chain(step.si(1), step.s(), step.s()), {
        runId: "waited",
        retentionMs: 60_000,
      });
      // a client waiting for the run's end, as waitrun.lua counts one
      await raw.hincrby(k.run("waited").record, "w", 1);
      const ended: string[] = [];
      listener.on("message", (_channel: string, runId: string) => ended.push(runId));
      await listener.subscribe(runEndChannel(k.events));
      const q = ["default"];
      let [claim] = await store.claim(leaseOf(q, 1, 1_000));
      for (let at = 1_001; claim; at++) {
        const done = await store.complete(claim, encode(claim.nodeId), reportOf(q, at));
        claim = done.ok ? done.next[0] : undefined;
      }
      // (a message published before this reply reaches the listener before it)
      await listener.ping();
      expect(ended).toEqual(["waited"]);
      // (a retention other than the default: the key expires after it)
      const ttl = await raw.pttl(k.run("waited").record);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      listener.disconnect();
      await store.close();
    }
  });

  it("a run written without the marker (a plain job grown by replace, an older version's) is read whole", async () => {
    const q = ["default"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      await client.submit(chain(step.si(1), step.s(), step.s()), { runId: "bare" });
      // as a version before the marker wrote it: a run of several nodes with none (sent on
      // the store's connection, replayed with its calls)
      await (store.redis as Redis).eval(
        'return redis.call("HDEL", KEYS[1], "rare")',
        1,
        "plain:{plain:s00}:run:bare",
      );
      let [claim] = await store.claim(leaseOf(q, 1, 1_000));
      for (let at = 1_001; claim; at++) {
        const done = await store.complete(claim, encode(claim.nodeId), reportOf(q, at));
        claim = done.ok ? done.next[0] : undefined;
      }
    });
    expect(runHashes(shortcut).map((h) => [h.get("status"), h.has("rare")])).toEqual([
      ["succeeded", false],
    ]);
    expect(shortcut).toEqual(walked);
    expect(await timesTaken(sent, LEAN)).toBe(0);
    // its steps still took the chain step's shortcut (nodes 0 and 1), the run read with a
    // second HMGET for node 1
    const counted = await replay(sent, (name) =>
      scriptSource(name).replace(
        '"ended", digits(ended + 1))',
        '"ended", digits(ended + 1)) redis.call("INCR", "chainsteps")',
      ),
    );
    expect((counted.keys.chainsteps as { value: string } | undefined)?.value).toBe("2");
  });
});

describe("node records met again in a call, on Redis", () => {
  it("a chord's members, queued, started and completed by the hundred, are written as decoded anew each time", async () => {
    const collect = task({ name: "collect", input: Schema.Array(Schema.Int), output: Schema.Int });
    const q = ["default"];
    const { shortcut, walked, sent } = await compare(async (store) => {
      const client = createClient(store);
      // more than a chunk (250 nodes): written in chunks, its members queued by `drain`; its
      // first member of another task, so that none is written queued (Records.ts,
      // leadingRoots: queued-roots.redis.test.ts) and the walk reads and queues them all
      await client.submit(
        chord([step.si(-1), ...Array.from({ length: 300 }, (_, i) => job.si({ i }))], collect.s()),
      );
      // a group of chains: records of one task whose dependents differ, met once each
      await client.submit(group(...[1, 2, 3].map((i) => chain(step.si(i), step.s(), step.s()))));
      let now = 1_000;
      let failed = false;
      for (;;) {
        const claims = await store.claim(leaseOf(q, 64, now++));
        if (claims.length === 0) break;
        const member = (i: number) => claims.find((c) => c.spec.task === "job" && c.nodeId === i);
        // member 50 fails once (field e50) and runs again; member 60 reports progress (p60):
        // their completions delete them (member 50 second among its call's items: neither the
        // first of its run in its call nor the last member)
        const failing = failed ? undefined : member(50);
        if (failing) {
          failed = true;
          await store.fail(
            failing,
            { tag: "HandlerError", message: "boom", retryable: true },
            { now: now++, retryAt: now },
          );
        }
        const reporting = member(60);
        if (reporting) expect(await store.progress(reporting, { current: 1 })).toBe("held");
        // (completed from the fourth claimed on: the first of each call, completed the general
        // way, was started as the one before it, memberStartedLike)
        const items = claims.filter((c) => c !== failing);
        items.push(...items.splice(0, 3));
        const again = items.findIndex((c) => c.spec.task === "job" && c.nodeId === 50);
        if (again >= 0) items.splice(1, 0, ...items.splice(again, 1));
        const done = await store.completeMany(
          items.map((claim) => ({
            claim,
            result: encode(claim.nodeId),
            nextMax: 0,
            // (one member traced: its span id and the run's marker)
            ...(claim.nodeId === 100 && claim.spec.task === "job"
              ? { span: "0123456789abcdef" }
              : {}),
          })),
          reportOf(q, now++),
        );
        expect(done.every((r) => r.ok)).toBe(true);
      }
    });
    expect(runHashes(shortcut).map((h) => h.get("status"))).toEqual(["succeeded", "succeeded"]);
    expect(
      runHashes(shortcut)
        .filter((h) => h.has("t100"))
        .map((h) => [h.get("t100"), h.get("tr"), h.has("e50"), h.has("p60"), h.has("h50")]),
    ).toEqual([["0123456789abcdef", "1", false, false, true]]);
    expect(shortcut).toEqual(walked);

    // the copies were handed out (the members' waiting records as `drain` queues them), and
    // one packing served the members a walk queued
    expect(await timesTaken(sent, "if seen and seen ~= true then")).toBeGreaterThan(250);
    expect(await timesTaken(sent, "if b then")).toBeGreaterThan(250);
    // the members after the second of each claim started as the one before them
    // (memberStartedLike's write), and those after the second of each completion call
    // completed so (all but two or three a call)
    expect(await timesTaken(sent, "M.wbuf[field] = bytes")).toBeGreaterThan(270);
    expect(await timesTaken(sent, "if code ~= nil then")).toBeGreaterThan(270);
    // the members completed after the first of each call took away one of the body's pending
    // dependencies without completeBody (all but the first of each call and the last member)
    expect(await timesTaken(sent, "if code == CODES.OK and more == 0 then")).toBeGreaterThan(250);
    // and started so after the first of each claim (all but five or six), in claim's loop,
    // most of them after a like start went to memberStartedLike at once, each answered in
    // line like the one before it (all but the first of each claim)
    expect(
      await timesTaken(
        sent,
        "if inline and q == lq and attempt == la and stalls == ls and task == lt then",
      ),
    ).toBeGreaterThan(290);
    expect(await timesTaken(sent, "queue = likeQueue")).toBeGreaterThan(270);
  });
});

/**
 * How many times the scripts took branch `branch` (`if … then`) in a replay of `sent` where
 * it counts itself (in the scripts that hold it: at least one of those sent).
 */
const timesTaken = async (sent: ReadonlyArray<Sent>, branch: string): Promise<number> => {
  expect(sent.some((c) => c.source === undefined && scriptSource(c.name).includes(branch))).toBe(
    true,
  );
  const counted = await replay(sent, (name) =>
    scriptSource(name).replace(branch, `${branch} redis.call("INCR", "branch-taken")`),
  );
  return Number((counted.keys["branch-taken"] as { value: string } | undefined)?.value ?? 0);
};

const total = task({ name: "total", input: Schema.Array(Schema.Int), output: Schema.Int });

/**
 * Submits a chord, a chain and two plain jobs, then claims and completes every node as one
 * worker would (handed chain steps completed in turn), on an emptied Redis with the store's
 * scripts as functions or by EVALSHA; `library`: a function library loaded in place of the
 * store's own, under its name. Every key then.
 */
const runAll = async (functions: boolean, library?: string) => {
  await raw.flushall();
  if (library !== undefined) await raw.call("FUNCTION", "LOAD", "REPLACE", library);
  const store = await RedisStore.connect(server.url, { prefix: "kept", functions });
  try {
    const sub = (runId: string, canvas: Parameters<typeof compile>[0]) => ({
      runId,
      dag: compile(canvas),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: 1_000,
      nonce: "n0",
    });
    await store.submit(
      sub(
        "chord",
        chord(
          // (past 32 nodes: their specs before their records, SPEC_IN_RECORD_NODES)
          Array.from({ length: 60 }, (_, i) => job.si({ i })),
          total.s(),
        ),
      ),
    );
    await store.submit(sub("chain", chain(step.si(1), step.s(), step.s(), step.s())));
    // four like chains (their steps handed out from the packing of the last like ones from the
    // third of a call on, LIKE_SUCCESS.step: their records kept under their own tokens)
    await store.submitMany(
      [1, 2, 3, 4].map((i) => sub(`c${i}`, chain(step.si(i), step.s(), step.s()))),
    );
    await store.submitMany([sub("p1", job.si({ i: 1 })), sub("p2", job.si({ i: 2 }))]);
    // six like plain jobs at their defaults (sent short, started from the last like ones' packing
    // from the third of a claim on, LIKE_START.plain: their records kept for their completions
    // under their own tokens)
    await store.submitMany(
      Array.from({ length: 6 }, (_, i) => ({
        ...sub(`q${i}`, job.si({ i: 10 + i })),
        retentionMs: 7 * 86_400_000,
        nonce: "",
        fingerprint: "",
      })),
    );
    let now = 2_000;
    const complete = async (claims: ReadonlyArray<Claim>): Promise<void> => {
      if (claims.length === 0) return;
      const done = await store.completeMany(
        claims.map((claim) => ({ claim, result: encode(claim.nodeId), nextMax: 1 })),
        reportOf(["default"], now++),
      );
      expect(done.every((r) => r.ok)).toBe(true);
      await complete(done.flatMap((r) => (r.ok ? r.next : [])));
    };
    for (let round = 0; round < 20; round++) {
      const claims = await store.claim({
        ...leaseOf(["default"], 8, now++),
        requestId: `q${round}`,
      });
      if (claims.length === 0) break;
      // (from the fourth claimed on: the first of a chord's members a call completes the general
      // way was started as the one before it in its claim, memberStartedLike)
      await complete([...claims.slice(3), ...claims.slice(0, 3)]);
    }
    return await snapshot();
  } finally {
    await store.close();
  }
};

describe("node records kept across calls (includes/record.lua, --@kept)", () => {
  it("a completion that takes its record from the start's packing writes what decoding its bytes does", async () => {
    // as functions, a start's running record is kept for its completion in another call (and
    // records met again, and queued packings, are reused from earlier calls); by EVALSHA each
    // call makes the caches anew, and every completion decodes its record
    const kept = await runAll(true);
    const decoded = await runAll(false);
    expect(runHashes(kept).filter((h) => h.get("status") === "succeeded")).toHaveLength(14);
    expect(kept).toEqual(decoded);
    // the completions did take records from it: a cache whose copies are wrong shows
    const wrong = LIBRARY.source.replace(
      "RUNNING_BYTES[bytes] = kept or copyRecord(r)",
      "RUNNING_BYTES[bytes] = copyRecord(r); RUNNING_BYTES[bytes][3] = 7",
    );
    expect(wrong).not.toBe(LIBRARY.source);
    try {
      expect(await runAll(true, wrong)).not.toEqual(decoded);
    } finally {
      await raw.call("FUNCTION", "LOAD", "REPLACE", LIBRARY.source);
    }
  });
});
