/**
 * Standard Schema v1 (zod 4, and valibot for the partial-binding rule)
 * beside Effect Schema as a task's input and output: inferred types,
 * validation failures that name the bad field's path, the partial-binding
 * rule on object schemas of each library, and a clear refusal where a
 * schema's keys cannot be known.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { Schema } from "effect";
import * as v from "valibot";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  type Canvas,
  chain,
  group,
  type HandlerFn,
  type InputOf,
  InvalidCanvas,
  InvalidInput,
  type Linkable,
  type OutputOf,
  type Signature,
  task,
} from "../src/index.ts";
import {
  compile,
  decodeWith,
  encodeWith,
  isStandardSchema,
  objectFields,
  validateStandard,
} from "../src/store/index.ts";

const signup = task({
  name: "signup",
  input: z.object({
    user: z.object({ email: z.string().email(), name: z.string() }),
    plan: z.enum(["free", "pro"]),
  }),
  output: z.object({ accountId: z.string() }),
});
const greet = task({
  name: "greet",
  input: z.object({ greeting: z.string(), name: z.string() }),
  output: z.string(),
});
const count = task({ name: "count", input: z.string(), output: z.number().int() });
const effectScale = task({
  name: "scale",
  input: Schema.Struct({ by: Schema.Finite, value: Schema.Finite }),
  output: Schema.Finite,
});

/** A bound input the compiler must refuse at run time, typed as one field bound (what a JavaScript caller can pass). */
const untyped = (bound: object) => bound as { greeting: string } & { by: number };

/** The error `f` throws (fails the test when it does not throw). */
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
};

describe("types inferred from a Standard Schema", () => {
  it("gives the handler its input, the result its output and .s() its signature", () => {
    expectTypeOf<InputOf<typeof signup>>().toEqualTypeOf<{
      user: { email: string; name: string };
      plan: "free" | "pro";
    }>();
    expectTypeOf<OutputOf<typeof signup>>().toEqualTypeOf<{ accountId: string }>();
    expectTypeOf(count.s()).toEqualTypeOf<Signature<string, number>>();
    expectTypeOf(greet.s({ greeting: "hi" })).toEqualTypeOf<Signature<string, string>>();
    expectTypeOf<Parameters<HandlerFn<typeof greet>>[0]>().toEqualTypeOf<{
      greeting: string;
      name: string;
    }>();
    expectTypeOf(chain(greet.si({ greeting: "hi", name: "ann" }), count.s())).toEqualTypeOf<
      Linkable<unknown, number>
    >();
    expectTypeOf(group(count.si("a"), effectScale.si({ by: 2, value: 1 }))).toExtend<
      Canvas<unknown, [number, number]>
    >();
  });

  it("infers a zod transform's input as the stored type and its output as the handler's", () => {
    const parse = task({
      name: "parse",
      input: z.string().transform((s) => s.length),
      output: z.number(),
    });
    expectTypeOf<InputOf<typeof parse>>().toEqualTypeOf<number>();
    expectTypeOf(parse.si).parameter(0).toEqualTypeOf<number>();
  });

  it("rejects mistyped chains and bindings across libraries", () => {
    // @ts-expect-error greet's open field is a string; effectScale produces a number
    chain(effectScale.si({ by: 1, value: 1 }), greet.s({ greeting: "hi" }));
    // @ts-expect-error count takes a string; signup produces an object
    chain(signup.si({ user: { email: "a@b.c", name: "a" }, plan: "pro" }), count.s());
    // @ts-expect-error si takes the whole input
    greet.si({ greeting: "hi" });
    task({
      name: "k",
      input: z.object({ a: z.string() }),
      output: z.string(),
      // @ts-expect-error resultKey sees the typed input: it has no field orderId
      resultKey: (i) => i.orderId,
    });
  });
});

describe("validation with a Standard Schema", () => {
  it("refuses a submitted input with InvalidInput naming every bad field's path", () => {
    const e = thrown(() =>
      compile(signup.si({ user: { email: "nope", name: 7 }, plan: "gold" } as never)),
    );
    expect(e).toBeInstanceOf(InvalidInput);
    const detail = (e as InvalidInput).detail;
    expect(detail).toMatch(/\n {2}at \["user"\]\["email"\]/);
    expect(detail).toMatch(/\n {2}at \["user"\]\["name"\]/);
    expect(detail).toMatch(/\n {2}at \["plan"\]/);
    expect((e as InvalidInput).message).toMatch(/^input of task "signup" is invalid: /);
  });

  it("renders paths as Effect Schema does, array indexes included", () => {
    const tags = z.object({ tags: z.array(z.string()) });
    const standard = decodeWith(tags, { tags: ["a", 2] });
    const effect = decodeWith(Schema.Struct({ tags: Schema.Array(Schema.String) }), {
      tags: ["a", 2],
    });
    expect(standard.ok || standard.detail.split("\n")[1]).toBe('  at ["tags"][1]');
    expect(effect.ok || effect.detail.split("\n")[1]).toBe('  at ["tags"][1]');
  });

  it("stores a value as given (no encode step) and decodes to the schema's validated value", () => {
    const trimmed = z.string().trim();
    expect(encodeWith(trimmed, "  x  ")).toEqual({ ok: true, value: "  x  " });
    expect(decodeWith(trimmed, "  x  ")).toEqual({ ok: true, value: "x" });
    expect(compile(count.si("abc")).nodes[0]!.bound).toBe("abc");
  });

  it("refuses a schema that validates asynchronously, and one that throws, without throwing", () => {
    const later = z.string().refine(async () => true);
    const r = decodeWith(later, "x");
    expect(r.ok).toBe(false);
    expect(r.ok || r.detail).toMatch(/validates asynchronously/);
    const broken: StandardSchemaV1<string> = {
      "~standard": {
        version: 1,
        vendor: "hand",
        validate: () => {
          throw new Error("boom");
        },
      },
    };
    expect(validateStandard(broken, "x")).toEqual({
      ok: false,
      detail: "cannot be validated: boom",
    });
  });

  it("still checks a value's shape before the schema: a cycle is refused, not overflowed", () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    const r = encodeWith(z.any(), loop);
    expect(r.ok).toBe(false);
    expect(r.ok || r.detail).toMatch(/cycle/);
  });
});

describe("the partial-binding rule on object schemas", () => {
  it("binds every field but one of a zod object; the open field is the upstream value", () => {
    const dag = compile(
      chain(greet.si({ greeting: "hi", name: "x" }), greet.s({ greeting: "hi" })),
    );
    expect(dag.nodes[1]!.bind).toEqual({ kind: "field", field: "name" });
    expect(dag.nodes[1]!.bound).toEqual({ greeting: "hi" });
  });

  it("refuses a bad bound field of a zod object with its path, and an unknown field by name", () => {
    const bad = thrown(() =>
      compile(chain(greet.si({ greeting: "a", name: "b" }), greet.s(untyped({ greeting: 5 })))),
    );
    expect(bad).toBeInstanceOf(InvalidInput);
    expect((bad as InvalidInput).detail).toMatch(/\n {2}at \["greeting"\]$/);
    const unknown = thrown(() =>
      compile(
        chain(
          greet.si({ greeting: "a", name: "b" }),
          greet.s(untyped({ greeting: "hi", greting: "x" })),
        ),
      ),
    );
    expect(unknown).toBeInstanceOf(InvalidInput);
    expect((unknown as InvalidInput).detail).toMatch(/unknown field "greting"/);
  });

  it("binds every field but one of a valibot object, validating each bound field with its path", () => {
    const ship = task({
      name: "ship",
      input: v.object({
        carrier: v.picklist(["ups", "dhl"]),
        parcel: v.object({ kg: v.number() }),
      }),
      output: v.string(),
    });
    expectTypeOf(ship.s({ carrier: "ups" })).toEqualTypeOf<Signature<{ kg: number }, string>>();
    const weigh = task({ name: "weigh", input: v.string(), output: v.object({ kg: v.number() }) });
    const dag = compile(chain(weigh.si("box"), ship.s({ carrier: "ups" })));
    expect(dag.nodes[1]!.bind).toEqual({ kind: "field", field: "parcel" });
    const bad = thrown(() =>
      compile(
        chain(weigh.si("box"), ship.s({ carrier: "fedex" } as unknown as { carrier: "ups" })),
      ),
    );
    expect(bad).toBeInstanceOf(InvalidInput);
    expect((bad as InvalidInput).detail).toMatch(/\n {2}at \["carrier"\]$/);
    const whole = decodeWith(ship.input, { carrier: "dhl", parcel: { kg: "3" } });
    expect(whole.ok || whole.detail).toMatch(/\n {2}at \["parcel"\]\["kg"\]$/);
  });

  it("binds an Effect Struct's fields as before", () => {
    const dag = compile(chain(count.si("abc"), effectScale.s({ by: 2 })));
    expect(dag.nodes[1]!.bound).toEqual({ by: 2 });
    expect(() => compile(chain(count.si("abc"), effectScale.s(untyped({ by: "x" }))))).toThrow(
      /at \["by"\]/,
    );
  });

  it("knows the keys of Effect Structs, zod and valibot objects, not of other schemas", () => {
    expect(Object.keys(objectFields(greet.input) ?? {})).toEqual(["greeting", "name"]);
    expect(Object.keys(objectFields(effectScale.input) ?? {})).toEqual(["by", "value"]);
    expect(Object.keys(objectFields(v.object({ a: v.string() })) ?? {})).toEqual(["a"]);
    expect(objectFields(z.union([z.object({ a: z.string() }), z.string()]))).toBeUndefined();
    expect(objectFields(z.string())).toBeUndefined();
  });

  it("refuses s(bound) with InvalidCanvas when the schema's keys cannot be known", () => {
    const opaque: StandardSchemaV1<{ a: string; b: string }> = {
      "~standard": {
        version: 1,
        vendor: "arktype",
        validate: (value) => ({ value: value as { a: string; b: string } }),
      },
    };
    const t = task({ name: "opaque", input: opaque, output: z.string() });
    const e = thrown(() => t.s({ a: "x" }));
    expect(e).toBeInstanceOf(InvalidCanvas);
    expect((e as InvalidCanvas).message).toMatch(
      /opaque\.s\(bound\) needs an object input schema whose fields can be known .* this arktype input schema does not expose its fields: use opaque\.s\(\) or opaque\.si\(input\)/,
    );
    expect(() => t.s()).not.toThrow();
  });
});

describe("declaring a task", () => {
  it("refuses an input or output that is not a schema, naming the option", () => {
    expect(() =>
      task({ name: "x", input: { parse: () => 1 } as never, output: z.string() }),
    ).toThrow(/task "x": option input must be an Effect Schema or a Standard Schema v1/);
    expect(() => task({ name: "x", input: z.string(), output: null as never })).toThrow(
      /task "x": option output must be/,
    );
  });

  it("tells a Standard Schema from an Effect Schema", () => {
    expect(isStandardSchema(z.string())).toBe(true);
    expect(isStandardSchema(Schema.String)).toBe(false);
    expect(isStandardSchema({ "~standard": { version: 2, validate: () => ({}) } })).toBe(false);
  });
});
