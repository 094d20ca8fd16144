import { fc, test } from "@fast-check/vitest";
import { Schema } from "effect";
import { describe, expect, it } from "vitest";
import { InvalidCanvas, type TaskOptions, task } from "../src/index.ts";
import {
  compile,
  decodeWith,
  encodeWith,
  MAX_VALUE_DEPTH,
  valueProblem,
} from "../src/store/index.ts";

/** Declares a task with options an untyped caller may pass. */
const decl = (options: object) =>
  task({ name: "send-mail", input: Schema.Int, output: Schema.Int, ...(options as TaskOptions) });

const ok = task({ name: "ok", input: Schema.Int, output: Schema.Int });

describe("task options", () => {
  it.each([
    [
      { priority: 99 },
      /option priority must be an integer from 0 \(lowest\) to 15 \(highest\), got 99/,
    ],
    [{ priority: -1 }, /option priority must be .*, got -1/],
    [{ priority: 2.5 }, /option priority must be .*, got 2.5/],
    [{ timeoutMs: -5 }, /option timeoutMs must be a number of ms from 1 to 2147483647 .*, got -5/],
    [{ timeoutMs: 0 }, /option timeoutMs .*, got 0/],
    [{ timeoutMs: Number.POSITIVE_INFINITY }, /option timeoutMs .*, got Infinity/],
    [{ timeoutMs: Number.NaN }, /option timeoutMs .*, got NaN/],
    [{ timeoutMs: 2 ** 31 }, /option timeoutMs .*, got 2147483648/],
    [{ queue: "" }, /option queue must be 1–128 characters of \[A-Za-z0-9_.:-\], got ""/],
    [{ queue: "a,b" }, /option queue .*, got "a,b"/],
    [{ retry: { maxAttempts: 0 } }, /option retry.maxAttempts must be an integer ≥ 1/],
    [{ retry: { maxAttempts: 1.5 } }, /option retry.maxAttempts .*, got 1.5/],
    [{ retry: { maxStalls: -1 } }, /option retry.maxStalls must be an integer ≥ 0, got -1/],
    [
      { retry: { jitter: "some" } },
      /option retry.jitter must be "none", "full" or "equal", got "some"/,
    ],
    [{ retry: { unitMs: 0 } }, /option retry.unitMs must be a finite number of ms ≥ 1, got 0/],
    [{ retry: { retryOn: "Timeout" } }, /option retry.retryOn must be an array of error tags/],
    [
      { retry: { backoff: { kind: "fixed", delayMs: -1 } } },
      /option retry.backoff.delayMs must be a finite number of ms ≥ 0, got -1/,
    ],
    [
      { retry: { backoff: { kind: "exponential", baseMs: 100, factor: 0.5, maxMs: 1000 } } },
      /option retry.backoff.factor must be a finite number ≥ 1, got 0.5/,
    ],
    [
      { retry: { backoff: { kind: "exponential", baseMs: 100, factor: 2 } } },
      /option retry.backoff.maxMs must be .*, got undefined/,
    ],
    [
      { retry: { backoff: { kind: "linear" } } },
      /option retry.backoff.kind must be "fixed" or "exponential", got "linear"/,
    ],
    [{ resultTtlMs: 0 }, /option resultTtlMs must be a positive finite number of ms, got 0/],
    [{ lock: { name: "x", ttlMs: -1 } }, /option lock.ttlMs must be a number of ms from 1 to/],
    [{ lock: { name: "x", waitMs: Number.NaN } }, /option lock.waitMs must be .*, got NaN/],
  ])("task(%o) is refused where it is declared", (options, why) => {
    const declare = () => decl(options);
    expect(declare).toThrow(InvalidCanvas);
    expect(declare).toThrow(/^invalid canvas: task "send-mail": /);
    expect(declare).toThrow(why);
  });

  it("refuses options that are not plain data: they are persisted with every node", () => {
    expect(() => decl({ retry: { maxAttempts: 2, onRetry: () => undefined } })).toThrow(
      /task "send-mail": options must be plain data: holds a function at \["retry"\]\["onRetry"\]/,
    );
    expect(() => ok.si(1).with({ handler: () => 1 } as TaskOptions)).toThrow(
      /task "ok": options must be plain data: holds a function at \["handler"\]/,
    );
  });

  it("accepts the edges of each range", () => {
    const t = decl({
      queue: "mail.out:eu-1",
      priority: 15,
      timeoutMs: 2 ** 31 - 1,
      retry: {
        maxAttempts: 1,
        maxStalls: 0,
        backoff: { kind: "exponential", baseMs: 0, factor: 1, maxMs: 0 },
        jitter: "equal",
        unitMs: 1,
        retryOn: [],
      },
      resultTtlMs: 1,
      lock: { name: "x", ttlMs: 1, waitMs: 0 },
    });
    expect(compile(t.si(1)).nodes[0]!.priority).toBe(15);
    expect(compile(decl({ priority: 0 }).si(1)).nodes[0]!.priority).toBe(0);
    expect(compile(decl({}).si(1)).nodes[0]!.priority).toBe(5);
  });

  it(".with(...) is refused where it is called, naming the task", () => {
    expect(() => ok.si(1).with({ priority: 99 })).toThrow(
      /task "ok": option priority must be an integer from 0 \(lowest\) to 15 \(highest\), got 99/,
    );
    expect(() => ok.si(1).with({ timeoutMs: -5 })).toThrow(/task "ok": option timeoutMs/);
    expect(() => ok.si(1).with({ retry: { maxAttempts: 0 } })).toThrow(/retry.maxAttempts/);
  });

  it("compile refuses an out-of-range option on a hand-built canvas node instead of clamping it", () => {
    const sig = ok.si(1).node;
    const node = { ...sig, options: { priority: 99 } };
    expect(() => compile({ node })).toThrow(/task "ok": option priority must be .*, got 99/);
  });

  it("merges successive .with(...) retry fields field by field", () => {
    const dag = compile(
      ok
        .si(1)
        .with({ retry: { maxAttempts: 2 } })
        .with({ retry: { jitter: "none" } }),
    );
    expect(dag.nodes[0]!.options.retry).toEqual({ maxAttempts: 2, jitter: "none" });
  });
});

describe("decodeWith / encodeWith", () => {
  const User = Schema.Struct({
    email: Schema.String,
    age: Schema.Int,
    tags: Schema.Array(Schema.String),
  });

  it("report every failing field, each with its path", () => {
    const bad = { email: 1, age: 1.5, tags: ["a", 2] };
    for (const r of [decodeWith(User, bad), encodeWith(User, bad)]) {
      expect(r.ok).toBe(false);
      const detail = (r as { detail: string }).detail;
      expect(detail).toContain('at ["email"]');
      expect(detail).toContain('at ["age"]');
      expect(detail).toContain('at ["tags"][1]');
    }
  });

  it("encodeWith reports a cycle or a too-deep value instead of overflowing the schema's recursion", () => {
    type Tree = { readonly children: ReadonlyArray<Tree> };
    const TreeSchema: Schema.Codec<Tree> = Schema.Struct({
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => TreeSchema)),
    });
    const loop: { children: unknown[] } = { children: [] };
    loop.children.push(loop);
    expect(encodeWith(TreeSchema, loop)).toEqual({
      ok: false,
      detail: 'contains a cycle at ["children"][0]',
    });
    let deep: Tree = { children: [] };
    for (let i = 0; i < 100_000; i++) deep = { children: [deep] };
    const r = encodeWith(TreeSchema, deep);
    expect(r.ok).toBe(false);
    expect((r as { detail: string }).detail).toMatch(
      /^nested deeper than 256 levels at \["children"\]/,
    );
  });

  // decodeWith and encodeWith accept a value under Effect's default options (its fast path
  // for structs) and decode a refused one again reporting every issue: the outcome must be
  // the one of decoding with every issue reported
  const schemas = {
    user: User,
    optional: Schema.Struct({
      n: Schema.NumberFromString,
      note: Schema.optional(Schema.String),
      kind: Schema.Literals(["a", "b"]),
    }),
    nested: Schema.Array(
      Schema.Struct({ at: Schema.Finite, inner: Schema.Struct({ i: Schema.Int }) }),
    ),
    int: Schema.Int,
  } as const;
  const values: Record<keyof typeof schemas, fc.Arbitrary<unknown>> = {
    user: fc.record(
      {
        email: fc.oneof(fc.string(), fc.integer()),
        age: fc.oneof(fc.integer(), fc.double()),
        tags: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
        extra: fc.anything(),
      },
      { requiredKeys: ["email", "age", "tags"] },
    ),
    optional: fc.record(
      {
        n: fc.oneof(fc.string(), fc.integer().map(String), fc.integer()),
        note: fc.oneof(fc.string(), fc.constant(undefined), fc.integer()),
        kind: fc.constantFrom("a", "b", "c"),
      },
      { requiredKeys: ["kind"] },
    ),
    nested: fc.array(
      fc.record({
        at: fc.oneof(fc.double(), fc.integer()),
        inner: fc.record({ i: fc.oneof(fc.integer(), fc.double()) }),
      }),
      { maxLength: 3 },
    ),
    int: fc.oneof(fc.integer(), fc.double()),
  };
  const everyIssue = (r: ReturnType<ReturnType<typeof Schema.decodeUnknownResult>>) =>
    r._tag === "Success"
      ? { ok: true, value: r.success }
      : { ok: false, detail: r.failure.message };

  test.prop([
    fc
      .constantFrom(...(Object.keys(schemas) as Array<keyof typeof schemas>))
      .chain((k) => fc.tuple(fc.constant(k), fc.oneof(values[k], fc.anything()))),
  ])("decode and encode as with every issue reported", ([k, value]) => {
    const schema = schemas[k] as Schema.Codec<unknown, unknown>;
    expect(decodeWith(schema, value)).toEqual(
      everyIssue(Schema.decodeUnknownResult(schema, { errors: "all" })(value)),
    );
    // encodeWith checks the value's shape first
    const shape = valueProblem(value, { plainData: false, maxDepth: MAX_VALUE_DEPTH });
    expect(encodeWith(schema, value)).toEqual(
      shape !== undefined
        ? { ok: false, detail: shape }
        : everyIssue(Schema.encodeUnknownResult(schema, { errors: "all" })(value)),
    );
  });

  it("decodeWith turns a schema that throws (here: out of stack) into a failure", () => {
    type Tree = { readonly children: ReadonlyArray<Tree> };
    const TreeSchema: Schema.Codec<Tree> = Schema.Struct({
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => TreeSchema)),
    });
    let deep: Tree = { children: [] };
    for (let i = 0; i < 100_000; i++) deep = { children: [deep] };
    const r = decodeWith(TreeSchema, deep);
    expect(r.ok).toBe(false);
    expect((r as { detail: string }).detail).toMatch(/^cannot be decoded: /);
  });
});
