import { Schema } from "effect";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type ErrorOf,
  failureOf,
  InvalidCanvas,
  MAX_ERROR_DATA_BYTES,
  RunFailed,
  TaskFailure,
  task,
} from "../src/index.ts";
import { failureInfo } from "../src/store/index.ts";

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.Int }) {}
const Limited = Schema.TaggedStruct("Limited", { retryAfterMs: Schema.FiniteFromString });
const lookup = task({
  name: "lookup",
  input: Schema.String,
  output: Schema.Int,
  errors: [NotFound, Limited],
});
const plain = task({ name: "plain", input: Schema.String, output: Schema.Int });

describe("declared errors", () => {
  it("are typed by the task: ErrorOf is the union of the declared schemas' types, never without any", () => {
    expectTypeOf<ErrorOf<typeof lookup>>().toEqualTypeOf<
      NotFound | { readonly _tag: "Limited"; readonly retryAfterMs: number }
    >();
    expectTypeOf<ErrorOf<typeof plain>>().toEqualTypeOf<never>();
    expectTypeOf(failureOf(plain, new Error("x"))).toEqualTypeOf<undefined>();
    expect(plain.errors).toEqual([]);
  });

  it("are refused unless tagged Effect Schemas with distinct tags, naming the task and the entry", () => {
    const declare = (errors: unknown) => () =>
      task({ name: "t", input: Schema.String, output: Schema.Int, errors: errors as never });
    expect(declare("NotFound")).toThrow(/task "t": option errors must be an array/);
    expect(declare([NotFound, Schema.Struct({ id: Schema.Int })])).toThrow(
      /option errors\[1\] must be a tagged Effect Schema.*without a literal _tag/,
    );
    expect(declare([NotFound, "x"])).toThrow(InvalidCanvas);
    expect(declare([Limited, Schema.TaggedStruct("Limited", {})])).toThrow(
      /errors\[1\] repeats the tag "Limited"/,
    );
  });

  it("are recorded encoded by their schema, with their tag; decoded back by failureOf", () => {
    const info = failureInfo(lookup, new NotFound({ id: 4 }));
    expect(info).toMatchObject({
      tag: "NotFound",
      retryable: true,
      data: { _tag: "NotFound", id: 4 },
    });
    const limited = failureInfo(lookup, Limited.make({ retryAfterMs: 9 }));
    expect(limited).toMatchObject({
      tag: "Limited",
      message: "Limited",
      data: { _tag: "Limited", retryAfterMs: "9" },
    });
    expect(failureOf(lookup, limited)).toEqual({ _tag: "Limited", retryAfterMs: 9 });
    const failed = new RunFailed({ runId: "r", status: "failed", error: info });
    expect(failureOf(lookup, failed)).toBeInstanceOf(NotFound);
    // a tag the task does not declare, or data that does not decode
    expect(failureOf(plain, info)).toBeUndefined();
    expect(failureOf(lookup, { ...info, data: { _tag: "NotFound", id: "x" } })).toBeUndefined();
    expect(failureOf(lookup, "NotFound")).toBeUndefined();
  });

  it("record a value the declared schema refuses without data, saying why", () => {
    const bad = failureInfo(lookup, { _tag: "NotFound", id: 1.5 });
    expect(bad.tag).toBe("NotFound");
    expect(bad.data).toBeUndefined();
    expect(bad.message).toMatch(
      /its data does not match the schema task "lookup" declares for NotFound/,
    );
  });
});

describe("structured data of any error", () => {
  it("keeps a TaskFailure's data and an Error's plain-data fields, skipping the rest", () => {
    const tf = failureInfo(
      plain,
      new TaskFailure("declined", { tag: "Declined", data: { code: 51 } }),
    );
    expect(tf).toMatchObject({ tag: "Declined", data: { code: 51 } });
    const e = Object.assign(new Error("bad row"), { row: 3, when: new Date(0), fn: () => 1 });
    expect(failureInfo(plain, e).data).toEqual({ row: 3 });
    expect(failureInfo(plain, new Error("bare")).data).toBeUndefined();
    expect(failureInfo(plain, { code: 7 })).toMatchObject({
      tag: "NonErrorThrown",
      data: { code: 7 },
    });
  });

  it(`drops data over ${MAX_ERROR_DATA_BYTES} bytes encoded, or not plain data, and says so`, () => {
    const big = failureInfo(
      plain,
      new TaskFailure("big", { data: "x".repeat(MAX_ERROR_DATA_BYTES) }),
    );
    expect(big.data).toBeUndefined();
    expect(big.message).toMatch(new RegExp(`more than the ${MAX_ERROR_DATA_BYTES} allowed`));
    const odd = failureInfo(plain, new TaskFailure("odd", { data: { at: new Map() } }));
    expect(odd.data).toBeUndefined();
    expect(odd.message).toMatch(
      /its data was not recorded: it holds an instance of Map at \["at"\]/,
    );
  });
});
