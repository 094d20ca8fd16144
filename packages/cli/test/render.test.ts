import { stripVTControlCharacters } from "node:util";
import {
  chain,
  chord,
  FailureRecord,
  group,
  handle,
  type RunSnapshot,
  replace,
  Schema,
  task,
} from "@weft/core";
import { compile, deferred } from "@weft/core/store";
import { MemoryStore } from "@weft/testing";
import { describe, expect, it } from "vitest";
import { formatDuration, renderInspect, renderRuns } from "../src/index.ts";
import { add, boom, count, double, sum } from "./fixtures/tasks.ts";
import { normalise, runToEnd, T0 } from "./support.ts";

const lines = (text: string) => text.trimEnd().split("\n");

describe("renderInspect", () => {
  it("draws a chord inside a chain as a tree, with states, attempts, durations and workers", async () => {
    const { snapshot } = await runToEnd(
      chain(chord([add.si({ a: 1, b: 2 }), add.si({ a: 3, b: 4 })], sum.s()), double.s()),
      { tags: ["demo", "nightly"] },
    );
    expect(lines(renderInspect(normalise(snapshot), { now: T0 }))).toEqual([
      "run RUN  succeeded",
      "  created   2025-01-01 00:00:00.000 UTC",
      "  started   2025-01-01 00:00:00.005 UTC",
      "  finished  2025-01-01 00:00:01.505 UTC",
      "  duration  1.50 s",
      "  nodes     4/4 ended · 4 succeeded",
      "  queues    default",
      "  tags      demo, nightly",
      "",
      "chain",
      "├─ chord",
      "│  ├─ header  2 members · 2 succeeded",
      "│  │  ├─ #0 math.add  succeeded  1 attempt  12 ms  w1",
      "│  │  └─ #1 math.add  succeeded  1 attempt  12 ms  w1",
      "│  └─ body",
      "│     └─ #2 math.sum  succeeded  1 attempt  12 ms  w1",
      "└─ #3 math.double     succeeded  1 attempt  12 ms  w1",
    ]);
  });

  it("shows dynamic nodes under the node that added them, marked, beside the declared plan", async () => {
    const split = task({ name: "math.split", input: Schema.Int, output: Schema.Int });
    const { snapshot } = await runToEnd(chain(split.si(3), double.s()), {
      extra: [
        handle(split, (n) =>
          replace(chord([add.si({ a: n, b: 0 }), add.si({ a: n, b: 1 })], sum.s())),
        ),
      ],
    });
    expect(snapshot.run.status).toBe("succeeded");
    const text = lines(renderInspect(normalise(snapshot), { now: T0 }));
    expect(text.slice(9).map((l) => l.replace(/\s+succeeded.*$/, ""))).toEqual([
      "chain",
      "├─ replaced",
      "│  ├─ #0 math.split (replaced)",
      "│  └─ chord",
      "│     ├─ header  2 members · 2",
      "│     │  ├─ #2 math.add (added by #0)",
      "│     │  └─ #3 math.add (added by #0)",
      "│     └─ body",
      "│        └─ #4 math.sum (added by #0)",
      "└─ #1 math.double",
    ]);
  });

  it("shows the failure, and why each dependent was skipped", async () => {
    const { snapshot } = await runToEnd(
      chain(add.si({ a: 1, b: 2 }), boom.s(), group(double.s(), chain(double.s(), double.s()))),
    );
    expect(snapshot.run.status).toBe("failed");
    expect(lines(renderInspect(normalise(snapshot), { now: T0 }))).toEqual([
      "run RUN  failed",
      "  created   2025-01-01 00:00:00.000 UTC",
      "  started   2025-01-01 00:00:00.005 UTC",
      "  finished  2025-01-01 00:00:01.505 UTC",
      "  duration  1.50 s",
      "  nodes     5/5 ended · 1 succeeded, 1 failed, 3 skipped",
      "  queues    default",
      "  tags      -",
      "  error     NonRetryableError: refusing 3 (node #1 math.boom)",
      "",
      "chain",
      "├─ #0 math.add           succeeded  1 attempt  12 ms  w1",
      "├─ #1 math.boom          failed     1 attempt  12 ms  w1",
      "│    NonRetryableError: refusing 3",
      "└─ group  2 members, 3 nodes · 3 skipped",
      "   ├─ #2 math.double     skipped    -              -  -",
      "   │    Skipped: upstream node 1 (math.boom) failed",
      "   └─ chain",
      "      ├─ #3 math.double  skipped    -              -  -",
      "      │    Skipped: upstream node 1 (math.boom) failed",
      "      └─ #4 math.double  skipped    -              -  -",
      "           Skipped: upstream node 3 (math.double) skipped",
    ]);
  });

  it("shows callbacks beside what they are attached to, with the node each error callback reports on", async () => {
    const alert = task({ name: "ops.alert", input: FailureRecord, output: Schema.String });
    const { snapshot } = await runToEnd(
      chain(add.si({ a: 1, b: 2 }), boom.s())
        .onSuccess(double.s())
        .onError(alert.s()),
      { extra: [handle(alert, async (f) => `${f.task} failed`)] },
    );
    const text = lines(renderInspect(normalise(snapshot), { now: T0 }));
    expect(text).toContain("  error     NonRetryableError: refusing 3 (node #1 math.boom)");
    expect(text.slice(text.indexOf("chain"))).toEqual([
      "chain",
      "├─ #0 math.add                    succeeded  1 attempt  12 ms  w1",
      "├─ #1 math.boom                   failed     1 attempt  12 ms  w1",
      "│    NonRetryableError: refusing 3",
      "├─ #2 math.double (on success)    skipped    -              -  -",
      "│    Skipped: upstream node 1 (math.boom) failed",
      "├─ #3 ops.alert (on error of #0)  skipped    -              -  -",
      "│    Skipped: upstream node 0 (math.add) succeeded",
      "└─ #4 ops.alert (on error of #1)  succeeded  1 attempt  12 ms  w1",
    ]);
  });

  it("collapses a wide group's alike members into summary lines, unless all", async () => {
    const { snapshot } = await runToEnd(
      chord(
        group(
          ...Array.from({ length: 30 }, (_, n) => count.si({ n })),
          ...Array.from({ length: 25 }, (_, n) => double.si(n)),
          add.si({ a: 1, b: 1 }),
        ),
        sum.s(),
      ),
    );
    const tree = lines(renderInspect(normalise(snapshot), { now: T0 })).slice(9);
    expect(tree).toEqual([
      "chord",
      "├─ header  56 members · 56 succeeded",
      "│  ├─ #0 spam.count    succeeded  1 attempt  12 ms  w1",
      "│  ├─ #1 spam.count    succeeded  1 attempt  12 ms  w1",
      "│  ├─ #2 spam.count    succeeded  1 attempt  12 ms  w1",
      "│  ├─ … 27 more spam.count succeeded",
      "│  ├─ #30 math.double  succeeded  1 attempt  12 ms  w1",
      "│  ├─ #31 math.double  succeeded  1 attempt  12 ms  w1",
      "│  ├─ #32 math.double  succeeded  1 attempt  12 ms  w1",
      "│  ├─ … 22 more math.double succeeded",
      "│  └─ #55 math.add     succeeded  1 attempt  12 ms  w1",
      "└─ body",
      "   └─ #56 math.sum     succeeded  1 attempt  12 ms  w1",
    ]);
    const all = lines(renderInspect(normalise(snapshot), { now: T0, all: true }));
    expect(all.filter((l) => l.includes("spam.count"))).toHaveLength(30);
    expect(all.some((l) => l.includes("more"))).toBe(false);
    expect(lines(renderInspect(normalise(snapshot), { now: T0, wide: 60 }))).toEqual(all);
  });

  it("collapses wide groups of nested canvases by shape and states", async () => {
    const { snapshot } = await runToEnd(
      group(...Array.from({ length: 25 }, (_, n) => chain(count.si({ n }), double.s()))),
    );
    const tree = lines(renderInspect(normalise(snapshot), { now: T0 })).slice(9);
    expect(tree[0]).toBe("group  25 members, 50 nodes · 50 succeeded");
    expect(tree.filter((l) => l.includes("└─ chain") || l.includes("├─ chain"))).toHaveLength(3);
    expect(tree.at(-1)).toBe("└─ … 22 more chain [spam.count succeeded, math.double succeeded]");
  });

  it("shows a running node's progress and a retried node's attempts", async () => {
    const slow = task({ name: "slow", input: Schema.Int, output: Schema.Int });
    const flaky = task({
      name: "flaky",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 3, backoff: { kind: "fixed", delayMs: 1 }, jitter: "none" },
    });
    const progressed = deferred();
    const released = deferred();
    let seenRunning: RunSnapshot | undefined;
    const { snapshot } = await runToEnd(chain(flaky.si(1), slow.s()), {
      extra: [
        handle(flaky, (x, ctx) => {
          if (ctx.attempt === 1) throw new Error("transient");
          return x;
        }),
        handle(slow, async (x, ctx) => {
          await ctx.progress({ current: 3, total: 10, message: "halfway there" });
          progressed.resolve();
          await released.promise;
          return x;
        }),
      ],
      during: async (s, runId) => {
        await progressed.promise;
        seenRunning = await s.getRun(runId);
        released.resolve();
      },
    });
    const running = lines(renderInspect(normalise(seenRunning!), { now: T0 + 100 + 250 }));
    expect(running).toContain("  nodes     1/2 ended · 1 succeeded, 1 running");
    expect(running).toContain("├─ #0 flaky  succeeded  2 attempts   12 ms  w1");
    // the attempt history: the failed first attempt, with its error
    expect(
      running.some((l) => /^│ +attempt 1 failed on w1 after \d+ ms: Error: transient$/.test(l)),
    ).toBe(true);
    expect(running).toContain("└─ #1 slow   running    1 attempt   250 ms  w1");
    expect(running).toContain("     progress 3/10 (30%) halfway there");
    expect(running).toContain("  duration  345 ms so far");
    expect(snapshot.nodes[1]!.state).toBe("succeeded");
  });

  it("renders a single-node run without a tree", async () => {
    const { snapshot } = await runToEnd(count.si({ n: 1 }));
    expect(lines(renderInspect(normalise(snapshot), { now: T0 })).at(-1)).toBe(
      "#0 spam.count  succeeded  1 attempt  12 ms  w1",
    );
  });

  it("colours states only when asked", async () => {
    const { snapshot } = await runToEnd(boom.si(1));
    const plain = renderInspect(snapshot, {});
    expect(plain).not.toContain("\u001b[");
    const coloured = renderInspect(snapshot, { color: true });
    expect(coloured).toContain("\u001b[31mfailed");
    expect(stripVTControlCharacters(coloured)).toBe(plain);
  });
});

describe("renderInspect: multi-line errors", () => {
  it("shows every line of a node's error, so an InvalidInput keeps the path of the bad field", async () => {
    const loose = task({ name: "text.loose", input: Schema.Int, output: Schema.Unknown });
    const shout = task({
      name: "text.shout",
      input: Schema.Struct({ text: Schema.String }),
      output: Schema.String,
    });
    // loose's output reaches shout unchecked: shout's attempt refuses it as InvalidInput
    const { snapshot } = await runToEnd(chain(loose.si(3), shout.s() as never), {
      extra: [handle(loose, (n) => ({ text: n })), handle(shout, ({ text }) => text.toUpperCase())],
    });
    expect(snapshot.nodes[1]!.error).toMatchObject({
      tag: "InvalidInput",
      message: 'input of task "text.shout" is invalid: Expected string\n  at ["text"]',
    });
    expect(lines(renderInspect(normalise(snapshot), { now: T0 })).slice(8)).toEqual([
      '  error     InvalidInput: input of task "text.shout" is invalid: Expected string (node #1 text.shout)',
      '              at ["text"]',
      "",
      "chain",
      "├─ #0 text.loose  succeeded  1 attempt  12 ms  w1",
      "└─ #1 text.shout  failed     1 attempt  12 ms  w1",
      '     InvalidInput: input of task "text.shout" is invalid: Expected string',
      '       at ["text"]',
    ]);
  });

  it("shows each attempt's multi-line error whole, cutting long lines and counting lines past 8", async () => {
    const parse = task({
      name: "text.parse",
      input: Schema.Int,
      output: Schema.Int,
      retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 1 }, jitter: "none" },
    });
    const { snapshot } = await runToEnd(parse.si(1), {
      extra: [
        handle(parse, (_, ctx) => {
          if (ctx.attempt === 1) throw new Error("bad row\n  at [2]\n\n");
          const issues = Array.from({ length: 6 }, (_, i) => `issue ${i}\n  at [${i}]`);
          throw new Error(`${"x".repeat(300)}\n${issues.join("\n")}`);
        }),
      ],
    });
    expect(snapshot.run.status).toBe("failed");
    const text = lines(renderInspect(normalise(snapshot), { now: T0 }));
    const long = `Error: ${"x".repeat(192)}…`;
    expect(long).toHaveLength(200);
    // the header shows the run's error the same way, under its first line
    expect(text.slice(8, 16)).toEqual([
      `  error     ${long} (node #0 text.parse)`,
      "            issue 0",
      "              at [0]",
      "            issue 1",
      "              at [1]",
      "            issue 2",
      "              at [2]",
      "            … 6 more lines",
    ]);
    // the attempt history keeps real durations: they are not compared
    expect(text.slice(17).map((l) => l.replace(/after \d+ ms/, "after N ms"))).toEqual([
      "#0 text.parse  failed  2 attempts  12 ms  w1",
      "  attempt 1 failed on w1 after N ms: Error: bad row",
      "    at [2]",
      `  attempt 2 failed on w1 after N ms: ${long}`,
      "  issue 0",
      "    at [0]",
      "  issue 1",
      "    at [1]",
      "  issue 2",
      "    at [2]",
      "  … 6 more lines",
    ]);
  });
});

describe("renderInspect: delayed and expiring nodes", () => {
  it("shows when a delayed node is due and by when a node must start, and counts expired nodes", async () => {
    const store = new MemoryStore();
    const held = task({ name: "held", input: Schema.Int, output: Schema.Int });
    const { runId } = await store.submit({
      runId: "RUN",
      dag: compile(chain(held.si(1).with({ delayMs: 60_000, expiresInMs: 120_000 }), held.s())),
      tags: [],
      idempotencyWindowMs: 0,
      retentionMs: 60_000,
      now: T0,
    });
    const waiting = lines(renderInspect((await store.getRun(runId))!, { now: T0 + 1_000 }));
    expect(waiting).toContain("│    delayed until 2025-01-01 00:01:00.000 UTC (in 59.00 s)");
    expect(waiting).toContain(
      "│    expires at 2025-01-01 00:02:00.000 UTC unless started (in 1 min 59 s)",
    );
    await store.maintain({ now: T0 + 120_000, queues: ["default"] });
    const ended = lines(renderInspect((await store.getRun(runId))!, { now: T0 + 120_000 }));
    expect(ended).toContain("  nodes     2/2 ended · 1 expired, 1 skipped");
    expect(ended.some((l) => l.includes("Expired: not started by its deadline"))).toBe(true);
    await store.close();
  });
});

describe("renderRuns", () => {
  it("tabulates runs: id, first task, status, nodes, created, duration, tags", async () => {
    const ok = normalise(
      (await runToEnd(add.si({ a: 1, b: 2 }), { tags: ["a", "b"] })).snapshot,
      "r-ok",
    );
    const bad = normalise((await runToEnd(boom.si(2))).snapshot, "r-bad");
    expect(
      lines(
        renderRuns(
          [
            { ...bad.run, task: "math.boom" },
            { ...ok.run, task: "math.add" },
          ],
          {
            now: T0,
          },
        ),
      ),
    ).toEqual([
      "ID     TASK       STATUS     NODES  CREATED                      DURATION  TAGS",
      "r-bad  math.boom  failed     1/1    2025-01-01 00:00:00.000 UTC  1.50 s    -",
      "r-ok   math.add   succeeded  1/1    2025-01-01 00:00:00.000 UTC  1.50 s    a,b",
    ]);
    expect(renderRuns([])).toBe("no runs\n");
  });
});

it("formats durations for humans", () => {
  expect([0, 999, 1_000, 61_500, 7_260_000].map(formatDuration)).toEqual([
    "0 ms",
    "999 ms",
    "1.00 s",
    "1 min 1 s",
    "2 h 1 min",
  ]);
});
