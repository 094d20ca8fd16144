/**
 * Re-driving a run from the client (`Client.redrive`): its request and its error (docs/concepts.md, "Re-driving a run";
 * Temporal's reset, BullMQ's retry of failed jobs): a run that ended
 * `failed` or `cancelled` runs again, keeping every succeeded node's result
 * and every node's attempt history; optionally the failed node runs with an
 * edited input, validated by its task's input schema.
 */
import { Data } from "effect";
import type { RedriveRefusal } from "./Machine.ts";
import type { AnyTask, InputOf } from "./Task.ts";

/**
 * What {@link Client.redrive} re-drives with. With `input`, node `node`
 * (default: the node that failed the run, `run.failedNode`) runs with that
 * input instead of the one it was given (its whole input: the upstream
 * value it received is no longer used). With `task` (the node's task's
 * declaration) the input is typed and validated by its input schema;
 * without it, it must be plain data.
 */
export interface RedriveRequest<T extends AnyTask = AnyTask> {
  readonly node?: number;
  readonly task?: T;
  readonly input?: InputOf<T>;
}

/**
 * A run could not be re-driven, nothing changed: it has not ended
 * (`not-ended`), a node of it is still running (`not-quiet`: wait with
 * `result({ waitForQuiet: true })`), it succeeded (`succeeded`), or the node
 * to edit is not one that runs again (`bad-node`: out of range, succeeded,
 * or none named and no node failed the run).
 */
export class RedriveRefused extends Data.TaggedError("RedriveRefused")<{
  readonly runId: string;
  readonly reason: RedriveRefusal | "bad-node";
  readonly detail: string;
}> {
  override get message() {
    return `run ${this.runId} cannot be re-driven (${this.reason}): ${this.detail}`;
  }
}
