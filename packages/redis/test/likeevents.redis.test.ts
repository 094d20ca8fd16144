/**
 * A script call's events entry (lua/includes/events.lua) with like events
 * written short: whatever order a call's plain jobs' events (`plainEvents`),
 * chain steps' events (`stepEvents`; both write a run like the previous one
 * as its id alone, no table made), node transitions (`nodeEventOf`, which
 * writes one like the event before it as its node alone) and other events
 * (`eventOf`) come in, the entry is byte for byte the one
 * `eventOf` alone writes, and it reads back (src/EventEntries.ts) as the
 * events in the order written: each run's in its group, the groups in the
 * order of each run's first event, at the time of that event.
 */
import { fc, test } from "@fast-check/vitest";
import { decode } from "@weft/core/store";
import { describe, expect } from "vitest";
import { entryEvents } from "../src/EventEntries.ts";
import { type AnyScriptSpec, assembleScript } from "../src/Scripts.ts";
import { raw } from "./fixtures/server.ts";

const probe: AnyScriptSpec = {
  name: "likeevents",
  keys: ["events"],
  perQueue: false,
  argv: {},
  codes: ["OK"],
  decode: (code) => code,
};

const KEY = "likeevents:{likeevents:s00}:events";

type Ev =
  | readonly [letter: "q" | "r" | "s", node: number, task: string, attempt: number]
  | readonly [letter: "f" | "y", node: number, task: string, attempt: number, tag: string]
  | readonly [letter: "E", status: "succeeded" | "failed"]
  | readonly [letter: "l", node: number];

type Op =
  | {
      readonly plain: true;
      readonly run: string;
      readonly ms: number;
      readonly letter: "q" | "r" | "s";
      readonly task: string;
      readonly attempt: number;
      readonly ended: boolean;
    }
  | {
      readonly plain: "step";
      readonly run: string;
      readonly ms: number;
      /** Node n's success, then its dependent d's queuing and start (attempt + 1). */
      readonly n: number;
      readonly task: string;
      readonly attempt: number;
      readonly d: number;
      readonly dtask: string;
      readonly dattempt: number;
    }
  | { readonly plain: false; readonly run: string; readonly ms: number; readonly ev: Ev }
  | {
      readonly plain: "node";
      readonly run: string;
      readonly ms: number;
      readonly ev: readonly [letter: "q" | "r" | "s", node: number, task: string, attempt: number];
      /** The same transition of the nodes after it up to this one too (`nodeEventOf`'s `last`). */
      readonly last?: number;
    };

/** A node transition's events: node n's, then each of the nodes after it up to `last`. */
const nodesOf = (op: Extract<Op, { plain: "node" }>): Ev[] => {
  const [letter, n, task, attempt] = op.ev;
  return Array.from({ length: (op.last ?? n) - n + 1 }, (_, i) => [letter, n + i, task, attempt]);
};

/** A chain step's three events. */
const stepOf = (op: Extract<Op, { plain: "step" }>): Ev[] => [
  ["s", op.n, op.task, op.attempt],
  ["q", op.d, op.dtask, op.dattempt],
  ["r", op.d, op.dtask, op.dattempt + 1],
];

const lua = (v: string | number) => (typeof v === "string" ? JSON.stringify(v) : String(v));

/** The op as Lua: `plainEvents`, `stepEvents` or `nodeEventOf` when `short`, else the `eventOf` calls it stands for. */
const call = (op: Op, short: boolean): string => {
  const at = `K.events, 10000, ${lua(op.run)}, ${op.ms}`;
  const eventOf = (ev: Ev) => `eventOf(${at}, { ${ev.map(lua).join(", ")} })`;
  if (!op.plain) return eventOf(op.ev);
  if (op.plain === "node")
    return short
      ? `nodeEventOf(${at}, ${[...op.ev, ...(op.last === undefined ? [] : [op.last])].map(lua).join(", ")})`
      : nodesOf(op).map(eventOf).join("\n");
  if (op.plain === "step")
    return short
      ? `stepEvents(${at}, ${[op.n, op.task, op.attempt, op.d, op.dtask, op.dattempt].map(lua).join(", ")})`
      : stepOf(op).map(eventOf).join("\n");
  if (short)
    return `plainEvents(${at}, ${lua(op.letter)}, ${lua(op.task)}, ${op.attempt}, ${op.ended})`;
  const first = `eventOf(${at}, { ${lua(op.letter)}, 0, ${lua(op.task)}, ${op.attempt} })`;
  return op.ended ? `${first}\neventOf(${at}, { "E", "succeeded" })` : first;
};

/** Runs `ops` in one script call; the entry it wrote: its id and field `b`'s bytes. */
const entryOf = async (ops: ReadonlyArray<Op>, short: boolean) => {
  await raw.del(KEY, `${KEY}:n`);
  const body = ["--@include events", ...ops.map((op) => call(op, short)), "return { R.OK }"];
  await raw.eval(assembleScript(probe, body.join("\n")), 1, KEY);
  const entries = await raw.xrangeBuffer(KEY, "-", "+");
  expect(entries).toHaveLength(1);
  const [id, fields] = entries[0]!;
  return { id: id.toString(), fields };
};

/** The events `ops` make, in the order an entry holds them: by run, in the order of each run's first event. */
const expected = (ops: ReadonlyArray<Op>) => {
  const groups = new Map<string, { ms: number; events: Ev[] }>();
  for (const op of ops) {
    const g = groups.get(op.run) ?? { ms: op.ms, events: [] };
    groups.set(op.run, g);
    if (op.plain === "step") g.events.push(...stepOf(op));
    else if (op.plain === "node") g.events.push(...nodesOf(op));
    else if (op.plain) {
      g.events.push([op.letter, 0, op.task, op.attempt]);
      if (op.ended) g.events.push(["E", "succeeded"]);
    } else g.events.push(op.ev);
  }
  const KINDS = { q: "queued", r: "started", s: "succeeded", f: "failed", y: "retrying" } as const;
  return [...groups].flatMap(([runId, g]) =>
    g.events.map((ev) => {
      const base = { runId, at: g.ms };
      switch (ev[0]) {
        case "E":
          return { ...base, kind: "run-ended", status: ev[1] };
        case "l":
          return { ...base, kind: "lease-expired", nodeId: ev[1] };
        default: {
          const [letter, nodeId, task, attempt, errorTag] = ev;
          return {
            ...base,
            kind: KINDS[letter],
            nodeId,
            task,
            attempt,
            ...(errorTag === undefined ? {} : { errorTag }),
          };
        }
      }
    }),
  );
};

const runId = fc.constantFrom("a", "b", "c", "d", "e");
const ms = fc.constantFrom(5, 6);
const task = fc.constantFrom("t", "u");
const attempt = fc.constantFrom(0, 1);
const ev: fc.Arbitrary<Ev> = fc.oneof(
  fc.tuple(fc.constantFrom("q" as const, "r" as const, "s" as const), fc.nat(2), task, attempt),
  fc.tuple(
    fc.constantFrom("f" as const, "y" as const),
    fc.nat(2),
    task,
    attempt,
    fc.constantFrom("Boom", "Other"),
  ),
  fc.tuple(fc.constant("E" as const), fc.constantFrom("succeeded" as const, "failed" as const)),
  fc.tuple(fc.constant("l" as const), fc.nat(2)),
);
/** A plain job's events but for its run: two such per case, so that like runs are common. */
const shape = fc.record({
  ms,
  letter: fc.constantFrom("q" as const, "r" as const, "s" as const),
  task,
  attempt,
  ended: fc.boolean(),
});
/**
 * Two chain steps' events but for their runs, so that like steps are common:
 * the second the first with one item changed, a step that is nearly like it.
 */
const steps = fc
  .tuple(
    fc.record({
      ms,
      n: fc.nat(1),
      task,
      attempt,
      d: fc.constantFrom(1, 2),
      dtask: task,
      dattempt: attempt,
    }),
    fc.constantFrom("ms", "n", "task", "attempt", "d", "dtask", "dattempt"),
  )
  .map(([first, item]) => {
    const v = first[item];
    const other = typeof v === "string" ? (v === "t" ? "u" : "t") : item === "ms" ? v + 1 : 1 - v;
    return [first, { ...first, [item]: item === "d" ? 3 : other }] as const;
  });
const ops: fc.Arbitrary<Op[]> = fc
  .tuple(
    fc.tuple(shape, shape),
    steps,
    fc.array(
      fc.oneof(
        // (plain jobs and chain steps most often)
        {
          weight: 2,
          arbitrary: fc.tuple(fc.constant("plain" as const), runId, fc.constantFrom(0, 1)),
        },
        {
          weight: 2,
          arbitrary: fc.tuple(fc.constant("step" as const), runId, fc.constantFrom(0, 1)),
        },
        { weight: 1, arbitrary: fc.tuple(fc.constant("other" as const), runId, ms, ev) },
        // (a node transition: like the one before it often, a chord's members')
        {
          weight: 2,
          arbitrary: fc.tuple(
            fc.constant("node" as const),
            runId,
            ms,
            fc.tuple(fc.constantFrom("q" as const, "r" as const), fc.nat(3), task, attempt),
            // (how many nodes after it take the same transition, when given: a range)
            fc.option(fc.nat(2), { nil: undefined }),
          ),
        },
      ),
      { minLength: 1, maxLength: 14 },
    ),
  )
  .map(([plains, steps, items]) =>
    items.map((it): Op => {
      if (it[0] === "plain") return { plain: true, run: it[1], ...plains[it[2]]! };
      if (it[0] === "step") return { plain: "step", run: it[1], ...steps[it[2]]! };
      if (it[0] === "node") {
        const last = it[4] === undefined ? {} : { last: it[3][1] + it[4] };
        return { plain: "node", run: it[1], ms: it[2], ev: it[3], ...last };
      }
      return { plain: false, run: it[1], ms: it[2], ev: it[3] };
    }),
  );

describe("a call's events entry, like events written short", () => {
  test.prop([ops], { numRuns: 200 })(
    "is eventOf's alone, byte for byte, and reads back as the events in order",
    async (ops) => {
      const short = await entryOf(ops, true);
      const long = await entryOf(ops, false);
      expect(short.id).toBe(long.id);
      expect(short.fields.map(String)).toEqual(long.fields.map(String));
      const read = entryEvents(short.id, short.fields).map((e) => e.build(e.position));
      const want = expected(ops);
      expect(read.map((e) => e && { ...e, id: undefined })).toEqual(
        want.map((e) => ({ ...e, id: undefined })),
      );
    },
  );

  test("writes the same step of like chains done together as their run ids after the first", async () => {
    const step = (run: string): Op => ({
      plain: "step",
      run,
      ms: 5,
      n: 0,
      task: "t",
      attempt: 1,
      d: 1,
      dtask: "t",
      dattempt: 0,
    });
    const { fields } = await entryOf([step("a"), step("b"), step("c")], true);
    expect(decode(fields[1] as Buffer)).toEqual([
      // (d's queuing names the task before it, written 0)
      ["a", 5, ["s", 0, "t", 1], ["q", 1, 0, 0], ["r", 1, 0, 1]],
      "b",
      "c",
    ]);
  });

  test("writes a chord's members started together as their node ids after the first, and a transition of another kind whole", async () => {
    const node = (n: number, letter: "q" | "r" = "r"): Op => ({
      plain: "node",
      run: "a",
      ms: 5,
      ev: [letter, n, "t", 1],
    });
    const other: Op = { plain: false, run: "a", ms: 5, ev: ["l", 2] };
    const { fields } = await entryOf(
      [node(1), node(2), node(3), other, node(4), node(5, "q")],
      true,
    );
    expect(decode(fields[1] as Buffer)).toEqual([
      // (after the lease-expired event, the next start is written whole, its task as 0)
      ["a", 5, ["r", 1, "t", 1], 2, 3, ["l", 2], ["r", 4, 0, 1], ["q", 5, 0, 1]],
    ]);
  });

  test("writes a run whose node transitions, written short, are the run's before it as its run id", async () => {
    const ev = (n: number) => ["r", n, "t", 1] as const;
    // (run a's events made whole, b's by nodeEventOf: the same events)
    const ops: Op[] = [
      { plain: false, run: "a", ms: 5, ev: ev(1) },
      { plain: false, run: "a", ms: 5, ev: ev(2) },
      { plain: "node", run: "b", ms: 5, ev: ev(1) },
      { plain: "node", run: "b", ms: 5, ev: ev(2) },
    ];
    const { fields } = await entryOf(ops, true);
    expect(decode(fields[1] as Buffer)).toEqual([["a", 5, ["r", 1, "t", 1], 2], "b"]);
  });

  test("writes plain jobs done together as their run ids after the first, and a later event of one as its own group again", async () => {
    const plain = (run: string): Op => ({
      plain: true,
      run,
      ms: 5,
      letter: "s",
      task: "t",
      attempt: 1,
      ended: true,
    });
    const { fields } = await entryOf([plain("a"), plain("b"), plain("c")], true);
    expect(decode(fields[1] as Buffer)).toEqual([
      ["a", 5, ["s", 0, "t", 1], ["E", "succeeded"]],
      "b",
      "c",
    ]);
    // b takes another event: it is a group again, and c, after it, is like b no longer
    const later: Op = { plain: false, run: "b", ms: 5, ev: ["l", 0] };
    const again = await entryOf([plain("a"), plain("b"), plain("c"), later], true);
    expect(decode(again.fields[1] as Buffer)).toEqual([
      ["a", 5, ["s", 0, "t", 1], ["E", "succeeded"]],
      // (a transition after run-ended is written whole: its task, the same, as 0)
      ["b", false, ["s", 0, 0, 1], ["E", "succeeded"], ["l", 0]],
      ["c", false, ["s", 0, 0, 1], ["E", "succeeded"]],
    ]);
  });
});
