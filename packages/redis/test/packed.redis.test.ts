/**
 * The `"packed"` argument kind (Packed.ts): the list a script reads with
 * `cmsgpack.unpack` holds, item by item, the bytes ioredis would have sent
 * as separate arguments. And the other way: a list a script answers packed
 * (`cmsgpack.pack`) reads, with `unpackReply`, as Redis would have answered
 * the list itself.
 */
import { fc, test } from "@fast-check/vitest";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PackedItem, packList, unpackReply } from "../src/Packed.ts";

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis({ port: server.port, host: "127.0.0.1" });
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

/** The list as the Lua reads it, sent back item by item. */
const unpackedByLua = async (items: ReadonlyArray<PackedItem>): Promise<Buffer[]> =>
  (await redis.callBuffer(
    "EVAL",
    "local t = cmsgpack.unpack(ARGV[1]); local n = 0; for _ in pairs(t) do n = n + 1 end; if n ~= #t then return redis.error_reply('not a list') end; return t",
    0,
    packList(items),
  )) as Buffer[];

/** An item as ioredis sends it as an argument of its own. */
const asSent = (item: PackedItem): Buffer =>
  typeof item === "string" || typeof item === "number"
    ? Buffer.from(String(item), "utf8")
    : Buffer.from(item);

/** Lengths at the edges of msgpack's `str` headers (fixstr, str 8, str 16, str 32). */
const edgeLength = fc.constantFrom(0, 1, 31, 32, 255, 256, 65_535, 65_536);

const item: fc.Arbitrary<PackedItem> = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ maxLength: 300 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.maxSafeInteger(),
  fc.uint8Array({ maxLength: 300 }),
  edgeLength.map((n) => new Uint8Array(n).fill(0xff)),
  edgeLength.map((n) => "é".repeat(Math.floor(n / 2))),
  // short ASCII is written by a loop behind a 1-byte header: around its bound (31 units),
  // and ASCII that turns non-ASCII at its last character (the loop's check bails late)
  fc
    .tuple(
      fc.string({ minLength: 26, maxLength: 36 }),
      fc.constantFrom("", "\x7f", "\x80", "é", "✓", "😀", "\ud800"),
    )
    .map(([ascii, last]) => ascii + last),
);

describe("packList", () => {
  test.prop([fc.array(item, { maxLength: 40 })], { numRuns: 150 })(
    "the Lua list holds each item's bytes as ioredis would send it",
    async (items) => {
      const got = await unpackedByLua(items);
      expect(got.map((b) => b.toString("hex"))).toEqual(
        items.map((x) => asSent(x).toString("hex")),
      );
    },
  );

  it("holds lists longer than msgpack's small and 16-bit array headers", async () => {
    for (const n of [15, 16, 65_535, 65_536, 70_000]) {
      const items = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : `n${i}`));
      const got = await unpackedByLua(items);
      expect(got.length).toBe(n);
      expect(got[n - 1]!.toString()).toBe(String(items[n - 1]));
      expect(got[0]!.toString()).toBe("0");
    }
  });
});

describe("unpackReply", () => {
  /** A Lua value: what a script's reply may hold. */
  type LuaValue =
    | { readonly int: number }
    | { readonly float: number }
    | { readonly str: Uint8Array }
    | { readonly bool: boolean }
    | { readonly nil: true }
    | { readonly list: ReadonlyArray<LuaValue> };

  /** `v` as a Lua expression, its strings passed as arguments (a list with a nil in it is a table with a hole). */
  const lua = (v: LuaValue, args: Uint8Array[]): string => {
    if ("int" in v) return String(v.int);
    if ("float" in v) return String(v.float);
    if ("str" in v) return `ARGV[${args.push(v.str)}]`;
    if ("bool" in v) return String(v.bool);
    if ("nil" in v) return "nil";
    return `{${v.list.map((x) => lua(x, args)).join(", ")}}`;
  };

  /** `v` made in Lua, answered both as it is and packed (`{ v, cmsgpack.pack(v) }`). */
  const bothWays = async (v: LuaValue) => {
    const args: Uint8Array[] = [];
    const expr = lua(v, args);
    return (await redis.callBuffer(
      "EVAL",
      `local v = ${expr} return { v, cmsgpack.pack(v) }`,
      0,
      ...args.map((a) => Buffer.from(a)),
    )) as [unknown, Buffer];
  };

  const scalar: fc.Arbitrary<LuaValue> = fc.oneof(
    // around msgpack's integer formats: fixint, 8, 16, 32 and 64 bits, both signs
    fc
      .constantFrom(
        0,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        2 ** 32 - 1,
        2 ** 32,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        -(2 ** 31),
        -(2 ** 31) - 1,
      )
      .map((int) => ({ int })),
    fc.integer().map((int) => ({ int })),
    // (larger integers than a claim's tokens and counts will reach)
    fc.integer({ min: -(2 ** 40), max: 2 ** 48 }).map((int) => ({ int })),
    // a fraction: Redis answers its integer part
    fc.constantFrom(1.5, -1.5, 0.25, 1e10 + 0.5).map((float) => ({ float })),
    fc.uint8Array({ maxLength: 300 }).map((str) => ({ str })),
    // around msgpack's str 8 and str 16 headers (longer ones: the test below)
    fc.constantFrom(31, 32, 255, 256).map((n) => ({ str: new Uint8Array(n).fill(0x61) })),
    fc.boolean().map((bool) => ({ bool })),
    fc.constant({ nil: true as const }),
  );
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      scalar,
      fc.array(tie("value"), { maxLength: 12 }).map((list) => ({ list })),
    ) as fc.Arbitrary<LuaValue>,
  }));

  test.prop([fc.array(value, { minLength: 1, maxLength: 30 })], { numRuns: 200 })(
    "reads a Lua list packed by cmsgpack as Redis answers the list: nested lists, holes, booleans, fractions",
    async (items) => {
      const [asReply, packed] = await bothWays({ list: items });
      expect(unpackReply(packed)).toEqual(asReply);
    },
  );

  it("reads lists longer than msgpack's small and 16-bit array headers, and strings past str 16's", async () => {
    for (const n of [15, 16, 65_535, 65_536]) {
      const [asReply, packed] = (await redis.callBuffer(
        "EVAL",
        "local t = {} for i = 1, ARGV[1] do t[i] = i end return { t, cmsgpack.pack(t) }",
        0,
        n,
      )) as [unknown, Buffer];
      expect(unpackReply(packed)).toEqual(asReply);
    }
    for (const n of [65_535, 65_536]) {
      const [asReply, packed] = await bothWays({ list: [{ str: new Uint8Array(n).fill(0x62) }] });
      expect(unpackReply(packed)).toEqual(asReply);
    }
  });

  it("refuses what is no value a script answers", () => {
    // a map keyed by a string, an extension, a list cut short, bytes after the list
    for (const hex of ["81a161a162", "91d40100", "92a3616263", "9200", "910000"])
      expect(() => unpackReply(Buffer.from(hex, "hex"))).toThrow(/packed reply/);
  });
});
