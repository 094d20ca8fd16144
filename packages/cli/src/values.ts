/**
 * A run's inputs and results as `weft inspect` shows them: each node's bound
 * input (its encoded form) and its recorded result, decoded from msgpack.
 */
import type { RunSnapshot, Store } from "@weft/core";
import { jsonValue } from "./render-ops.ts";

/** A node's values: `input` its bound input (absent when nothing is bound), `result` when one is recorded. */
export interface NodeValues {
  readonly input?: unknown;
  readonly result?: unknown;
}

/** Results read at once, at most (the store's connection pipelines them). */
const BATCH = 500;

/**
 * The bound input and recorded result of every node of `snap` (results read
 * for succeeded nodes only, `BATCH` at a time). Bytes that do not decode show
 * as `{ undecodable: "<why>" }`.
 */
export const nodeValues = async (
  store: Store,
  snap: RunSnapshot,
): Promise<Map<number, NodeValues>> => {
  // loaded here, not at startup: `weft --help` stays fast (docs/packaging.md)
  const { decode } = await import("@weft/core/store");
  const out = new Map<number, NodeValues>();
  for (const n of snap.nodes) {
    out.set(
      n.id,
      n.spec.bound === null || n.spec.bound === undefined ? {} : { input: n.spec.bound },
    );
  }
  const done = snap.nodes.filter((n) => n.state === "succeeded");
  for (let i = 0; i < done.length; i += BATCH) {
    const part = done.slice(i, i + BATCH);
    const bytes = await Promise.all(part.map((n) => store.getResult(snap.run.id, n.id)));
    part.forEach((n, k) => {
      const b = bytes[k];
      if (b === undefined) return;
      let result: unknown;
      try {
        result = decode(b);
      } catch (e) {
        result = { undecodable: e instanceof Error ? e.message : String(e) };
      }
      out.set(n.id, { ...out.get(n.id), result });
    });
  }
  return out;
};

/** The snapshot as `inspect --json` prints it: each node with `input` and `result` (long ones truncated, see `jsonValue`). */
export const withValues = (
  snap: RunSnapshot,
  values: ReadonlyMap<number, NodeValues>,
): unknown => ({
  ...snap,
  nodes: snap.nodes.map((n) => {
    const v = values.get(n.id) ?? {};
    return {
      ...n,
      ...("input" in v ? { input: jsonValue(v.input) } : {}),
      ...("result" in v ? { result: jsonValue(v.result) } : {}),
    };
  }),
});
