/**
 * The fingerprint of a compiled run: a SHA-256 (hex) of a canonical encoding
 * of every node spec — task, argument rule, bound input, the shape of the
 * upstream value it receives, dependencies, options, routing — and of the
 * run's output shape. Two submissions with the same fingerprint run the same
 * work on the same input, so a store can tell a retried submission (same
 * fingerprint: return the run) from another submission that reuses a run id
 * or an idempotency key (different fingerprint: refuse it). Temporal refuses
 * a workflow id reused for other work the same way.
 *
 * The encoding is stable across processes and versions of this module
 * (object keys sorted, `-0` read as `0` as msgpack does, `undefined` fields
 * left out); the leading `weft-fp/1` names its version.
 */
import { createHash } from "node:crypto";
import type { Dag, Shape } from "./Dag.ts";

/**
 * The run's fingerprint: 64 lowercase hex characters.
 *
 * @example
 * fingerprint(compile(chain(add.si({ a: 1, b: 2 }), double.s())))
 * // "3f1c…" — the same for every compile of the same canvas and input
 */
export const fingerprint = (dag: Pick<Dag, "nodes" | "output">): string => {
  const h = createHash("sha256");
  h.update(`weft-fp/1;${dag.nodes.length};`);
  for (const n of dag.nodes) {
    h.update(
      canonical([
        n.task,
        n.bind,
        n.bound,
        n.arg,
        n.deps,
        n.options,
        n.queue,
        n.priority,
        n.tolerant,
        // only a callback node adds fields: a canvas without callbacks keeps its fingerprint
        ...(n.callback === undefined ? [] : [n.callback, n.failure ?? null]),
      ]),
    );
    h.update(";");
  }
  h.update(canonical(valueShape(dag.output)));
  return h.digest("hex");
};

// what an empty group in the output waits on (`after`) follows from the nodes' deps: left out,
// so a canvas keeps the fingerprint earlier versions gave it
const valueShape = (s: Shape): Shape =>
  typeof s === "number"
    ? s
    : "list" in s
      ? { list: s.list.map(valueShape) }
      : { settled: s.settled.map(valueShape) };

/** A canonical text for a value: equal values (as the stores keep them) give equal text. */
export const canonical = (v: unknown): string => {
  if (v === undefined) return "u";
  if (v === null) return "n";
  switch (typeof v) {
    case "boolean":
      return v ? "t" : "f";
    case "number":
      return `d${Object.is(v, -0) ? 0 : v}`;
    case "bigint":
      return `b${v}`;
    case "string":
      return JSON.stringify(v);
    case "object":
      break;
    default:
      return `?${typeof v}`;
  }
  if (v instanceof Uint8Array) return `x${Buffer.from(v).toString("hex")}`;
  if (v instanceof Date) return `D${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v instanceof Map) {
    return `M{${[...v]
      .map(([k, x]) => `${canonical(k)}:${canonical(x)}`)
      .sort()
      .join(",")}}`;
  }
  if (v instanceof Set) return `S{${[...v].map(canonical).sort().join(",")}}`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(",")}}`;
};
