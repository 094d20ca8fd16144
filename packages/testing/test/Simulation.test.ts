import { chain, chord, handle, Schema, task } from "@weft/core";
import { describe, expect, it } from "vitest";
import { simulate } from "../src/index.ts";

const add = task({
  name: "add",
  input: Schema.Struct({ a: Schema.Int, b: Schema.Int }),
  output: Schema.Int,
  timeoutMs: 5_000,
  retry: { maxAttempts: 4, backoff: { kind: "fixed", delayMs: 500 }, jitter: "full" },
});
const sum = task({
  name: "sum",
  input: Schema.Array(Schema.Int),
  output: Schema.Int,
  timeoutMs: 5_000,
});
const handlers = [
  handle(add, async ({ a, b }) => a + b),
  handle(sum, async (xs) => xs.reduce((x, y) => x + y, 0)),
];
const canvas = chain(chord([add.si({ a: 1, b: 2 }), add.si({ a: 3, b: 4 })], sum.s()));

describe("simulate", () => {
  it("runs a canvas to the end on virtual time, through crashes, lost reports, duplicates and late reports", async () => {
    const r = await simulate({
      canvas,
      handlers,
      seed: 7,
      faults: {
        deliveries: [["crash-before"], ["late", "duplicate"], ["crash-after"]],
        handlers: [["throw", "hang"], [], ["throw-non-error"]],
      },
    });
    expect(r.ended).toBe(true);
    expect(r.output).toEqual({ ok: true, value: 10 });
    expect(r.store.violations).toEqual([]);
    expect(r.executions.every((e) => e.unmetDeps.length === 0)).toBe(true);
    // every succeeded node was recorded exactly once
    const accepted = r.store.reports
      .filter((x) => x.kind === "complete" && x.accepted)
      .map((x) => x.nodeId);
    expect(accepted.sort()).toEqual([0, 1, 2]);
    // the late report of node 1 was sent and rejected
    expect(r.store.reports.some((x) => x.nodeId === 1 && x.fault === "late" && !x.accepted)).toBe(
      true,
    );
    // a hang ended by the attempt timeout counts as a failed attempt
    expect(r.snapshot.nodes[0]!.history.map((h) => h.error?.tag)).toContain("Timeout");
  });

  it("replays exactly from the same seed and plan", async () => {
    const run = () =>
      simulate({
        canvas,
        handlers,
        seed: 99,
        faults: { handlers: [["throw", "throw"], ["throw"]] },
      });
    const [a, b] = [await run(), await run()];
    const strip = (x: Awaited<ReturnType<typeof run>>) => ({
      nodes: x.snapshot.nodes.map(({ spec: _, ...n }) => n),
      reports: x.store.reports,
      executions: x.executions,
    });
    expect(strip(a)).toEqual(strip(b));
  });
});
