import { test } from "@fast-check/vitest";
import { Schema, task } from "@weft/core";
import { compile, encode } from "@weft/core/store";
import { arbCanvas } from "@weft/testing";
import { describe, expect, it } from "vitest";
import {
  decodeError,
  decodeHistory,
  decodeNodeRecord,
  decodeSpec,
  encodeSpec,
  parseQueues,
  parseRunRecord,
} from "../src/Records.ts";

describe("node specs", () => {
  test.prop([arbCanvas({ queues: ["default", "io"], links: true })], { numRuns: 50 })(
    "round-trip through their compact encoding (callbacks, error edges and failure sources too)",
    (canvas) => {
      for (const n of compile(canvas).nodes) expect(decodeSpec(encodeSpec(n))).toEqual(n);
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
    for (const n of dag.nodes) expect(decodeSpec(encodeSpec(n))).toEqual(n);
    // a plain node's spec fits Redis's compact hash encoding (values up to 64 bytes)
    const noop = task({
      name: "noop",
      input: Schema.Struct({ i: Schema.Int }),
      output: Schema.Int,
    });
    expect(encodeSpec(compile(noop.si({ i: 1 })).nodes[0]!).length).toBeLessThanOrEqual(64);
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

  it("keep finishedAt as ms after startedAt once the node started, and read older absolute times as they are", () => {
    const t = 1_767_225_600_000;
    expect(decodeNodeRecord(record(t, 250), undefined, [])).toMatchObject({
      startedAt: t,
      finishedAt: t + 250,
      token: 9,
    });
    expect(decodeNodeRecord(record(t, t + 300), undefined, []).finishedAt).toBe(t + 300);
    expect(decodeNodeRecord(record(0, 1_000), undefined, []).finishedAt).toBe(1_000);
  });

  it("refuse bytes that are not a node record, saying why", () => {
    expect(() => decodeNodeRecord(encode(["zz", 1]), undefined, [])).toThrow();
    expect(() =>
      decodeNodeRecord(encode(["q", "1", 0, 0, 0, 0, "", 0, 1, 1, 5, 0, [], "t"]), undefined, []),
    ).toThrow("field 2 is not a number");
  });
});
