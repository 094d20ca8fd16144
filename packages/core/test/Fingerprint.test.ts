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
});
