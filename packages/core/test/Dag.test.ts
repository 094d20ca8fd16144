import { fc, test } from "@fast-check/vitest";
import { Schema } from "effect";
import { describe, expect, it } from "vitest";
import {
  type Canvas,
  chain,
  chord,
  group,
  InvalidCanvas,
  InvalidInput,
  task,
} from "../src/index.ts";
import {
  compile,
  compileWalk,
  MAX_CANVAS_DEPTH,
  MAX_NODES,
  MAX_VALUE_DEPTH,
} from "../src/store/index.ts";

/** What `fn` threw (fails the test when it returns). */
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
};

const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });
const any = task({ name: "any", input: Schema.Unknown, output: Schema.Unknown });

/** `chain(chain(chain(inc.si(0), inc.s()), inc.s()), ...)`, `levels` deep. */
const nestedChain = (levels: number): Canvas<unknown, number> => {
  let c: Canvas<unknown, number> = inc.si(0);
  for (let i = 0; i < levels; i++) c = chain(c, inc.s());
  return c;
};

describe("canvas depth", () => {
  it("refuses a 20,000-level chain with InvalidCanvas naming the limit, not a RangeError", () => {
    const e = thrown(() => compile(nestedChain(20_000)));
    expect(e).toBeInstanceOf(InvalidCanvas);
    expect((e as Error).message).toMatch(
      /canvas nested deeper than 128 levels \(at chain:0\/chain:0\/chain:0\/chain:0\/…\/chain:0\/chain:0\/chain:0\); build long chains as chain\(a, b, c, \.\.\.\)/,
    );
  });

  it("refuses groups nested deeper than the limit", () => {
    let g: Canvas<unknown, unknown> = inc.si(0);
    for (let i = 0; i < 20_000; i++) g = group(g);
    expect(() => compile(chord(g as never, any.s()))).toThrow(/nested deeper than 128 levels/);
  });

  it("compiles a canvas exactly at the limit", () => {
    // the innermost signature sits MAX_CANVAS_DEPTH levels down
    const dag = compile(nestedChain(MAX_CANVAS_DEPTH));
    expect(dag.nodes).toHaveLength(MAX_CANVAS_DEPTH + 1);
    expect(dag.nodes[0]!.path).toHaveLength(MAX_CANVAS_DEPTH);
    let g: Canvas<unknown, unknown> = inc.si(0);
    for (let i = 0; i < MAX_CANVAS_DEPTH - 1; i++) g = group(g);
    expect(compile(chord(g as never, any.s())).nodes).toHaveLength(2);
  });
});

describe("bound inputs", () => {
  const deep = (levels: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < levels; i++) v = [v];
    return v;
  };

  it("refuses a 100,000-level input with InvalidInput naming the limit, not a RangeError", () => {
    const e = thrown(() => compile(any.si(deep(100_000))));
    expect(e).toBeInstanceOf(InvalidInput);
    expect((e as Error).message).toMatch(
      /^input of task "any" is invalid: nested deeper than 256 levels at \[0\]\[0\]/,
    );
    // typed schemas recurse too: the shape is checked before the schema runs
    type Tree = ReadonlyArray<Tree>;
    const TreeSchema: Schema.Codec<Tree> = Schema.Array(
      Schema.suspend((): Schema.Codec<Tree> => TreeSchema),
    );
    const tree = task({ name: "tree", input: TreeSchema, output: Schema.Int });
    expect(() => compile(tree.si(deep(100_000) as Tree))).toThrow(/nested deeper than 256 levels/);
  });

  it("accepts an input exactly at the limit", () => {
    expect(compile(any.si(deep(MAX_VALUE_DEPTH))).nodes[0]!.bound).toEqual(deep(MAX_VALUE_DEPTH));
    expect(() => compile(any.si(deep(MAX_VALUE_DEPTH + 1)))).toThrow(InvalidInput);
  });

  it("refuses a circular input with InvalidInput and the path of the cycle", () => {
    const user: Record<string, unknown> = { name: "ada" };
    user.friends = [{ best: user }];
    const e = thrown(() => compile(any.si(user)));
    expect(e).toBeInstanceOf(InvalidInput);
    expect((e as Error).message).toBe(
      'input of task "any" is invalid: contains a cycle at ["friends"][0]["best"]',
    );
  });

  it("refuses a circular value in a bound field, with the field in the path", () => {
    const sendTo = task({
      name: "send-to",
      input: Schema.Struct({ to: Schema.Unknown, body: Schema.String }),
      output: Schema.Int,
    });
    const loop: unknown[] = [];
    loop.push(loop);
    expect(() => compile(chain(inc.si(0), any.s(), sendTo.s({ to: loop }) as never))).toThrow(
      'contains a cycle at ["to"][0]',
    );
  });

  it("refuses an input that is not plain data once encoded, with its path", () => {
    expect(() => compile(any.si({ format: () => "x" }))).toThrow(
      /input of task "any" is invalid: once encoded by its schema, holds a function at \["format"\]/,
    );
    // Schema.Date encodes to a Date: msgpack would store a timestamp extension the decoder refuses
    const at = task({
      name: "at",
      input: Schema.Struct({ when: Schema.Date }),
      output: Schema.Int,
    });
    expect(() => compile(at.si({ when: new Date(0) }))).toThrow(
      /holds an instance of Date at \["when"\].*Schema\.DateFromString/,
    );
    const at2 = task({
      name: "at2",
      input: Schema.Struct({ when: Schema.DateFromString }),
      output: Schema.Int,
    });
    expect(compile(at2.si({ when: new Date(0) })).nodes[0]!.bound).toEqual({
      when: "1970-01-01T00:00:00.000Z",
    });
  });

  it("reports every failing field of an input, each with its path", () => {
    const signup = task({
      name: "signup",
      input: Schema.Struct({
        user: Schema.Struct({ email: Schema.String, age: Schema.Int }),
        tags: Schema.Array(Schema.String),
        plan: Schema.String,
      }),
      output: Schema.Int,
    });
    const e = thrown(() =>
      compile(signup.si({ user: { email: 1, age: 1.5 }, tags: ["a", 2], plan: "pro" } as never)),
    );
    expect(e).toBeInstanceOf(InvalidInput);
    const message = (e as Error).message;
    expect(message).toContain('at ["user"]["email"]');
    expect(message).toContain('at ["user"]["age"]');
    expect(message).toContain('at ["tags"][1]');
    // s(bound): the bound fields are checked together, with full paths
    const e2 = thrown(() =>
      compile(
        chain(
          any.si("x"),
          signup.s({ user: { email: 1, age: 1.5 }, tags: ["a", 2] } as never) as never,
        ),
      ),
    );
    expect((e2 as Error).message).toContain('at ["user"]["email"]');
    expect((e2 as Error).message).toContain('at ["user"]["age"]');
    expect((e2 as Error).message).toContain('at ["tags"][1]');
  });

  it("names every unknown field of s(bound)", () => {
    const pair = task({
      name: "pair",
      input: Schema.Struct({ a: Schema.Int, b: Schema.Int, c: Schema.Int }),
      output: Schema.Int,
    });
    expect(() =>
      compile(chain(inc.si(0), pair.s({ a: 1, b: 2, x: 1, y: 2 } as never) as never)),
    ).toThrow(/unknown fields "x", "y" \(the input's fields: a, b, c\)/);
  });
});

describe("edges through an empty group", () => {
  /** Each node's [id, dependents, settledDependents]. */
  const edges = (c: Canvas<unknown, unknown>) =>
    compile(c).nodes.map((n) => [n.id, n.dependents, n.settledDependents]);

  it("an empty group after a settled group passes its members' ends on as settled edges", () => {
    expect(edges(chain(group(inc.si(1), inc.si(2)).settled(), group(), any.s()))).toEqual([
      [0, [], [2]],
      [1, [], [2]],
      [2, [], []],
    ]);
    // through two empty groups, and into a chord body
    expect(edges(chord(group(inc.si(1)).settled(), chain(group(), group(), any.s())))).toEqual([
      [0, [], [1]],
      [1, [], []],
    ]);
  });

  it("an empty group after a plain step, or an empty settled group, keeps plain edges", () => {
    expect(edges(chain(inc.si(1), group(), any.s()))).toEqual([
      [0, [1], []],
      [1, [], []],
    ]);
    expect(edges(chain(inc.si(1), group().settled(), any.s()))).toEqual([
      [0, [1], []],
      [1, [], []],
    ]);
  });

  it("an empty group ending a member of a settled group passes its upstream's end on as a settled edge", () => {
    // the member chain(inc, group()) is node 1 then []: node 3 receives node 1's end as settled
    expect(
      edges(chain(inc.si(1), group(chain(inc.s(), group()), inc.s()).settled(), any.s())),
    ).toEqual([
      [0, [1, 2], []],
      [1, [], [3]],
      [2, [], [3]],
      [3, [], []],
    ]);
  });
});

describe("the output of a canvas ending in an empty group", () => {
  const output = (c: Canvas<unknown, unknown>) => compile(c).output;

  it("keeps the steps before the empty group as `after`, settled ones in a settled list last", () => {
    expect(output(chain(inc.si(1), group()))).toEqual({ list: [], after: { list: [0] } });
    expect(output(chain(inc.si(1), inc.s(), group().settled()))).toEqual({
      settled: [],
      after: { list: [1] },
    });
    // through two empty groups; a chord whose body is an empty group after its header
    expect(output(chain(inc.si(1), group(), group()))).toEqual({ list: [], after: { list: [0] } });
    expect(output(chord([inc.si(1), inc.si(2)], group()))).toEqual({
      list: [],
      after: { list: [0, 1] },
    });
    expect(output(chain(group(inc.si(1), inc.si(2)).settled(), group()))).toEqual({
      list: [],
      after: { list: [{ settled: [0, 1] }] },
    });
    // inside a group: only the empty member carries it
    expect(output(group(chain(inc.si(1), group()), inc.si(2)))).toEqual({
      list: [{ list: [], after: { list: [0] } }, 1],
    });
  });

  it("an empty group with no upstream, or a canvas not ending in one, has no `after`; arguments never do", () => {
    expect(output(group(group(), inc.si(1)))).toEqual({ list: [{ list: [] }, 0] });
    expect(output(chain(inc.si(1), group(), any.s()))).toBe(1);
    expect(compile(chain(inc.si(1), group(), any.s())).nodes[1]!.arg).toEqual({ list: [] });
  });
});

describe("a one-signature canvas", () => {
  const keyed = task({
    name: "keyed",
    input: Schema.Struct({ user: Schema.String }),
    output: Schema.Int,
    queue: "q",
    priority: 9,
    retry: { maxAttempts: 3, maxStalls: 2 },
    concurrency: { key: (i: { user: string }) => `u:${i.user}`, max: 1 },
  });

  it("compiles to the node the walk makes of the same signature at the root of a chain", () => {
    const sig = keyed.si({ user: "ada" }).with({ retry: { maxAttempts: 5 }, timeoutMs: 100 });
    const alone = compile(sig);
    const walked = compile(chain(sig, inc.s()));
    const first = walked.nodes[0]!;
    expect(alone.nodes).toEqual([{ ...first, path: [], dependents: [], settledDependents: [] }]);
    expect(alone.nodes[0]!.options).toEqual({
      queue: "q",
      priority: 9,
      retry: { maxAttempts: 5, maxStalls: 2 },
      timeoutMs: 100,
      concurrency: { key: "u:ada", max: 1 },
    });
    expect(alone.output).toBe(0);
    expect(alone.queues).toEqual(["q"]);
    expect(alone.tasks).toEqual([walked.tasks[0]]);
  });

  it("refuses a bad input or a bad hand-built option as the walk does", () => {
    expect(thrown(() => compile(keyed.si({ user: 1 } as never)))).toBeInstanceOf(InvalidInput);
    const node = {
      kind: "sig" as const,
      task: inc,
      bind: { kind: "immutable" as const },
      bound: 1,
      options: { priority: 99 },
    };
    expect(thrown(() => compile({ node }))).toBeInstanceOf(InvalidCanvas);
  });
});

describe("a wide group or chord of si signatures, compiled in one pass", () => {
  const slow = task({
    name: "slow",
    input: Schema.Struct({ i: Schema.Int }),
    output: Schema.Int,
    queue: "io",
    priority: 2,
    retry: { maxAttempts: 3 },
  });
  // a member: one of three tasks, with or without options of its own (some shared)
  const shared = { priority: 9, queue: "fast" } as const;
  const member = fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: -5, max: 5 }),
      fc.integer({ min: 0, max: 3 }),
    )
    .map(([t, i, o]) => {
      const sig = t === 0 ? inc.si(i) : t === 1 ? any.si({ i }) : slow.si({ i });
      return o === 0
        ? sig
        : o === 1
          ? sig.with(shared)
          : o === 2
            ? sig.with({ retry: { maxAttempts: 2 } })
            : sig.with({ priority: 1 });
    });
  const body = fc.constantFrom(any.s(), any.si("x"), any.s().with({ queue: "io" }));
  const flat = fc
    .tuple(
      fc.array(member, { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      fc.option(body, { nil: undefined }),
    )
    .map(([members, settled, b]): Canvas<unknown, unknown> => {
      if (settled) {
        const header = group(...members).settled();
        return b === undefined ? header : chord(header, b);
      }
      const header = group(...members);
      return b === undefined ? header : chord(header, b);
    });

  test.prop([flat])("makes the DAG the walk makes", (canvas) => {
    expect(compile(canvas)).toEqual(compileWalk(canvas.node, MAX_NODES));
  });

  // a chain of signatures, the first an si
  const step = fc.constantFrom(
    any.s(),
    inc.s(),
    any.si("y"),
    any.s().with(shared),
    inc.s().with({ priority: 1 }),
  );
  const steps = fc
    .tuple(member, fc.array(step, { maxLength: 30 }))
    .map(([first, rest]) => chain(first, ...rest) as Canvas<unknown, unknown>);

  test.prop([steps])("a chain of signatures: makes the DAG the walk makes", (canvas) => {
    expect(compile(canvas)).toEqual(compileWalk(canvas.node, MAX_NODES));
  });

  it("leaves a canvas over the node limit, and a bad member, to the walk's errors", () => {
    const wide = chord(
      Array.from({ length: 4 }, (_, i) => inc.si(i)),
      any.s(),
    );
    expect(compile(wide, 5).nodes).toHaveLength(5);
    expect(() => compile(wide, 4)).toThrow("more than 4 nodes; split the work into several runs");
    const bad = group(inc.si(1), inc.si(1.5 as never), inc.si("x" as never));
    const e = thrown(() => compile(bad));
    expect(e).toBeInstanceOf(InvalidInput);
    expect(e).toEqual(thrown(() => compileWalk(bad.node, MAX_NODES)));
  });

  it("shares the members' list of dependents, the body, and keeps each member's own path", () => {
    const dag = compile(chord([inc.si(1), inc.si(2), inc.si(3)], any.s()));
    expect(dag.nodes.map((n) => n.path)).toEqual([
      ["header:0"],
      ["header:1"],
      ["header:2"],
      ["body"],
    ]);
    expect(dag.nodes[0]!.dependents).toBe(dag.nodes[2]!.dependents);
    expect(dag.nodes[0]!.dependents).toEqual([3]);
    expect(Object.isFrozen(dag.nodes[0]!.dependents)).toBe(true);
  });
});
