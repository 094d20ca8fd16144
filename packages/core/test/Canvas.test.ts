import { Schema } from "effect";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type Canvas,
  chain,
  chord,
  chunks,
  FailureRecord,
  group,
  InvalidCanvas,
  InvalidInput,
  type Linkable,
  task,
} from "../src/index.ts";
import { compile } from "../src/store/index.ts";

const Counts = Schema.Struct({ spam: Schema.Int, ham: Schema.Int });
const count = task({
  name: "count",
  input: Schema.Struct({ ids: Schema.Array(Schema.Int) }),
  output: Counts,
});
const merge = task({ name: "merge", input: Schema.Array(Counts), output: Schema.Int });
const scale = task({
  name: "scale",
  input: Schema.Struct({ by: Schema.Finite, value: Schema.Int }),
  output: Schema.Finite,
});
const show = task({ name: "show", input: Schema.String, output: Schema.String });

describe("canvas types", () => {
  it("flows outputs through chains, groups and chords", () => {
    const c = chain(
      chord([count.si({ ids: [1] }), count.si({ ids: [2] })], merge.s()),
      scale.s({ by: 2 }),
    );
    expectTypeOf(c).toEqualTypeOf<Linkable<unknown, number>>();
    const g = group(count.si({ ids: [1] }), scale.si({ by: 1, value: 2 }));
    expectTypeOf(g).toExtend<
      Canvas<unknown, [{ readonly spam: number; readonly ham: number }, number]>
    >();
    const settled = chord(group(count.si({ ids: [1] })).settled(), show.si("x"));
    expectTypeOf(settled).toExtend<Canvas<unknown, string>>();
  });

  it("rejects a chain step that does not accept the previous output", () => {
    // @ts-expect-error merge takes Counts[], scale produces a number
    chain(scale.si({ by: 1, value: 1 }), merge.s());
    // @ts-expect-error show takes a string, count produces Counts
    chain(count.si({ ids: [] }), show.s());
    // @ts-expect-error a chord body must accept the header's tuple
    chord([scale.si({ by: 1, value: 1 })], merge.s());
  });
});

describe("compile", () => {
  it("numbers nodes in declaration order with edges and argument shapes", () => {
    const dag = compile(
      chain(chord([count.si({ ids: [1] }), count.si({ ids: [2] })], merge.s()), scale.s({ by: 2 })),
    );
    expect(dag.nodes.map((n) => n.task)).toEqual(["count", "count", "merge", "scale"]);
    expect(dag.nodes[2]!.deps).toEqual([0, 1]);
    expect(dag.nodes[2]!.arg).toEqual({ list: [0, 1] });
    expect(dag.nodes[3]!.arg).toEqual(2);
    expect(dag.nodes[3]!.bind).toEqual({ kind: "field", field: "value" });
    expect(dag.nodes[0]!.dependents).toEqual([2]);
    expect(dag.output).toBe(3);
  });

  it("passes a chain's upstream to every member of a following group", () => {
    const dag = compile(
      chain(scale.si({ by: 1, value: 1 }), group(scale.s({ by: 2 }), scale.s({ by: 3 }))),
    );
    expect(dag.nodes[0]!.dependents).toEqual([1, 2]);
    expect(dag.output).toEqual({ list: [1, 2] });
  });

  it("marks settled edges and tolerant nodes", () => {
    const dag = compile(
      chord(group(count.si({ ids: [1] }), count.si({ ids: [2] })).settled(), show.si("x")),
    );
    expect(dag.nodes[0]!.tolerant).toBe(true);
    expect(dag.nodes[0]!.settledDependents).toEqual([2]);
    expect(dag.nodes[0]!.dependents).toEqual([]);
    expect(dag.nodes[2]!.tolerant).toBe(false);
  });

  it("compiles an empty group and an empty chord header to [], after their upstream", () => {
    const dag = compile(
      chain(
        count.si({ ids: [1] }),
        group(chord([], merge.s()), chain(group(), merge.s()), group().settled()),
        show.si("end"),
      ),
    );
    expect(dag.nodes.map((n) => n.task)).toEqual(["count", "merge", "merge", "show"]);
    // the body of an empty header and the step after an empty group wait on the chain's first step
    expect(dag.nodes[1]!.deps).toEqual([0]);
    expect(dag.nodes[1]!.arg).toEqual({ list: [] });
    expect(dag.nodes[2]!.deps).toEqual([0]);
    // the empty settled group contributes no node of its own: show waits on node 0 through it
    expect(dag.nodes[0]!.dependents).toEqual([1, 2, 3]);
    expect(dag.nodes[3]!.deps).toEqual([1, 2, 0]);
    expect(compile(chord([], merge.s())).nodes[0]!.deps).toEqual([]);
    expect(compile(group(show.si("a"), group())).output).toEqual({ list: [0, { list: [] }] });
  });

  it("gates callbacks through an empty group: a success callback waits on its upstream", () => {
    const ok = compile(chain(show.si("a"), group()).onSuccess(merge.s()));
    expect(ok.nodes.map((n) => [n.task, n.callback])).toEqual([
      ["show", undefined],
      ["merge", "success"],
    ]);
    expect(ok.nodes[1]!.deps).toEqual([0]);
    expect(ok.nodes[1]!.arg).toEqual({ list: [] });
    // an error callback that is a chord with an empty header: its body waits on the failure
    const err = compile(show.si("a").onError(chord([], merge.s())));
    expect(err.nodes[1]!.callback).toBe("error");
    expect(err.nodes[1]!.deps).toEqual([0]);
    expect(err.nodes[0]!.errorDependents).toEqual([1]);
    expect(err.nodes[0]!.dependents).toEqual([]);
  });

  it("types an empty group as [] and accepts a chord body of [] ", () => {
    expectTypeOf(group()).toExtend<Canvas<unknown, []>>();
    expectTypeOf(chord([], merge.s())).toEqualTypeOf<Linkable<unknown, number>>();
    expectTypeOf(group(show.si("a"), group())).toExtend<Canvas<unknown, [string, []]>>();
    // @ts-expect-error show takes a string, an empty header hands its body []
    chord([], show.s());
  });

  it("refuses a canvas with no task, empty chains and over-large canvases", () => {
    expect(() => compile(group())).toThrow(InvalidCanvas);
    expect(() => compile(group(group(), chord([], group())))).toThrow(/no task to run/);
    expect(() => compile({ node: { kind: "chain", steps: [] } })).toThrow(/empty chain/);
    const wide = group(...Array.from({ length: 11 }, () => show.si("a")));
    expect(() => compile(wide, 10)).toThrow(/more than 10 nodes/);
  });

  it("refuses a cycle in the canvas object", () => {
    const steps: unknown[] = [];
    const node = { kind: "chain", steps } as const;
    steps.push(node);
    expect(() => compile({ node: node as never })).toThrow(/cycle/);
  });

  it("refuses a signature that needs an upstream value at the root", () => {
    expect(() => compile(show.s() as never)).toThrow(/has no upstream step/);
  });

  it("refuses an input that fails its schema, with the path of the bad field", () => {
    const bad = count.si({ ids: [1, "x" as never] });
    expect(() => compile(bad)).toThrow(InvalidInput);
    expect(() => compile(bad)).toThrow(/\["ids"\]\[1\]/);
  });

  it("refuses s(bound) that does not leave exactly one field open", () => {
    expect(() => scale.s({} as never)).toThrow(/exactly one input field open, left 2/);
    expect(() => merge.s({} as never)).toThrow(
      /needs an object input schema whose fields can be known/,
    );
  });
});

describe("callbacks", () => {
  const alert = task({ name: "alert", input: FailureRecord, output: Schema.Void });
  const note = task({ name: "note", input: Schema.Int, output: Schema.Void });

  it("types a success callback by the canvas's output and an error callback by FailureRecord", () => {
    const c = chain(count.si({ ids: [1] }), group(count.si({ ids: [2] })))
      .onSuccess(note.si(1))
      .onError(alert.s());
    expectTypeOf(c).toEqualTypeOf<Linkable<unknown, [typeof Counts.Type]>>();
    // @ts-expect-error note takes an Int, the canvas outputs a string
    show.si("x").onSuccess(note.s());
    // @ts-expect-error an error callback takes a FailureRecord
    show.si("x").onError(note.s());
  });

  it("compiles a success callback as a marked side branch: the canvas's output is unchanged", () => {
    const dag = compile(chain(merge.si([]), scale.s({ by: 2 })).onSuccess(show.si("ok")));
    expect(dag.output).toBe(1);
    expect(dag.nodes[2]).toMatchObject({
      task: "show",
      deps: [1],
      arg: null,
      callback: "success",
      tolerant: true,
      path: ["onSuccess"],
    });
    expect(dag.nodes[1]!.dependents).toEqual([2]);
    expect(dag.nodes[0]!.callback).toBeUndefined();
  });

  it("compiles an error callback once per task node, each waiting on that node's failure by an error edge", () => {
    const dag = compile(
      chain(merge.si([]), scale.s({ by: 2 }).onSuccess(show.si("ok"))).onError(
        chain(alert.s(), show.si("after")),
      ),
    );
    // merge, scale, its success callback, then two copies of the error callback (not for the callback)
    expect(dag.nodes.map((n) => [n.task, n.callback, n.path.join("/")])).toEqual([
      ["merge", undefined, "chain:0"],
      ["scale", undefined, "chain:1"],
      ["show", "success", "chain:1/onSuccess"],
      ["alert", "error", "onError:0/chain:0"],
      ["show", "error", "onError:0/chain:1"],
      ["alert", "error", "onError:1/chain:0"],
      ["show", "error", "onError:1/chain:1"],
    ]);
    expect(dag.nodes[0]!.errorDependents).toEqual([3, 4]);
    expect(dag.nodes[1]!.errorDependents).toEqual([5, 6]);
    // the entry of the copy for node 1 waits on node 1's dependencies too, to rebuild its input
    expect(dag.nodes[5]).toMatchObject({
      deps: [0, 1],
      arg: null,
      failure: { node: 1, task: "scale", bind: { kind: "field", field: "value" }, arg: 0 },
    });
    expect(dag.nodes[0]!.dependents).toEqual([1, 5]);
    // every node of the callback canvas waits on the failure: it is skipped with the event
    expect(dag.nodes[6]!.deps).toEqual([5, 1]);
    expect(dag.nodes[6]!.failure).toBeUndefined();
  });
});

describe("chunks", () => {
  const total = task({ name: "total", input: Schema.Array(Schema.Int), output: Schema.Int });

  it("makes one node per chunk of n items, the last one shorter, outputs in order", () => {
    const c = chunks(total, [1, 2, 3, 4, 5], 2);
    expectTypeOf(c).toExtend<Canvas<unknown, number[]>>();
    const dag = compile(c);
    expect(dag.nodes.map((n) => n.bound)).toEqual([[1, 2], [3, 4], [5]]);
    expect(dag.nodes.every((n) => n.deps.length === 0)).toBe(true);
    expect(dag.output).toEqual({ list: [0, 1, 2] });
    // @ts-expect-error total takes a list of Ints
    chunks(total, ["a"], 2);
  });

  it("gives [] for an empty items list: a chord over it hands its body []", () => {
    const c = chunks(total, [], 3);
    expect(c.node).toMatchObject({ kind: "group", members: [] });
    const dag = compile(chord(c, total.s()));
    expect(dag.nodes.map((n) => n.task)).toEqual(["total"]);
    expect(dag.nodes[0]!.arg).toEqual({ list: [] });
    expect(dag.nodes[0]!.deps).toEqual([]);
    // alone it is a canvas with no task: nothing to run
    expect(() => compile(c)).toThrow(/no task to run/);
  });

  it("refuses n that is not an integer ≥ 1, naming it", () => {
    for (const n of [0, -1, 1.5, Number.NaN])
      expect(() => chunks(total, [1], n)).toThrow(/n must be an integer ≥ 1/);
  });
});

describe("paths", () => {
  it("records where each node sits in the canvas", () => {
    const dag = compile(
      chain(chord([show.si("a"), show.si("b")], merge.si([])), group(show.si("c"))),
    );
    expect(dag.nodes.map((n) => n.path.join("/"))).toEqual([
      "chain:0/header:0",
      "chain:0/header:1",
      "chain:0/body",
      "chain:1/group:0",
    ]);
  });
});

describe("options", () => {
  it("merges a signature's retry fields over the task's, field by field", () => {
    const flaky = task({
      name: "flaky",
      input: Schema.Int,
      output: Schema.Int,
      queue: "io",
      retry: { maxAttempts: 5, jitter: "none" },
    });
    const dag = compile(flaky.si(1).with({ retry: { maxAttempts: 2 }, priority: 9 }));
    expect(dag.nodes[0]!.options).toEqual({
      queue: "io",
      priority: 9,
      retry: { maxAttempts: 2, jitter: "none" },
    });
    expect(dag.nodes[0]!.queue).toBe("io");
    expect(dag.nodes[0]!.priority).toBe(9);
  });
});
