import { describe, expect, expectTypeOf, it } from "vitest";
import {
  CorruptRecord,
  InvalidSubmitOptions,
  MAX_HEADERS_BYTES,
  type RunHeaders,
  type SubmitOptions,
  type TaskContext,
} from "../src/index.ts";
import { decodeHeaders, encode, encodeHeaders } from "../src/store/index.ts";

describe("run headers", () => {
  it("round-trip a plain object through msgpack; none read as {}", () => {
    const h = { tenant: "acme", trace: { id: "t", sampled: true }, ids: [1, 2], raw: null };
    expect(decodeHeaders(encodeHeaders(h))).toEqual(h);
    expect(decodeHeaders(undefined)).toEqual({});
  });

  it("refuse what is not a small plain object of plain data, naming the option and the path", () => {
    const refused = (h: unknown) => {
      try {
        encodeHeaders(h);
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidSubmitOptions);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused([1])).toMatch(/option headers must be a plain object.*an array/);
    expect(refused(null)).toMatch(/got null/);
    expect(refused(new Map())).toMatch(/an instance of Map/);
    expect(refused({ at: { when: new Date(0) } })).toMatch(/\["at"\]\["when"\]/);
    expect(refused({ big: "x".repeat(MAX_HEADERS_BYTES) })).toMatch(
      new RegExp(`more than the ${MAX_HEADERS_BYTES} allowed`),
    );
    expect(() => encodeHeaders({ ok: "x".repeat(MAX_HEADERS_BYTES - 20) })).not.toThrow();
  });

  it("read bytes that are not an object as a corrupt record", () => {
    expect(() => decodeHeaders(encode([1, 2]))).toThrow(CorruptRecord);
    expect(() => decodeHeaders(new Uint8Array([0xc1]))).toThrow(CorruptRecord);
  });

  it("are typed on submit and in the task context", () => {
    expectTypeOf<SubmitOptions["headers"]>().toEqualTypeOf<RunHeaders | undefined>();
    expectTypeOf<TaskContext["headers"]>().toEqualTypeOf<Readonly<Record<string, unknown>>>();
    expectTypeOf<TaskContext["rootRunId"]>().toEqualTypeOf<string>();
    expectTypeOf<TaskContext["parentNodeIds"]>().toEqualTypeOf<ReadonlyArray<number>>();
    expectTypeOf<TaskContext["queue"]>().toEqualTypeOf<string>();
    expectTypeOf<TaskContext["priority"]>().toEqualTypeOf<number>();
    expectTypeOf<TaskContext["attemptsLeft"]>().toEqualTypeOf<number>();
  });
});
