import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonical } from "../src/Fingerprint.ts";
import { chain, group, Schema, task } from "../src/index.ts";
import { compile, fingerprint } from "../src/store/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
});
const inc = task({ name: "inc", input: Schema.Int, output: Schema.Int });

describe("fingerprint", () => {
  it("is the same for every compile of the same canvas and input, 64 hex characters", () => {
    const a = fingerprint(compile(chain(add.si({ a: 1, b: 2 }), inc.s())));
    const b = fingerprint(compile(chain(add.si({ b: 2, a: 1 }), inc.s())));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it("differs when the input, the shape, an option or the task changes", () => {
    const base = fingerprint(compile(chain(add.si({ a: 1, b: 2 }), inc.s())));
    const others = [
      chain(add.si({ a: 1, b: 3 }), inc.s()),
      chain(add.si({ a: 1, b: 2 }), inc.s(), inc.s()),
      chain(add.si({ a: 1, b: 2 }), inc.s().with({ queue: "io" })),
      chain(add.si({ a: 1, b: 2 }), inc.s().with({ retry: { maxAttempts: 9 } })),
      chain(add.si({ a: 1, b: 2 }), group(inc.s())),
      chain(add.si({ a: 1, b: 2 }), group(inc.s()).settled()),
    ];
    const prints = others.map((c) => fingerprint(compile(c)));
    expect(prints).not.toContain(base);
    expect(new Set(prints).size).toBe(others.length);
  });

  it("leaves out what an empty group in the output waits on (`after`): it follows from the nodes' deps", () => {
    const dag = compile(chain(add.si({ a: 1, b: 2 }), group()));
    expect(dag.output).toEqual({ list: [], after: { list: [0] } });
    expect(fingerprint(dag)).toBe(fingerprint({ ...dag, output: { list: [] } }));
    expect(fingerprint(dag)).not.toBe(fingerprint({ ...dag, output: { settled: [] } }));
  });

  it("encodes values canonically: key order, -0 and undefined fields do not matter; types do", () => {
    expect(canonical({ b: 1, a: [2, "x"] })).toBe(canonical({ a: [2, "x"], b: 1 }));
    expect(canonical({ a: 1, b: undefined })).toBe(canonical({ a: 1 }));
    expect(canonical(-0)).toBe(canonical(0));
    expect(canonical("1")).not.toBe(canonical(1));
    expect(canonical(null)).not.toBe(canonical(undefined));
    expect(canonical(new Uint8Array([1, 2]))).not.toBe(canonical([1, 2]));
  });

  it("keeps the text earlier versions wrote: a hole in an array is empty, keys sorted", () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is checked
    expect(canonical([1, , 2])).toBe("[d1,,d2]");
    expect(canonical({ b: [true], a: { c: null } })).toBe('{"a":{"c":n},"b":[t]}');
  });

  it("is the same for a large canvas, hashed in parts, as for its text hashed at once", () => {
    const wide = compile(group(...Array.from({ length: 3_000 }, (_, i) => add.si({ a: i, b: 1 }))));
    const text = [
      `weft-fp/1;${wide.nodes.length};`,
      ...wide.nodes.map(
        (n) =>
          `${canonical([n.task, n.bind, n.bound, n.arg, n.deps, n.options, n.queue, n.priority, n.tolerant])};`,
      ),
      canonical(wide.output),
    ].join("");
    expect(fingerprint(wide)).toBe(createHash("sha256").update(text).digest("hex"));
  });
});
