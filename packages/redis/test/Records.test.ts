import { fc, test } from "@fast-check/vitest";
import { chain, chord, group, Schema, task } from "@weft/core";
import { compile, type DagNode, decode, encode } from "@weft/core/store";
import { arbCanvas } from "@weft/testing";
import { describe, expect, it } from "vitest";
import {
  decodeError,
  decodeHistory,
  decodeNodeRecord,
  decodeShape,
  decodeSpec,
  encodeDepList,
  encodeNodeRecord,
  encodeSpec,
  isWrappedSpec,
  leadingRoots,
  nodeField,
  nodeValue,
  packDeps,
  packShape,
  parseQueues,
  parseRunRecord,
  recordTask,
  resultAfterRecord,
  SPEC_IN_RECORD_NODES,
  storedNode,
  unpackDeps,
  unpackShape,
  unwrapSpec,
} from "../src/Records.ts";

describe("packed dependency lists", () => {
  // lists of ids as a DAG makes them: mostly increasing, with evenly spaced stretches
  const arbIds = fc
    .array(
      fc.oneof(
        fc.nat({ max: 200_000 }).map((d) => [d]),
        fc
          .tuple(
            fc.nat({ max: 200_000 }),
            fc.integer({ min: 1, max: 40 }),
            fc.integer({ min: 1, max: 3 }),
          )
          .map(([from, n, step]) => Array.from({ length: n }, (_, i) => from + i * step)),
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.flat());

  test.prop([arbIds], { numRuns: 300 })(
    "round-trip, and never pack longer than the plain list",
    (ids) => {
      expect(unpackDeps(packDeps(ids))).toEqual(ids);
      expect(unpackDeps(decode(encode(packDeps(ids))))).toEqual(ids);
      expect(encode(packDeps(ids)).length).toBeLessThanOrEqual(encode(ids).length);
    },
  );

  it("keeps a list without a run of 4 evenly spaced ids as it is (a short list packs as before)", () => {
    for (const ids of [[0], [7, 8], [0, 1, 2], [3, 9, 20, 21, 22], [5, 6, 7, 9, 10, 11, 100_000]]) {
      expect(packDeps(ids)).toEqual(ids);
      expect(encodeDepList(ids)).toEqual(encode(ids));
    }
    expect(encodeDepList([])).toBe("");
  });

  it("packs a run of 4 or more evenly spaced ids as one range", () => {
    expect(packDeps([0, 1, 2, 3])).toEqual([[0, 3]]);
    expect(packDeps([9, 1, 3, 5, 7, 8])).toEqual([9, [1, 7, 2], 8]);
    expect(packDeps([4, 3, 2, 1])).toEqual([4, 3, 2, 1]);
    // a 100,000-wide chord body's list, and one of 50,000 chains of two
    const wide = Array.from({ length: 100_000 }, (_, i) => i);
    expect(packDeps(wide)).toEqual([[0, 99_999]]);
    expect(encodeDepList(wide)).toHaveLength(8);
    const tails = Array.from({ length: 50_000 }, (_, i) => 2 * i + 1);
    expect(packDeps(tails)).toEqual([[1, 99_999, 2]]);
  });

  it("keeps a 100,000-wide chord body's spec a few dozen bytes", () => {
    const noop = task({
      name: "noop",
      input: Schema.Struct({ i: Schema.Int }),
      output: Schema.Int,
    });
    const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
    const dag = compile(
      chord(
        Array.from({ length: 100_000 }, (_, i) => noop.si({ i })),
        sum.s(),
      ),
    );
    const body = dag.nodes[100_000]!;
    expect(body.deps).toHaveLength(100_000);
    expect(encodeSpec(body).length).toBeLessThanOrEqual(64);
    expect(decodeSpec(encodeSpec(body), body)).toEqual(body);
  });

  it("packs the id lists of a shape (a run's output, a node's input) the same way", () => {
    const nested = {
      list: [0, 1, 2, 3, { settled: [5, 6, 7, 8], after: 9 }, 10, 11],
      after: { list: [12, 14, 16, 18] },
    };
    expect(packShape(nested)).toEqual({
      list: [[0, 3], { settled: [[5, 8]], after: 9 }, 10, 11],
      after: { list: [[12, 18, 2]] },
    });
    expect(unpackShape(decode(encode(packShape(nested))))).toEqual(nested);
    expect(packShape({ list: [3, 1, 2] })).toEqual({ list: [3, 1, 2] });
    const wide = { list: Array.from({ length: 100_000 }, (_, i) => i) };
    expect(encode(packShape(wide)).length).toBeLessThanOrEqual(16);
    expect(decodeShape(Buffer.from(encode(packShape(wide))))).toEqual(wide);
    // a shape stored unpacked reads as it is; a bad range is not a shape
    expect(decodeShape(Buffer.from(encode(nested)))).toEqual(nested);
    expect(decodeShape(Buffer.from(encode({ list: [[4, 2]] })))).toBeUndefined();
    expect(() => unpackShape({ list: [[0, 5, 2]] })).toThrow("is not a range of node ids");
  });

  it("unpackDeps names what is wrong instead of returning wrong ids", () => {
    expect(() => unpackDeps(7)).toThrow("not a list");
    expect(() => unpackDeps([1, -1])).toThrow("the entry -1 is not a node id");
    expect(() => unpackDeps([1.5])).toThrow("is not a node id");
    for (const bad of [
      [3, 1],
      [1, 1],
      [1, 4, 2],
      [0, 8, 0],
      [-2, 4],
      [0],
      [0, 4, 2, 1],
      ["a", 3],
    ]) {
      expect(() => unpackDeps([bad])).toThrow("is not a range of node ids");
    }
    expect(() =>
      decodeSpec(encode([0, "t", "q", 5, 0, null, null, [[4, 2]], [], [], 0, {}, []])),
    ).toThrow("an edge list is not a list of node ids");
  });
});

describe("node records at submit", () => {
  test.prop([arbCanvas({ queues: ["default", "io"], links: true })], { numRuns: 50 })(
    "encoded once for a run of like nodes, the same bytes as each encoded alone",
    (canvas) => {
      const dag = compile(canvas);
      // (each with a timing object of its own: nothing encoded before stands for it)
      const alone = dag.nodes.map((n) => Buffer.from(encodeNodeRecord(n, dag.queues, {})));
      const timing = {};
      const together = dag.nodes.map((n) => Buffer.from(encodeNodeRecord(n, dag.queues, timing)));
      expect(together).toEqual(alone);
    },
  );

  it("a chord's members share their record's bytes; a member with options of its own has its own", () => {
    const t = task({ name: "t", input: Schema.Int, output: Schema.Int });
    const body = task({ name: "body", input: Schema.Array(Schema.Int), output: Schema.Int });
    const dag = compile(
      chord([t.si(1), t.si(2), t.si(3).with({ priority: 9 }), t.si(4)], body.s()),
    );
    const timing = {};
    const [a, b, c, d] = dag.nodes.map((n) => encodeNodeRecord(n, dag.queues, timing));
    expect(b).toBe(a);
    expect(c).not.toBe(b);
    // (a record's field 11 is the node's priority)
    expect((decode(c!) as unknown[])[10]).toBe(9);
    expect((decode(d!) as unknown[])[10]).toBe(5);
    expect(Buffer.from(d!)).toEqual(Buffer.from(a!));
  });

  it("a node that differs from the one before in one thing that its record holds has bytes of its own", () => {
    const t = task({ name: "t", input: Schema.Unknown, output: Schema.Int });
    const dag = compile(chain(t.si(1), t.s(), t.s()));
    const base = dag.nodes[1]!;
    const variants: DagNode[] = [
      { ...base, task: "u" },
      { ...base, queue: "io" },
      { ...base, priority: 9 },
      { ...base, tolerant: true },
      { ...base, callback: "error" },
      { ...base, options: { retry: { maxStalls: 7 } } },
      { ...base, options: { delayMs: 100 } },
      { ...base, deps: [0, 2] },
      { ...base, dependents: [3] },
      { ...base, dependents: [2, 3] },
      { ...base, settledDependents: [3] },
      { ...base, errorDependents: [3] },
    ];
    const queues = ["default", "io"];
    for (const v of variants) {
      const timing = {};
      encodeNodeRecord(base, queues, timing);
      const after = Buffer.from(encodeNodeRecord(v, queues, timing));
      expect(after, JSON.stringify(v)).toEqual(Buffer.from(encodeNodeRecord(v, queues, {})));
      expect(after, JSON.stringify(v)).not.toEqual(Buffer.from(encodeNodeRecord(base, queues, {})));
    }
  });
});

describe("roots written queued", () => {
  const t = task({ name: "t", input: Schema.Int, output: Schema.Int });
  const u = task({ name: "u", input: Schema.Int, output: Schema.Int });
  const body = task({ name: "body", input: Schema.Array(Schema.Int), output: Schema.Int });
  const queues = ["default"];
  const members = (n: number) => Array.from({ length: n }, (_, i) => t.si(i));

  it("are a run's first roots of one record, that record queued: state q, fencing token 0", () => {
    const dag = compile(chord(members(5), body.s()));
    const { count, record } = leadingRoots(dag.nodes, queues, {});
    expect(count).toBe(5);
    const waiting = decode(encodeNodeRecord(dag.nodes[0]!, queues, {})) as unknown[];
    expect(decode(record)).toEqual(["q", ...waiting.slice(1), 0]);
    // (what the walk writes for a root it queues: decodeNodeRecord reads it so)
    expect(decodeNodeRecord(record, undefined, [])).toMatchObject({ state: "queued", attempts: 0 });
  });

  it("stop at the first root of another record, or at a node with a dependency", () => {
    const other = compile(
      chord([...members(3), t.si(3).with({ priority: 9 }), ...members(2)], body.s()),
    );
    expect(leadingRoots(other.nodes, queues, {}).count).toBe(3);
    const mixed = compile(chord([...members(2), u.si(2), ...members(2)], body.s()));
    expect(leadingRoots(mixed.nodes, queues, {}).count).toBe(2);
    const fanned = compile(group(chain(t.si(0), t.s()), t.si(1)));
    expect(leadingRoots(fanned.nodes, queues, {}).count).toBe(0);
  });

  it("are none for fewer than two, a run with a time limit, or roots with one", () => {
    const none = { count: 0, record: new Uint8Array(0) };
    expect(leadingRoots(compile(chain(t.si(0), t.s())).nodes, queues, {})).toEqual(none);
    const wide = compile(chord(members(4), body.s())).nodes;
    expect(leadingRoots(wide, queues, { notBefore: 5 })).toEqual(none);
    expect(leadingRoots(wide, queues, { expiresAt: 5 })).toEqual(none);
    const delayed = compile(
      chord(
        Array.from({ length: 4 }, (_, i) => t.si(i).with({ delayMs: 100 })),
        body.s(),
      ),
    );
    expect(leadingRoots(delayed.nodes, queues, {})).toEqual(none);
  });
});

describe("node specs", () => {
  test.prop([arbCanvas({ queues: ["default", "io"], links: true })], { numRuns: 50 })(
    "round-trip through their compact encoding (callbacks, error edges and failure sources too)",
    (canvas) => {
      for (const n of compile(canvas).nodes) expect(decodeSpec(encodeSpec(n), n)).toEqual(n);
    },
  );

  it("keeps every binding kind and option", () => {
    const t = task({
      name: "t",
      input: Schema.Struct({ a: Schema.Int, up: Schema.Unknown }),
      output: Schema.Int,
      retry: { maxAttempts: 2 },
    });
    const dag = compile({
      node: {
        kind: "chain",
        steps: [
          t.si({ a: 1, up: null }).node,
          t.s({ a: 2 }).with({ queue: "io", priority: 9 }).node,
        ],
      },
    });
    for (const n of dag.nodes) expect(decodeSpec(encodeSpec(n), n)).toEqual(n);
    // a plain node's spec fits Redis's compact hash encoding (values up to 64 bytes)
    const noop = task({
      name: "noop",
      input: Schema.Struct({ i: Schema.Int }),
      output: Schema.Int,
    });
    expect(encodeSpec(compile(noop.si({ i: 1 })).nodes[0]!).length).toBeLessThanOrEqual(64);
  });

  it("leave out their trailing fields at their default: a root's spec ends at its argument", () => {
    const t = task({ name: "t", input: Schema.Struct({ i: Schema.Int }), output: Schema.Int });
    const root = compile(t.si({ i: 5_000 })).nodes[0]!;
    const bytes = encodeSpec(root);
    expect((decode(bytes) as unknown[]).length).toBe(7);
    expect(decodeSpec(bytes, root)).toEqual(root);
    // the fields up to the last one that is not at its default are kept
    const cases: Array<[typeof root, number]> = [
      [{ ...root, path: ["a"] }, 13],
      [{ ...root, options: { timeoutMs: 1_000 } }, 12],
      [{ ...root, tolerant: true }, 11],
      [{ ...root, dependents: [1] }, 9],
      [{ ...root, deps: [2] }, 8],
    ];
    for (const [n, length] of cases) {
      const b = encodeSpec(n);
      expect((decode(b) as unknown[]).length).toBe(length);
      expect(decodeSpec(b, n)).toEqual(n);
    }
    // each decoded spec has lists and options of its own
    const a = decodeSpec(bytes, root);
    const b = decodeSpec(bytes, root);
    expect(a.dependents).not.toBe(b.dependents);
    expect(a.options).not.toBe(b.options);
    // a spec written whole, as before 2026-12-05, reads the same; one cut before its argument does not
    const whole = encode([null, null, null, 5, 0, { i: 5_000 }, null, [], [], [], 0, {}, []]);
    expect(decodeSpec(whole, root)).toEqual(decodeSpec(bytes, root));
    expect(() => decodeSpec(encode([null, null, null, 5, 0, { i: 1 }]), root)).toThrow(
      "not a node spec array",
    );
  });

  it("leave out the node's id and task, which the field's name and the node record hold", () => {
    const t = task({ name: "reports.render", input: Schema.Int, output: Schema.Int });
    const n = { ...compile(t.si(1)).nodes[0]!, id: 300 };
    const bytes = encodeSpec(n);
    const raw = decode(bytes) as unknown[];
    expect([raw[0], raw[1]]).toEqual([null, null]);
    expect(Buffer.from(bytes).includes("reports.render")).toBe(false);
    // the record names the task; without an owner, a stored spec is not a whole one
    expect(recordTask(encodeNodeRecord(n, ["default"], {}))).toBe("reports.render");
    expect(decodeSpec(bytes, { id: 300, task: "reports.render" })).toEqual(n);
    expect(() => decodeSpec(bytes)).toThrow("the node id is not an integer");
    expect(() => decodeSpec(bytes, { id: 300, task: undefined })).toThrow("the task is not a name");
    // a spec written before 2026-12-05 has both, and keeps them whatever the owner says
    const older = encode([7, "old.task", null, 5, 0, 1, null, [], [], [], 0, {}, []]);
    expect(decodeSpec(older, { id: 8, task: "other" })).toMatchObject({ id: 7, task: "old.task" });
    expect(recordTask(encode([1, 2]))).toBeUndefined();
    expect(recordTask(Buffer.from("garbage"))).toBeUndefined();
  });
});

describe("corrupt records", () => {
  it("decodeSpec names what is wrong instead of returning a wrong spec", () => {
    expect(() => decodeSpec(Buffer.from("garbage"))).toThrow();
    expect(() => decodeSpec(encode(7))).toThrow("not a node spec array");
    expect(() => decodeSpec(encode([0, 5, "q", 5, 0, null, null, [], [], [], 0, {}, []]))).toThrow(
      "the task is not a name",
    );
  });

  it("parseRunRecord never throws: a field it cannot read shows the run failed, naming key and field", () => {
    const rec = parseRunRecord(
      { id: "r", status: "zzz", created: "1", total: "2", ended: "0", tags: "[" },
      null,
      "weft:{weft:s00}:run:r",
    );
    expect(rec.status).toBe("failed");
    expect(rec.error).toMatchObject({ tag: "CorruptRecord", retryable: false });
    expect(rec.error!.message).toBe(
      'corrupt record: key weft:{weft:s00}:run:r field status: unknown status "zzz"',
    );
    expect(rec.tags).toEqual([]);
    const counted = parseRunRecord({ id: "r", status: "running", total: "x", ended: "0" }, null);
    expect(counted).toMatchObject({ status: "failed", total: 0 });
    expect(counted.error!.message).toMatch(/field total: not a count/);
  });

  it("parseRunRecord reads an absent `total` as 1 and an absent `ended` as 0, or `total` once finished", () => {
    const base = { id: "r", created: "1000" };
    // a single-node run since 2026-12-05: neither field, running or finished
    expect(parseRunRecord({ ...base, status: "running" }, null)).toMatchObject({
      total: 1,
      ended: 0,
    });
    expect(parseRunRecord({ ...base, status: "succeeded", finished: "5" }, null)).toMatchObject({
      total: 1,
      ended: 1,
    });
    // cancelled while its node ran: not finished yet, nothing ended
    expect(parseRunRecord({ ...base, status: "cancelled" }, null)).toMatchObject({ ended: 0 });
    // a chain of 3 none of whose nodes ended yet, and one that finished without the field
    expect(parseRunRecord({ ...base, status: "running", total: "3" }, null)).toMatchObject({
      total: 3,
      ended: 0,
    });
    expect(
      parseRunRecord({ ...base, status: "failed", total: "3", finished: "9" }, null),
    ).toMatchObject({ total: 3, ended: 3 });
    // the field, when there, as it is; a present one that is not a count is corrupt
    expect(
      parseRunRecord({ ...base, status: "running", total: "3", ended: "2" }, null),
    ).toMatchObject({ ended: 2 });
    const bad = parseRunRecord({ ...base, status: "running", ended: "x" }, null);
    expect(bad.error!.message).toMatch(/field ended: not a count/);
  });

  it("parseRunRecord reads a run with no `started` as started when created, unless it never left pending", () => {
    const base = { id: "r", created: "1000", total: "1", ended: "0" };
    // written whole by one submit call: no field, it started when it was created
    expect(parseRunRecord({ ...base, status: "running" }, null).startedAt).toBe(1_000);
    expect(parseRunRecord({ ...base, status: "succeeded" }, null).startedAt).toBe(1_000);
    // committed by a later call of a chunked submission
    expect(parseRunRecord({ ...base, status: "running", started: "1500" }, null).startedAt).toBe(
      1_500,
    );
    // still being written, or cancelled while it was (cancel.lua writes an empty field)
    expect(parseRunRecord({ ...base, status: "pending" }, null).startedAt).toBeUndefined();
    expect(
      parseRunRecord({ ...base, status: "cancelled", started: "" }, null).startedAt,
    ).toBeUndefined();
  });

  it("parseRunRecord reads `finished` as ms after `created`, and an older absolute time as it is", () => {
    const t = 1_767_225_600_000;
    const base = { id: "r", status: "succeeded", created: String(t), total: "1", ended: "1" };
    expect(parseRunRecord({ ...base, finished: "48" }, null).finishedAt).toBe(t + 48);
    // ended in the millisecond it was created: still an end
    expect(parseRunRecord({ ...base, finished: "0" }, null).finishedAt).toBe(t);
    // an end stamped by a clock behind the submitter's
    expect(parseRunRecord({ ...base, finished: "-3" }, null).finishedAt).toBe(t - 3);
    // written before 2026-12-05, or when `created` was not a time: an epoch ms
    expect(parseRunRecord({ ...base, finished: String(t + 900) }, null).finishedAt).toBe(t + 900);
    expect(parseRunRecord({ ...base, status: "running" }, null).finishedAt).toBeUndefined();
    expect(parseRunRecord({ ...base, finished: "soon" }, null)).toMatchObject({
      status: "failed",
      error: { message: expect.stringMatching(/field finished: not a time/) },
    });
  });

  it("parseQueues refuses a list that is not queue names", () => {
    expect(parseQueues("default,io")).toEqual(["default", "io"]);
    expect(parseQueues("")).toBeUndefined();
    expect(parseQueues("default,,io")).toBeUndefined();
    expect(parseQueues(Buffer.from([0xff, 0x61]).toString())).toBeUndefined();
    expect(parseQueues("a\u0000b")).toBeUndefined();
  });

  it("decodeError keeps an error's structured data", () => {
    const error = {
      tag: "NotFound",
      message: "m",
      retryable: true,
      data: { _tag: "NotFound", id: 7 },
    };
    expect(decodeError(Buffer.from(encode(error)))).toEqual(error);
    const bare = { tag: "E", message: "m", retryable: false };
    expect(decodeError(Buffer.from(encode(bare)))).toEqual(bare);
  });

  it("decodeError never throws: garbage reads as a CorruptRecord error when it knows where", () => {
    expect(decodeError(Buffer.from("garbage"))).toBeUndefined();
    expect(decodeError(Buffer.from("garbage"), { key: "k", field: "e3" })).toMatchObject({
      tag: "CorruptRecord",
      message: expect.stringMatching(/^corrupt record: key k field e3: /),
    });
  });
});

describe("attempt histories", () => {
  const where = { key: "k", field: "h3" };
  const entry = (attempt: number, error?: object) =>
    encode([attempt, "w1", 1_000, 1_500, "failed", ...(error ? [error] : [])]);
  const corrupt = (why: RegExp) => [
    {
      attempt: 0,
      worker: "",
      startedAt: 0,
      endedAt: 0,
      outcome: "failed",
      error: {
        tag: "CorruptRecord",
        retryable: false,
        message: expect.stringMatching(why),
      },
    },
  ];

  it("read every appended entry, errors included", () => {
    const boom = { tag: "Boom", message: "no", retryable: true };
    const bytes = Buffer.concat([entry(1, boom), entry(2)]);
    expect(decodeHistory(bytes, where)).toEqual([
      {
        attempt: 1,
        worker: "w1",
        startedAt: 1_000,
        endedAt: 1_500,
        outcome: "failed",
        error: boom,
      },
      { attempt: 2, worker: "w1", startedAt: 1_000, endedAt: 1_500, outcome: "failed" },
    ]);
    expect(decodeHistory(Buffer.alloc(0), where)).toEqual([]);
  });

  it("go through the plain-data decoder: a planted extension type (a msgpack timestamp) is corrupt, never a Date", () => {
    // an entry whose worker is a timestamp extension (fixext 4, type -1)
    const planted = Buffer.from("9501d6ff00000000cd03e8cd05dca66661696c6564", "hex");
    expect(decodeHistory(Buffer.concat([entry(1), planted]), where)).toEqual(
      corrupt(
        /^corrupt record: key k field h3: not an attempt history: value 2 .*extension type -1/,
      ),
    );
  });

  it("show garbage, a truncated entry or an entry of the wrong shape as corrupt, naming key and field, without throwing", () => {
    expect(decodeHistory(Buffer.from("garbage"), where)).toEqual(
      corrupt(/field h3: not an attempt history: entry 1 is not an attempt array$/),
    );
    expect(decodeHistory(entry(1).subarray(0, 6), where)).toEqual(
      corrupt(/field h3: not an attempt history: value 1 \(at offset 0\): truncated msgpack/),
    );
    expect(decodeHistory(encode([1, "w", 0, 0, "exploded"]), where)).toEqual(
      corrupt(/entry 1 has an unknown outcome "exploded"$/),
    );
    expect(decodeHistory(encode([1, "w", 0, 0, "failed", "oops"]), where)).toEqual(
      corrupt(/entry 1 has an error that is not a map$/),
    );
    // without a place to name, unreadable history shows as none
    expect(decodeHistory(Buffer.from("garbage"))).toEqual([]);
  });
});

describe("node records", () => {
  const record = (started: number, finished: number) =>
    encode(["s", 1, 0, 0, started, finished, "w", 0, 1, 1, 5, 0, [], "t", 9]);

  test.prop([
    fc.option(fc.uint8Array({ maxLength: 70_000 }), { nil: undefined }),
    fc.option(fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer())), { nil: undefined }),
  ])(
    "give the result after a record, past a spec of any length, as nodeField reads it",
    (spec, result) => {
      const rec = record(1_767_225_600_000, 250);
      const after = result === undefined ? rec : Buffer.concat([rec, encode(result)]);
      const field = Buffer.from(spec === undefined ? after : nodeValue(spec, after));
      const got = resultAfterRecord(field);
      expect(got).toEqual(nodeField(field).result);
      if (result !== undefined) expect(decode(got!)).toEqual(result);
      else expect(got).toBeUndefined();
    },
  );

  it("keep finishedAt as ms after startedAt once the node started, and read older absolute times as they are", () => {
    const t = 1_767_225_600_000;
    expect(decodeNodeRecord(record(t, 250), undefined, [])).toMatchObject({
      startedAt: t,
      finishedAt: t + 250,
      token: 9,
    });
    expect(decodeNodeRecord(record(t, t + 300), undefined, []).finishedAt).toBe(t + 300);
    expect(decodeNodeRecord(record(0, 1_000), undefined, []).finishedAt).toBe(1_000);
    // ended in the millisecond it started: a delta of 0, still an end
    expect(decodeNodeRecord(record(t, 0), undefined, []).finishedAt).toBe(t);
    // running: no end yet
    const running = encode(["r", 1, 0, 0, t, 0, "w", 0, 1, 1, 5, 0, [], "t", 9]);
    expect(decodeNodeRecord(running, undefined, []).finishedAt).toBeUndefined();
  });

  it("keep a succeeded node's result after the record; any other record with bytes after it is refused", () => {
    const t = 1_767_225_600_000;
    const done = Buffer.concat([record(t, 250), encode({ ok: 1 })]);
    expect(nodeField(done).result).toEqual(encode({ ok: 1 }));
    expect(decodeNodeRecord(done, undefined, [])).toMatchObject({ state: "succeeded" });
    expect(recordTask(done)).toBe("t");
    expect(nodeField(record(t, 250)).result).toBeUndefined();
    const running = encode(["r", 1, 0, 0, t, 0, "w", 0, 1, 1, 5, 0, [], "t", 9]);
    expect(() => decodeNodeRecord(Buffer.concat([running, encode(1)]), undefined, [])).toThrow(
      "trailing bytes after the record",
    );
  });

  it("keep a large run's spec before the record as a msgpack bin (1, 2 and 4-byte lengths), a small run's apart; read both", () => {
    const t = 1_767_225_600_000;
    const mail = task({ name: "mail", input: Schema.String, output: Schema.Int });
    const sum = task({ name: "sum", input: Schema.Array(Schema.Int), output: Schema.Int });
    const dag = compile(
      chord(
        Array.from({ length: 40 }, (_, i) => mail.si(`to${i}`)),
        sum.s(),
      ),
    );
    const node = dag.nodes[3]!;
    const spec = encodeSpec(node);
    const rec = record(t, 250);
    // a run of more than 32 nodes: one field; of 32 or fewer: the spec apart, in s<i>
    const large = storedNode(node, dag.queues, {}, SPEC_IN_RECORD_NODES + 1);
    const small = storedNode(node, dag.queues, {}, SPEC_IN_RECORD_NODES);
    expect(large.spec).toBe("");
    expect(nodeField(large.field).spec).toEqual(spec);
    expect(small).toEqual({ field: nodeField(small.field).record, spec });
    expect(nodeField(small.field).spec).toBeUndefined();
    for (const length of [3, 300, 70_000]) {
      const bytes = Buffer.alloc(length, 7);
      const field = nodeValue(bytes, Buffer.concat([rec, encode(5)]));
      expect(field[0]).toBe(length < 256 ? 0xc4 : length < 65_536 ? 0xc5 : 0xc6);
      const split = nodeField(field);
      expect([split.spec, split.record, split.result]).toEqual([bytes, rec, encode(5)]);
      expect(isWrappedSpec(field.subarray(0, field.length - rec.length - 1))).toBe(true);
      expect(unwrapSpec(field.subarray(0, field.length - rec.length - 1))).toEqual(bytes);
    }
    // the spec as a script hands it (wrapped) and as s<i> keeps it decode alike
    const handed = nodeField(large.field).spec!;
    const wrapped = large.field.subarray(
      0,
      large.field.length - nodeField(large.field).record.length,
    );
    expect(decodeSpec(wrapped, { id: 3, task: "mail" })).toEqual(decodeSpec(handed, node));
    expect(decodeSpec(wrapped, { id: 3, task: "mail" })).toEqual(node);
    expect(recordTask(large.field)).toBe("mail");
    // a spec whose length runs past the field: refused, not read into the record
    expect(() => nodeField(Buffer.concat([Buffer.from([0xc4, 200]), rec]))).toThrow(
      "the spec's bytes end inside it",
    );
    expect(() => nodeField(Buffer.concat([Buffer.from([0xc5, 1, 0]), rec]))).toThrow(
      "the spec's bytes end inside it",
    );
    expect(() => unwrapSpec(Buffer.from([0xc4, 5, 1]))).toThrow("the spec's bytes end inside it");
    // (a header cut short, of 2 and 4 length bytes)
    expect(() => unwrapSpec(Buffer.from([0xc5, 0]))).toThrow("the spec's bytes end inside it");
    expect(() => unwrapSpec(Buffer.from([0xc6, 0, 0, 0]))).toThrow(
      "the spec's bytes end inside it",
    );
    expect(unwrapSpec(Buffer.from([0xc6, 0, 0, 0, 2, 7, 8]))).toEqual(Buffer.from([7, 8]));
    expect(() => unwrapSpec(Buffer.concat([Buffer.from([0xc4, 1, 1]), encode(1)]))).toThrow(
      "bytes after the spec",
    );
  });

  it("refuse bytes that are not a node record, saying why", () => {
    expect(() => decodeNodeRecord(encode(["zz", 1]), undefined, [])).toThrow();
    expect(() =>
      decodeNodeRecord(encode(["q", "1", 0, 0, 0, 0, "", 0, 1, 1, 5, 0, [], "t"]), undefined, []),
    ).toThrow("field 2 is not a number");
  });
});
