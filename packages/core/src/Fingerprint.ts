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
import * as crypto from "node:crypto";
import type { Dag, Shape } from "./Dag.ts";

/**
 * The run's fingerprint: 64 lowercase hex characters.
 *
 * @example
 * fingerprint(compile(chain(add.si({ a: 1, b: 2 }), double.s())))
 * // "3f1c…" — the same for every compile of the same canvas and input
 */
export const fingerprint = (dag: Pick<Dag, "nodes" | "output">): string => {
  // the text is hashed in one call for a small run (each update is a call into the hash's
  // native code), in parts of about 64 KiB for a large one: the same bytes either way
  let text = `weft-fp/1;${dag.nodes.length};`;
  let h: crypto.Hash | undefined;
  // the text of an object nodes share (a task's options: compile hands every node of a task
  // without options of its own the same object), made once per call
  const shared = dag.nodes.length > 1 ? new Map<object, string>() : undefined;
  const once = (v: unknown): string => {
    if (shared === undefined || typeof v !== "object" || v === null) return canonical(v);
    let t = shared.get(v);
    if (t === undefined) {
      t = canonical(v);
      shared.set(v, t);
    }
    return t;
  };
  for (const n of dag.nodes) {
    // canonical([task, bind, bound, arg, deps, options, queue, priority, tolerant]), written
    // out field by field (no array per node); only a callback node adds fields, `callback`
    // and `failure ?? null`: a canvas without callbacks keeps its fingerprint
    text += `[${canonical(n.task)},${canonical(n.bind)},${canonical(n.bound)},${canonical(n.arg)},${canonical(n.deps)},${once(n.options)},${canonical(n.queue)},${canonical(n.priority)},${canonical(n.tolerant)}`;
    if (n.callback !== undefined)
      text += `,${canonical(n.callback)},${canonical(n.failure ?? null)}`;
    text += "];";
    if (text.length > 65_536) {
      h ??= crypto.createHash("sha256");
      h.update(text);
      text = "";
    }
  }
  text += canonical(valueShape(dag.output));
  return h === undefined ? sha256(text) : h.update(text).digest("hex");
};

/** SHA-256 (hex) of a text's UTF-8 bytes: Node's one-shot `crypto.hash` where it has it (20.12+). */
// (read off the namespace: a named import of it would not load on an older Node 20)
const oneShot = (crypto as { hash?: typeof crypto.hash }).hash;
const sha256: (text: string) => string =
  typeof oneShot === "function"
    ? (text) => oneShot("sha256", text, "hex")
    : (text) => crypto.createHash("sha256").update(text).digest("hex");

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
  // (a view of its bytes, not a copy)
  if (v instanceof Uint8Array)
    return `x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}`;
  if (v instanceof Date) return `D${v.getTime()}`;
  if (Array.isArray(v)) {
    // concatenated, not mapped and joined (this runs for every node of every submission); a
    // hole is empty, as `map` and `join` leave it
    let out = "[";
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ",";
      if (i in v) out += canonical(v[i]);
    }
    return `${out}]`;
  }
  if (v instanceof Map) {
    return `M{${[...v]
      .map(([k, x]) => `${canonical(k)}:${canonical(x)}`)
      .sort()
      .join(",")}}`;
  }
  if (v instanceof Set) return `S{${[...v].map(canonical).sort().join(",")}}`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(k)}:${canonical(x)}`;
    first = false;
  }
  return `${out}}`;
};
