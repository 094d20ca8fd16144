/**
 * Re-driving a run from the client (docs/concepts.md, "Re-driving a run";
 * Temporal's reset, BullMQ's retry of failed jobs): a run that ended
 * `failed` or `cancelled` runs again, keeping every succeeded node's result
 * and every node's attempt history; optionally the failed node runs with an
 * edited input, validated by its task's input schema.
 */
import { Data, Schema } from "effect";
import { signature, type TaskRef } from "./Canvas.ts";
import { compile, type DagNode } from "./Dag.ts";
import { InvalidInput, RunNotFound } from "./Errors.ts";
import type { RedriveRefusal } from "./Machine.ts";
import type { Store } from "./Store.ts";
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

const DETAIL: Record<RedriveRefusal | "bad-node", string> = {
  "not-ended": "it has not ended (pending or running): cancel it first",
  "not-quiet": "a node of it is still running: wait until every node has ended",
  succeeded: "it succeeded: there is nothing to run again",
  "bad-node": "the node to edit is not a node that runs again",
};

const refused = (runId: string, reason: RedriveRefusal | "bad-node", detail = DETAIL[reason]) =>
  new RedriveRefused({ runId, reason, detail });

/** Node `node`'s spec with `input` as its whole input, validated by `task` (or as plain data). */
const editedSpec = (spec: DagNode, task: TaskRef, input: unknown): DagNode => {
  if (task.name !== spec.task)
    throw new InvalidInput({
      task: task.name,
      detail: `node ${spec.id} runs task ${spec.task}, not ${task.name}`,
    });
  const bound = compile(signature(task, { kind: "immutable" }, input)).nodes[0]!.bound;
  return { ...spec, bind: { kind: "immutable" }, bound, arg: null };
};

/**
 * Re-drives run `runId` at `now` (epoch ms): see {@link RedriveRequest}.
 *
 * @throws RunNotFound when the run does not exist.
 * @throws RedriveRefused when it cannot be re-driven (nothing changed).
 * @throws InvalidInput when `input` fails the task's input schema, is not
 *   plain data, or `task` is not the node's task (before anything is written).
 */
export const redrive = async (
  store: Store,
  runId: string,
  req: RedriveRequest,
  now: number,
): Promise<void> => {
  const snap = await store.getRun(runId);
  if (!snap) throw new RunNotFound({ runId });
  let edit: { node: number; spec: DagNode } | undefined;
  if (req.input !== undefined) {
    const node = req.node ?? snap.run.failedNode;
    if (node === undefined)
      throw refused(runId, "bad-node", "no node failed the run: name the node to edit");
    const n = snap.nodes[node];
    if (!Number.isInteger(node) || n === undefined || n.state === "succeeded")
      throw refused(
        runId,
        "bad-node",
        `node ${node} ${n === undefined ? "is not a node of the run" : "succeeded: it does not run again"}`,
      );
    const task: TaskRef = req.task ?? {
      name: n.spec.task,
      input: Schema.Unknown,
      output: Schema.Unknown,
      options: {},
    };
    edit = { node, spec: editedSpec(n.spec, task, req.input) };
  } else if (req.node !== undefined) {
    throw new InvalidInput({
      task: req.task?.name ?? "",
      detail: "redrive: `node` names the node to run with an edited `input`; give `input` too",
    });
  }
  const r = await store.redrive(runId, { now, ...(edit ? { edit } : {}) });
  if (r.ok) return;
  if (r.reason === "not-found") throw new RunNotFound({ runId });
  throw refused(runId, r.reason);
};
