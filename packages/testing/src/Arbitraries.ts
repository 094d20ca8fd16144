/**
 * fast-check arbitraries: random canvases (nested chains, groups, settled
 * groups and chords, optionally with callbacks) and random fault plans for the store driver.
 */
import { type Canvas, type RetryPolicy, Schema, task } from "@weft/core";
import type { CanvasNode } from "@weft/core/store";
import fc from "fast-check";
import type { DrivePlan, ReportFault } from "./Drive.ts";
import type { DeliveryFault } from "./FaultyStore.ts";
import type { FaultPlan, HandlerFault } from "./Simulation.ts";

/** A task that accepts and returns anything; the driver never runs handlers. */
export const anyTask = task({ name: "any", input: Schema.Unknown, output: Schema.Unknown });

const anyLeaf = (queue: string): CanvasNode => ({
  kind: "sig",
  task: anyTask,
  bind: { kind: "immutable" },
  bound: null,
  options: { queue },
});

/**
 * Random canvases over the queues given: chains, groups (plain and settled)
 * and chords, nested, and with `links` callbacks; now and then an empty group
 * or chord header (which gives `[]`). Every canvas has at least one task (one
 * of only empty groups does not compile).
 */
export const arbCanvas = (
  opts: {
    readonly queues?: ReadonlyArray<string>;
    readonly maxWidth?: number;
    /** Builds a leaf signature on a queue; default an immutable `any` signature. */
    readonly leaf?: (queue: string) => CanvasNode;
    /** Also attach success and error callbacks (`.onSuccess` / `.onError`) to random parts. Default false. */
    readonly links?: boolean;
    /** The most nodes a canvas compiles into (error callbacks copied per covered task node). Default 120. */
    readonly maxNodes?: number;
    /** Also make settled groups and chord headers (`.settled()`). Default true. */
    readonly settled?: boolean;
  } = {},
): fc.Arbitrary<Canvas<unknown, unknown>> => {
  const queues = opts.queues ?? ["default"];
  const width = opts.maxWidth ?? 6;
  const leaf = opts.leaf ?? anyLeaf;
  const members = membersOf(width);
  const settledFlag = opts.settled === false ? fc.constant(false) : fc.boolean();
  const tree = fc.letrec<{ node: CanvasNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(...queues).map(leaf),
      fc
        .array(tie("node"), { minLength: 1, maxLength: width })
        .map((steps): CanvasNode => ({ kind: "chain", steps })),
      fc
        .tuple(members(tie("node")), settledFlag)
        .map(([members, settled]): CanvasNode => ({ kind: "group", members, settled })),
      fc.tuple(members(tie("node")), settledFlag, tie("node")).map(
        ([members, settled, body]): CanvasNode => ({
          kind: "chord",
          header: { kind: "group", members, settled },
          body,
        }),
      ),
      ...(opts.links
        ? [
            fc
              .tuple(
                tie("node"),
                fc.constantFrom("success" as const, "error" as const),
                tie("node"),
              )
              .map(([inner, on, callback]): CanvasNode => ({ kind: "link", on, inner, callback })),
          ]
        : []),
    ),
  }));
  // an error callback is copied once per task node it covers: nested ones multiply a
  // canvas's size, so keep the cases small enough to run by the hundred
  const maxNodes = opts.maxNodes ?? 120;
  return tree.node
    .filter((node) => hasTask(node) && nodeCount(node) <= maxNodes)
    .map((node) => ({ node }));
};

/** Members of a group or chord header: one to `width` mostly, none one time in eight. */
const membersOf =
  (width: number) =>
  (member: fc.Arbitrary<CanvasNode>): fc.Arbitrary<CanvasNode[]> =>
    fc.oneof(
      { weight: 7, arbitrary: fc.array(member, { minLength: 1, maxLength: width }) },
      { weight: 1, arbitrary: fc.constant<CanvasNode[]>([]) },
    );

/** Whether `node` holds at least one task (a canvas of only empty groups does not compile). */
const hasTask = (node: CanvasNode): boolean => {
  switch (node.kind) {
    case "sig":
      return true;
    case "chain":
      return node.steps.some(hasTask);
    case "group":
      return node.members.some(hasTask);
    case "chord":
      return hasTask(node.header) || hasTask(node.body);
    case "link":
      // an error callback is copied per task node it covers: none over an empty inner part
      return hasTask(node.inner) || (node.on === "success" && hasTask(node.callback));
  }
};

/** How many nodes `node` compiles into (error callbacks copied per covered task node). */
const nodeCount = (node: CanvasNode): number => {
  switch (node.kind) {
    case "sig":
      return 1;
    case "chain":
      return node.steps.reduce((n, s) => n + nodeCount(s), 0);
    case "group":
      return node.members.reduce((n, s) => n + nodeCount(s), 0);
    case "chord":
      return nodeCount(node.header) + nodeCount(node.body);
    case "link": {
      const inner = nodeCount(node.inner);
      return inner + (node.on === "success" ? 1 : inner) * nodeCount(node.callback);
    }
  }
};

/**
 * Random plans for `nodes` nodes: mostly successes, some retries, failures
 * and crashes; some calls re-sent; now and then a cancel, or a node's record
 * corrupted (when the store under test has a tamper hook).
 */
export const arbDrivePlan = (nodes = 256): fc.Arbitrary<DrivePlan> =>
  fc.record({
    faults: fc.array(
      fc.array(
        fc.constantFrom<ReportFault>(
          "ok",
          "ok",
          "ok",
          "ok",
          "ok",
          "retry",
          "crash",
          "fail",
          "late",
        ),
        {
          maxLength: 3,
        },
      ),
      { minLength: nodes, maxLength: nodes },
    ),
    batch: fc.integer({ min: 1, max: 8 }),
    reverse: fc.boolean(),
    chainNext: fc.boolean(),
    many: fc.boolean(),
    resubmit: fc.boolean(),
    resend: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
    cancelAt: fc.option(fc.integer({ min: 1, max: 30 }), { freq: 4, nil: undefined }),
    tamper: fc.option(fc.record({ step: fc.integer({ min: 1, max: 20 }), pick: fc.nat() }), {
      freq: 2,
      nil: undefined,
    }),
  });

/** Random retry policies with short delays (so simulations stay small). */
export const arbRetryPolicy = (): fc.Arbitrary<RetryPolicy> =>
  fc.record({
    maxAttempts: fc.integer({ min: 1, max: 4 }),
    backoff: fc.oneof(
      fc.record({
        kind: fc.constant("fixed" as const),
        delayMs: fc.integer({ min: 0, max: 2_000 }),
      }),
      fc.record({
        kind: fc.constant("exponential" as const),
        baseMs: fc.integer({ min: 1, max: 1_000 }),
        factor: fc.constantFrom(1.5, 2, 3),
        maxMs: fc.integer({ min: 1, max: 10_000 }),
      }),
    ),
    jitter: fc.constantFrom("none" as const, "full" as const, "equal" as const),
    maxStalls: fc.integer({ min: 0, max: 2 }),
  });

/** Random fault plans for the simulator: delivery faults, handler faults and clock jumps. */
export const arbFaultPlan = (nodes = 256): fc.Arbitrary<FaultPlan> =>
  fc.record({
    deliveries: fc.array(
      fc.array(
        fc.constantFrom<DeliveryFault>(
          "none",
          "none",
          "none",
          "none",
          "crash-before",
          "crash-after",
          "duplicate",
          "late",
        ),
        { maxLength: 3 },
      ),
      { minLength: nodes, maxLength: nodes },
    ),
    handlers: fc.array(
      fc.array(
        fc.constantFrom<HandlerFault>(
          "ok",
          "ok",
          "ok",
          "ok",
          "throw",
          "throw-non-error",
          "hang",
          "non-retryable",
        ),
        { maxLength: 3 },
      ),
      { minLength: nodes, maxLength: nodes },
    ),
    clockJumps: fc.array(
      fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 5_000 })),
      {
        maxLength: 3,
      },
    ),
  });
