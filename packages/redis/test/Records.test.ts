import { test } from "@fast-check/vitest";
import { compile, Schema, task } from "@weft/core";
import { arbCanvas } from "@weft/testing";
import { describe, expect, it } from "vitest";
import { decodeSpec, encodeSpec } from "../src/Records.ts";

describe("node specs", () => {
  test.prop([arbCanvas({ queues: ["default", "io"] })], { numRuns: 50 })(
    "round-trip through their compact encoding",
    (canvas) => {
      for (const n of compile(canvas).nodes) expect(decodeSpec(encodeSpec(n))).toEqual(n);
    },
  );

  it("keeps every binding kind and option", () => {
    const t = task({
      name: "t",
      input: Schema.Struct({ a: Schema.Int, up: Schema.Unknown }),
      output: Schema.Int,
      retry: { maxAttempts: 2 },
    });
    const dag = compile({
      node: {
        kind: "chain",
        steps: [
          t.si({ a: 1, up: null }).node,
          t.s({ a: 2 }).with({ queue: "io", priority: 9 }).node,
        ],
      },
    });
    for (const n of dag.nodes) expect(decodeSpec(encodeSpec(n))).toEqual(n);
    // a plain node's spec fits Redis's compact hash encoding (values up to 64 bytes)
    const noop = task({
      name: "noop",
      input: Schema.Struct({ i: Schema.Int }),
      output: Schema.Int,
    });
    expect(encodeSpec(compile(noop.si({ i: 1 })).nodes[0]!).length).toBeLessThanOrEqual(64);
  });
});
