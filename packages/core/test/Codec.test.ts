import { fc, test } from "@fast-check/vitest";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { CorruptRecord, InvalidOutput } from "../src/index.ts";
import {
  decode,
  decodeSequence,
  encode,
  encodeRecord,
  MAX_VALUE_DEPTH,
  toErrorInfo,
  valueProblem,
} from "../src/store/index.ts";

const bytes = (hex: string) => Buffer.from(hex, "hex");

/** What `fn` threw (fails the test when it returns). */
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
};

/** Plain data as Weft stores it: what `decode(encode(v))` gives back equal. */
const plain: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.double().filter((n) => !Object.is(n, -0)), // msgpack has no -0 (documented)
    fc.integer(),
    fc.string(),
    fc.uint8Array().map((b) => Buffer.from(b)),
    fc.array(tie("value")),
    fc.dictionary(
      fc.string().filter((k) => k !== "__proto__"),
      tie("value"),
    ),
  ),
})).value;

describe("encode", () => {
  test.prop([plain])("round-trips plain data through decode", (v) => {
    expect(decode(encode(v))).toEqual(v);
  });

  it("round-trips every msgpack format it writes (each string, binary, array, map and number width)", () => {
    const ints = [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53];
    const value = {
      ints: [...ints, ...ints.map((n) => -n - 1)],
      floats: [0.5, 1e300, -1.25, Number.NaN, Number.POSITIVE_INFINITY],
      strings: ["", "a".repeat(31), "b".repeat(32), "c".repeat(256)],
      bytes: [0, 255, 256].map((n) => Buffer.alloc(n, 7)),
      arrays: [[], Array(15).fill(1), Array(16).fill(2)],
      maps: [15, 16].map((n) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])),
      ),
      flags: [true, false, null, undefined],
    };
    expect(decode(encode(value))).toEqual(value);
    // 32-bit lengths, checked without a slow deep comparison
    const big = 65_536;
    const [s, b, a, m] = decode(
      encode([
        "d".repeat(big),
        Buffer.alloc(big, 7),
        Array(big).fill(3),
        Object.fromEntries(Array.from({ length: big }, (_, i) => [`k${i}`, i])),
      ]),
    ) as [string, Buffer, number[], Record<string, number>];
    expect(s === "d".repeat(big)).toBe(true);
    expect(b.equals(Buffer.alloc(big, 7))).toBe(true);
    expect(a.length === big && a.every((x) => x === 3)).toBe(true);
    expect(Object.keys(m).length === big && m.k0 === 0 && m[`k${big - 1}`] === big - 1).toBe(true);
    // cmsgpack (Lua) writes float 32 and 64-bit integers too
    expect(decode(bytes("93ca3fc00000cf0000018bcfe56800d3ffffffffffffffff"))).toEqual([
      1.5, 1_700_000_000_000, -1,
    ]);
  }, 60_000); // a 65,536-key object takes msgpackr a while to read on a loaded machine

  it("refuses a function instead of storing undefined, as a non-retryable InvalidOutput", () => {
    const e = thrown(() => encode(() => 42));
    expect(e).toBeInstanceOf(InvalidOutput);
    expect((e as Error).message).toMatch(
      /holds a function at the top level, which is not plain data/,
    );
    expect(toErrorInfo(e)).toMatchObject({ tag: "InvalidOutput", retryable: false });
  });

  it.each([
    ["a function", { a: [1, { format: () => "x" }] }, '["a"][1]["format"]'],
    ["a symbol", { s: Symbol("x") }, '["s"]'],
    ["a bigint", [1n], "[0]"],
    ["an instance of Date", { at: new Date(0) }, '["at"]'],
    ["an instance of Map", { m: new Map([[1, 2]]) }, '["m"]'],
    ["an instance of Set", [new Set([1])], "[0]"],
    ["an instance of RegExp", { re: /a/ }, '["re"]'],
    ["an instance of TypeError", { err: new TypeError("x") }, '["err"]'],
    [
      "an instance of Point",
      {
        p: new (class Point {
          x = 1;
        })(),
      },
      '["p"]',
    ],
    ["an instance of Float32Array", { f: new Float32Array([1]) }, '["f"]'],
    ["an instance of ArrayBuffer", { b: new ArrayBuffer(2) }, '["b"]'],
  ])("refuses %s, naming its path", (what, value, path) => {
    const e = thrown(() => encode(value));
    expect(e).toBeInstanceOf(InvalidOutput);
    expect((e as Error).message).toContain(`holds ${what} at ${path}, which is not plain data`);
  });

  it("keeps byte arrays, undefined and null-prototype objects", () => {
    const value = {
      bytes: new Uint8Array([1, 2]),
      buffer: Buffer.from([3]),
      gone: undefined,
      list: [1, undefined, null],
      bare: Object.assign(Object.create(null), { x: 1 }),
    };
    expect(decode(encode(value))).toEqual({
      bytes: Buffer.from([1, 2]),
      buffer: Buffer.from([3]),
      gone: undefined,
      list: [1, undefined, null],
      bare: { x: 1 },
    });
    expect(decode(encode(undefined))).toBeUndefined();
  });

  it("refuses a cycle with its path instead of overflowing the stack", () => {
    const order: Record<string, unknown> = { id: 1, lines: [] };
    (order.lines as unknown[]).push({ order });
    const e = thrown(() => encode(order));
    expect(e).toBeInstanceOf(InvalidOutput);
    expect((e as Error).message).toContain('contains a cycle at ["lines"][0]["order"]');
  });

  it("accepts an object shared many times without walking it once per path", () => {
    let v: unknown = { leaf: 1 };
    for (let i = 0; i < 60; i++) v = [v, v]; // 2^60 paths, 61 distinct objects
    expect(valueProblem(v, { plainData: true, maxDepth: 100 })).toBeUndefined();
    expect(valueProblem(v, { plainData: true, maxDepth: 60 })).toMatch(/nested deeper than 60/);
  });

  it("refuses a 100,000-level value with a clear error, not a RangeError", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const e = thrown(() => encode(deep));
    expect(e).toBeInstanceOf(InvalidOutput);
    expect((e as Error).message).toMatch(/nested deeper than 512 levels at \[0\]\[0\]/);
  });
});

describe("encode of a scalar", () => {
  // msgpackr as Codec.ts sets it up: the bytes encode writes for any other value
  const msgpackr = new Packr({
    useRecords: false,
    moreTypes: false,
    int64AsType: "number",
    variableMapSize: true,
  });
  const scalar = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.constantFrom(0, -0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32),
    fc.constantFrom(-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -(2 ** 31), -(2 ** 31) - 1),
    fc.double(),
    fc.constantFrom(null, true, false),
  );
  test.prop([scalar])("writes msgpackr's bytes, which decode reads back", (value) => {
    // (a Buffer, as msgpackr answers: equal to the bytes a store hands back)
    expect(encode(value)).toEqual(msgpackr.pack(value));
    expect(decode(encode(value))).toEqual(Object.is(value, -0) ? 0 : value);
  });
});

describe("encodeRecord", () => {
  // what Weft builds itself: numbers, strings, lists of them (a node record, a dependency list)
  // (no -0: msgpack writes it as the integer 0, encode as well)
  const record = fc.array(
    fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
      fc.string(),
      fc.boolean(),
      fc.array(fc.oneof(fc.integer(), fc.string())),
    ),
  );
  test.prop([record])("writes the bytes encode writes, without its check", (value) => {
    expect(Buffer.from(encodeRecord(value)).toString("hex")).toBe(
      Buffer.from(encode(value)).toString("hex"),
    );
    expect(decode(encodeRecord(value))).toEqual(value);
  });
});

describe("valueProblem", () => {
  it("counts levels of arrays and objects against the limit", () => {
    const nest = (levels: number): unknown => {
      let v: unknown = 1;
      for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { v };
      return v;
    };
    const check = { plainData: false, maxDepth: MAX_VALUE_DEPTH };
    expect(valueProblem(nest(MAX_VALUE_DEPTH), check)).toBeUndefined();
    expect(valueProblem(nest(MAX_VALUE_DEPTH + 1), check)).toMatch(
      /^nested deeper than 256 levels at \["v"\]\[0\]\["v"\].*…\(247 more\)…/,
    );
  });

  it("without plainData, accepts class instances as leaves and finds cycles through plain data", () => {
    const check = { plainData: false, maxDepth: 10 };
    expect(valueProblem({ at: new Date(0), id: 1n, m: new Map() }, check)).toBeUndefined();
    class Node {
      next: unknown = undefined;
    }
    const n = new Node();
    n.next = n; // a schema's business: it is what encodes a Node
    expect(valueProblem({ n }, check)).toBeUndefined();
    const box: { items: unknown[] } = { items: [] };
    box.items.push({ box });
    expect(valueProblem([box], check)).toBe('contains a cycle at [0]["items"][0]["box"]');
  });

  it("finds a cycle of an object that holds itself many times, at once", () => {
    const wide: Record<string, unknown> = {};
    for (let i = 0; i < 10; i++) wide[`k${i}`] = wide;
    expect(valueProblem(wide, { plainData: true, maxDepth: 256 })).toBe(
      'contains a cycle at ["k0"]',
    );
  });

  it("refuses a value past the first levels and values it walks without bookkeeping", () => {
    const check = { plainData: true, maxDepth: 256 };
    const deep = (n: number, leaf: unknown): unknown => (n === 0 ? leaf : [deep(n - 1, leaf)]);
    expect(valueProblem(deep(40, 1n), check)).toMatch(/^holds a bigint at \[0\]/);
    const wide = Array.from({ length: 20_000 }, (_, i) => (i === 19_999 ? () => 1 : i));
    expect(valueProblem(wide, check)).toMatch(/^holds a function at \[19999\]/);
    expect(valueProblem(deep(40, 1), { plainData: true, maxDepth: 39 })).toMatch(
      /^nested deeper than 39 levels/,
    );
  });
});

describe("decode", () => {
  // bytes as msgpackr writes them when every extension is on, as a planted payload would be
  const planter = new Packr({
    moreTypes: true,
    structuredClone: true,
    useBigIntExtension: true,
    useRecords: false,
  });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;

  it.each([
    ["a Set", planter.pack(new Set([1]))],
    ["a RegExp", planter.pack(/a+/g)],
    ["a TypeError", planter.pack(new TypeError("x"))],
    ["a Date (msgpack timestamp)", planter.pack(new Date(0))],
    ["a BigInt", planter.pack(2n ** 70n)],
    ["a Float32Array", planter.pack(new Float32Array([1]))],
    ["a structured-clone cycle", planter.pack(cyclic)],
    ["a record definition", new Packr({ useRecords: true }).pack([{ a: 1 }, { a: 2 }])],
    ["a Date inside a plain object", bytes("81a161d6ff00000000")],
  ])("refuses %s planted in a payload as a corrupt record", (_what, planted) => {
    const e = thrown(() => decode(planted));
    expect(e).toBeInstanceOf(CorruptRecord);
    expect((e as Error).message).toMatch(
      /^corrupt record: a msgpack extension type -?\d+ at offset/,
    );
    expect(toErrorInfo(e)).toMatchObject({ tag: "CorruptRecord", retryable: false });
  });

  it("reads a 64-bit integer beyond 2^53 as a number, never a BigInt", () => {
    expect(decode(bytes("cfffffffffffffffff"))).toBe(2 ** 64);
    expect(decode(bytes("d38000000000000000"))).toBe(-(2 ** 63));
    expect(decode(bytes("cf0020000000000001"))).toBe(2 ** 53); // rounds; only 2^53 is exact
  });

  it.each([
    ["truncated bytes", "92a3616263", /truncated/],
    ["a truncated string header", "da00", /truncated/],
    ["trailing bytes", "0102", /1 bytes after the end/],
    ["the unused byte 0xc1", "91c1", /byte 0xc1 at offset 1/],
    ["an array counting more values than bytes", "ddffffffff01", /counts more values/],
    ["no bytes at all", "", /truncated/],
    ["a cut-off undefined", "92d400", /truncated/],
  ])("refuses %s as a corrupt record", (_what, hex, why) => {
    const e = thrown(() => decode(bytes(hex)));
    expect(e).toBeInstanceOf(CorruptRecord);
    expect((e as Error).message).toMatch(why);
  });

  it("refuses a 100,000-level payload as a corrupt record, not a RangeError", () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])]);
    const e = thrown(() => decode(deep));
    expect(e).toBeInstanceOf(CorruptRecord);
    expect((e as Error).message).toMatch(/nested deeper than 512 levels/);
  });

  // the integers of at most 32 bits, nil and booleans are read without msgpackr: the same values
  const reference = new Packr({ useRecords: false });
  const scalar = fc.oneof(
    fc.integer(),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    fc.integer({ min: -40_000, max: 70_000 }),
    fc.constantFrom(null, true, false, 0, -1, -32, -33, 127, 128, 255, 256, -128, -129),
  );
  test.prop([scalar])("reads an integer, nil or a boolean as msgpackr does", (v) => {
    const packed = reference.pack(v);
    expect(decode(packed)).toBe(reference.unpack(packed));
    expect(decode(packed)).toBe(v);
  });

  test.prop([fc.constantFrom(0xcc, 0xcd, 0xce, 0xd0, 0xd1, 0xd2), fc.integer({ min: 1, max: 8 })])(
    "reads a cut-off or overlong integer as a corrupt record, as before",
    (type, length) => {
      const bytes = Buffer.alloc(length, 7);
      bytes[0] = type;
      const whole = { 204: 2, 205: 3, 206: 5, 208: 2, 209: 3, 210: 5 }[type]!;
      if (length === whole) expect(typeof decode(bytes)).toBe("number");
      else expect(() => decode(bytes)).toThrow(CorruptRecord);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 64 })])(
    "turns any bytes into plain data or a CorruptRecord, nothing else",
    (random) => {
      let value: unknown;
      try {
        value = decode(random);
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptRecord);
        return;
      }
      expect(valueProblem(value, { plainData: true, maxDepth: 512 })).toBeUndefined();
    },
  );
});

describe("decodeSequence", () => {
  test.prop([fc.array(plain, { maxLength: 5 })])(
    "reads back values encoded one after another",
    (values) => {
      expect(decodeSequence(Buffer.concat(values.map((v) => encode(v))))).toEqual(values);
    },
  );

  it.each([
    [
      "a Date (msgpack timestamp) as the second value",
      "01d6ff00000000",
      /^corrupt record: value 2 \(at offset 1\): a msgpack extension type -1/,
    ],
    ["a truncated last value", "0192a361", /^corrupt record: value 2 \(at offset 1\): truncated/],
    ["the unused byte 0xc1", "c1", /value 1 \(at offset 0\): byte 0xc1/],
  ])("refuses %s as a corrupt record", (_what, hex, why) => {
    const e = thrown(() => decodeSequence(bytes(hex)));
    expect(e).toBeInstanceOf(CorruptRecord);
    expect((e as Error).message).toMatch(why);
  });

  test.prop([fc.uint8Array({ maxLength: 64 })])(
    "turns any bytes into plain data values or a CorruptRecord, nothing else",
    (random) => {
      let values: unknown[];
      try {
        values = decodeSequence(random);
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptRecord);
        return;
      }
      for (const v of values) {
        expect(valueProblem(v, { plainData: true, maxDepth: 512 })).toBeUndefined();
      }
    },
  );
});
