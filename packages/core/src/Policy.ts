/**
 * Resolves a node's effective options: the signature's `.with(...)` over
 * the task's declaration (merged at compile), then the worker's defaults
 * (which the worker lays its own declaration of the task over, for a node
 * submitted by name), then Weft's defaults.
 */
import type { DagNode } from "./Dag.ts";
import { defaultRetryPolicy, type RetryPolicy } from "./Retry.ts";

/** The retry policy a node runs under. */
export const policyOf = (
  spec: DagNode,
  workerDefaults: Partial<RetryPolicy> = {},
): RetryPolicy => ({
  ...defaultRetryPolicy,
  ...workerDefaults,
  ...spec.options.retry,
});

/** Stalls a node tolerates; fixed at submit so every store reads it from the node. */
export const maxStallsOf = (spec: DagNode): number =>
  spec.options.retry?.maxStalls ?? defaultRetryPolicy.maxStalls;
