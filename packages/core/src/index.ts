/**
 * @weft/core — tasks, the canvas DSL, compile-to-DAG, the state machine,
 * the Store contract, and the worker and client runtimes.
 */

export { Schema } from "effect";
export * from "./Args.ts";
export * from "./Attempt.ts";
export * from "./Canvas.ts";
export * from "./Client.ts";
export * from "./Clock.ts";
export * from "./Codec.ts";
export * from "./Dag.ts";
export * from "./Deferred.ts";
export * from "./Errors.ts";
export * from "./EventStream.ts";
export * from "./Events.ts";
export * from "./Fingerprint.ts";
export * from "./Handler.ts";
export type { AttemptEnd, AttemptInfo, NodeFailure, WorkerHooks } from "./Hooks.ts";
export * from "./Locks.ts";
export * from "./Machine.ts";
export * from "./Policy.ts";
export * from "./Retry.ts";
export * from "./Store.ts";
export * from "./Task.ts";
export * from "./Worker.ts";
