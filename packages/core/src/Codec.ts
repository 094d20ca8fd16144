/**
 * The value encoding shared by every store: msgpack (msgpackr), compact and
 * schema-agnostic. Values are encoded after their task's schema has encoded
 * them, so dates and branded types arrive as their encoded form.
 *
 * Only **plain data** is stored: `null`, `undefined`, booleans, numbers,
 * strings, byte arrays (`Uint8Array`, `Buffer`), arrays and plain objects.
 * Anything else (a function, a symbol, a bigint, a `Date`, a `Map`, a class
 * instance) would be silently mangled by msgpack — a function becomes
 * `undefined`, a `Map` an object, a class instance loses its prototype — so
 * {@link encode} refuses it, and {@link decode} refuses stored bytes that do
 * not decode to plain data (docs/redis-layout.md#encoding).
 *
 * Notes: msgpack has no `-0`; it decodes as `0`. `undefined` is written as
 * msgpackr's conventional extension 0 and read back as `undefined`; no other
 * extension type is accepted. An integer stored as a 64-bit msgpack integer
 * is read as a `number` (exact up to 2^53), never as a `bigint`.
 */
import { Packr, Unpackr } from "msgpackr";
import { CorruptRecord, InvalidOutput } from "./Errors.ts";

/**
 * The deepest nesting of a task's input or output, in levels of arrays and
 * objects (`[[1]]` is 2 levels). Deeper values are refused where they enter
 * Weft: a bound input at submit (`InvalidInput`), a handler's result on the
 * worker (`InvalidOutput`). Real data stays far below it; it keeps every
 * recursive step (schemas, msgpack) well inside the JavaScript stack.
 */
export const MAX_VALUE_DEPTH = 256;

/** What {@link valueProblem} looks for. */
export interface ValueCheck {
  /** Refuse anything but plain data (see the module's description). */
  readonly plainData: boolean;
  /** Refuse nesting deeper than this many levels of arrays and objects. */
  readonly maxDepth: number;
}

/**
 * Finds what makes `value` unfit to store, without recursion (a 100,000-level
 * value costs no stack): nesting deeper than `check.maxDepth`, a cycle, or —
 * with `check.plainData` — a value that is not plain data. Returns a readable
 * description with the path of the offending value (effect's path notation,
 * `["user"]["tags"][3]`), or `undefined` when the value is fine.
 *
 * The walk looks into arrays and plain objects only. Without `plainData`,
 * anything else (a `Date`, a class instance a schema will encode, a byte
 * array) is accepted as a leaf.
 *
 * @example
 * valueProblem({ at: new Date() }, { plainData: true, maxDepth: 256 })
 * // 'holds an instance of Date at ["at"], which is not plain data; ...'
 */
export const valueProblem = (value: unknown, check: ValueCheck): string | undefined => {
  const p = findProblem(value, check);
  if (p === undefined) return undefined;
  const at = formatPath(p.path);
  switch (p.kind) {
    case "notPlain":
      return (
        `holds ${p.what} at ${at}, which is not plain data; only null, undefined, booleans, ` +
        "numbers, strings, Uint8Array, arrays and plain objects can be stored: let the task's " +
        "schema encode other values (e.g. Schema.DateFromString for a Date, " +
        "Schema.BigIntFromString for a bigint)"
      );
    case "cycle":
      return `contains a cycle at ${at}`;
    case "deep":
      return `nested deeper than ${check.maxDepth} levels at ${at} (the limit: docs/concepts.md#limits)`;
  }
};

type Path = ReadonlyArray<string | number>;
type Problem =
  | { readonly kind: "notPlain"; readonly what: string; readonly path: Path }
  | { readonly kind: "cycle"; readonly path: Path }
  | { readonly kind: "deep"; readonly path: Path };

const findProblem = (value: unknown, check: ValueCheck): Problem | undefined => {
  if (quickFine(value, check)) return undefined;
  if (check.plainData) {
    const what = notPlain(value);
    if (what !== undefined) return { kind: "notPlain", what, path: [] };
  }
  if (!descends(value)) return undefined;
  if (check.maxDepth < 1) return { kind: "deep", path: [] };
  const root = value as object;
  // post-order walk; `heights` memoises finished objects so a value that
  // shares one object many times is walked once (no exponential blow-up)
  const heights = new Map<object, number>();
  const onPath = new Set<object>([root]);
  const stack: Frame[] = [frame(root)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i < top.length) {
      const key: string | number = top.keys === undefined ? top.i : top.keys[top.i]!;
      top.i += 1;
      const child = (top.value as Record<string | number, unknown>)[key];
      if (check.plainData) {
        const what = notPlain(child);
        if (what !== undefined) return { kind: "notPlain", what, path: pathOf(stack, key) };
      }
      if (!descends(child)) continue;
      const obj = child as object;
      if (onPath.has(obj)) return { kind: "cycle", path: pathOf(stack, key) };
      const known = heights.get(obj);
      if (known !== undefined) {
        if (stack.length + known > check.maxDepth)
          return { kind: "deep", path: pathOf(stack, key) };
        top.height = Math.max(top.height, known + 1);
        continue;
      }
      if (stack.length + 1 > check.maxDepth) return { kind: "deep", path: pathOf(stack, key) };
      onPath.add(obj);
      stack.push(frame(obj));
    } else {
      stack.pop();
      onPath.delete(top.value);
      heights.set(top.value, top.height);
      const parent = stack[stack.length - 1];
      if (parent) parent.height = Math.max(parent.height, top.height + 1);
    }
  }
  return undefined;
};

/**
 * The common case of {@link findProblem} without its bookkeeping: true when
 * `value` is surely fine, found by a recursive walk that allocates nothing
 * (the full walk keeps a frame per object, a set and a map, and a submitted
 * node meets this check several times: `encode` of a node spec took 1.4 µs
 * with the full walk alone, 0.6 µs with this one first, docs/benchmarks.md).
 * It goes at most {@link QUICK_DEPTH} levels deep (a cycle ends there too)
 * and visits at most {@link QUICK_VALUES} values; on anything else (a problem, a deeper or
 * larger value, an object of another realm) it answers false and the full
 * walk decides, so the answer never differs from the full walk's.
 */
const quickFine = (value: unknown, check: ValueCheck): boolean => {
  quickBudget = QUICK_VALUES;
  return quickAt(value, 1, Math.min(check.maxDepth, QUICK_DEPTH), check.plainData);
};

const QUICK_DEPTH = 32;
const QUICK_VALUES = 10_000;
/** Values the current quick walk may still visit. */
let quickBudget = 0;

/** Whether `v`, `level` levels deep (the top value is level 1), is surely fine. */
const quickAt = (v: unknown, level: number, limit: number, plain: boolean): boolean => {
  if (--quickBudget < 0) return false;
  if (typeof v !== "object" || v === null)
    return !plain || (typeof v !== "bigint" && typeof v !== "symbol" && typeof v !== "function");
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    if (level > limit) return false;
    const a = v as ReadonlyArray<unknown>;
    for (let i = 0; i < a.length; i++) if (!quickAt(a[i], level + 1, limit, plain)) return false;
    return true;
  }
  if (proto === Object.prototype || proto === null) {
    if (level > limit) return false;
    const o = v as Record<string, unknown>;
    // (own enumerable keys, as Object.keys lists them, with no array made)
    for (const k in o)
      if (Object.hasOwn(o, k) && !quickAt(o[k], level + 1, limit, plain)) return false;
    return true;
  }
  // a leaf: bytes are plain data; without `plainData` any object the full walk does not enter
  return isBytes(v) || (!plain && !Array.isArray(v) && !isPlainObject(v));
};

interface Frame {
  readonly value: object;
  /** Own enumerable keys of an object; `undefined` for an array (walked by index). */
  readonly keys: ReadonlyArray<string> | undefined;
  readonly length: number;
  /** Next key to visit. */
  i: number;
  /** Levels in the deepest branch seen so far, this object included. */
  height: number;
}

const frame = (value: object): Frame => {
  if (Array.isArray(value))
    return { value, keys: undefined, length: value.length, i: 0, height: 1 };
  const keys = Object.keys(value);
  return { value, keys, length: keys.length, i: 0, height: 1 };
};

/**
 * Whether the walk looks inside `v`: arrays and plain objects, the nesting a
 * caller builds. A class instance is left whole: with `plainData` it has
 * already been refused, without it its schema is what encodes it (and its
 * internals, an effect `Chunk`'s tree say, are no concern of ours).
 */
const descends = (v: unknown): boolean =>
  typeof v === "object" && v !== null && (Array.isArray(v) || isPlainObject(v));

const isPlainObject = (v: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === null || proto === Object.prototype) return true;
  // a plain object made in another realm: its prototype is that realm's Object.prototype
  return Object.getPrototypeOf(proto) === null && className(proto) === "Object";
};

const isBytes = (v: object): boolean =>
  ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === "[object Uint8Array]";

/** Describes `v` when it is not plain data ("a function", "an instance of Date"). */
const notPlain = (v: unknown): string | undefined => {
  switch (typeof v) {
    case "undefined":
    case "boolean":
    case "number":
    case "string":
      return undefined;
    case "bigint":
      return "a bigint";
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
  }
  if (v === null || isBytes(v as object)) return undefined;
  const proto: unknown = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    return proto === Array.prototype || className(proto) === "Array"
      ? undefined
      : `an instance of ${className(proto) ?? "an Array subclass"}`;
  }
  return isPlainObject(v as object) ? undefined : `an instance of ${className(proto) ?? "a class"}`;
};

const className = (proto: unknown): string | undefined => {
  const ctor = (proto as { constructor?: { name?: unknown } } | null)?.constructor;
  return typeof ctor?.name === "string" && ctor.name !== "" ? ctor.name : undefined;
};

const pathOf = (stack: ReadonlyArray<Frame>, last: string | number): Path => {
  const path: Array<string | number> = [];
  for (let i = 0; i < stack.length - 1; i++) {
    const f = stack[i]!;
    path.push(f.keys === undefined ? f.i - 1 : f.keys[f.i - 1]!);
  }
  path.push(last);
  return path;
};

/** `["user"]["tags"][3]`, eliding the middle of a very long path; `the top level` when empty. */
const formatPath = (path: Path): string => {
  if (path.length === 0) return "the top level";
  const seg = (k: string | number) => (typeof k === "number" ? `[${k}]` : `[${JSON.stringify(k)}]`);
  if (path.length <= 10) return path.map(seg).join("");
  return `${path.slice(0, 6).map(seg).join("")}…(${path.length - 9} more)…${path
    .slice(-3)
    .map(seg)
    .join("")}`;
};

/**
 * The deepest nesting {@link encode} writes and {@link decode} reads, in
 * levels of arrays and maps: twice what inputs, outputs and canvases can
 * produce (a node spec wraps a value, a nested group's argument shape two
 * levels per group), and well inside msgpackr's recursion.
 */
const MAX_STORED_DEPTH = 512;

// variableMapSize: fixmap/map16/map32 by key count; without it msgpackr writes every object
// with a 16-bit size and cannot encode one with 65,536 keys or more
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  int64AsType: "number",
  variableMapSize: true,
});
// structuredClone off: a reference extension cannot build a cycle (scan refuses it first anyway)
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: "number",
  structuredClone: false,
});

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The msgpack bytes of an integer of at most 32 bits, `null` or a boolean,
 * as msgpackr writes them (its smallest form) and in a Buffer as it answers
 * them, made without msgpackr: {@link scalarOf} read backwards. Most
 * results are such values, and a chain step encodes one: msgpackr's setup
 * and the buffer it slices cost several microseconds more. `undefined` for
 * any other value.
 */
const scalarBytes = (v: unknown): Uint8Array | undefined => {
  if (v === null) return Buffer.from([0xc0]);
  if (v === true) return Buffer.from([0xc3]);
  if (v === false) return Buffer.from([0xc2]);
  if (typeof v !== "number") return undefined;
  if (v >>> 0 === v) {
    if (v <= 0x7f) return Buffer.from([v]); // positive fixint (and -0, as msgpackr)
    if (v <= 0xff) return Buffer.from([0xcc, v]);
    if (v <= 0xffff) return Buffer.from([0xcd, v >>> 8, v & 0xff]);
    return Buffer.from([0xce, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
  }
  if (v >> 0 === v) {
    if (v >= -0x20) return Buffer.from([v & 0xff]); // negative fixint
    if (v >= -0x80) return Buffer.from([0xd0, v & 0xff]);
    if (v >= -0x8000) return Buffer.from([0xd1, (v >> 8) & 0xff, v & 0xff]);
    return Buffer.from([0xd2, (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
  }
  return undefined;
};

/**
 * Encodes plain data as msgpack bytes.
 *
 * @throws InvalidOutput (non-retryable) when `value` is not plain data,
 *   contains a cycle or nests deeper than 512 levels, naming the path of the
 *   offending value; a worker records it as the node's failure.
 * @example
 * decode(encode({ ok: true, ids: [1, 2] })) // { ok: true, ids: [1, 2] }
 */
export const encode = (value: unknown): Uint8Array => {
  const scalar = scalarBytes(value);
  if (scalar !== undefined) return scalar;
  const problem = valueProblem(value, { plainData: true, maxDepth: MAX_STORED_DEPTH });
  if (problem !== undefined) throw new InvalidOutput({ detail: problem });
  try {
    return packr.pack(value);
  } catch (e) {
    throw new InvalidOutput({ detail: `cannot be encoded as msgpack: ${reason(e)}`, cause: e });
  }
};

/**
 * Encodes a record Weft builds itself of numbers, strings and lists of them
 * (a node's record, its dependency list) as {@link encode} does, without
 * its check of every value for plain data, cycles and depth: such a record
 * cannot fail it, and a wide canvas's submission paid a scan per node for
 * nothing. Never for a value that holds a user's data.
 */
export const encodeRecord = (value: ReadonlyArray<unknown>): Uint8Array => packr.pack(value);

/** What {@link scalarOf} answers for bytes that are not one of the values it reads. */
const NOT_SCALAR: unique symbol = Symbol("not a scalar");

/**
 * The value of bytes that hold exactly one msgpack integer of at most 32
 * bits, `nil` or a boolean, as msgpackr reads it; {@link NOT_SCALAR} for
 * any other bytes. Most results are such values (a count, an id, a flag),
 * and a chord's body decodes one per member: reading them here skips the
 * scan and msgpackr's setup, about a microsecond each (docs/benchmarks.md,
 * "a wide canvas compiled in one pass").
 */
const scalarOf = (b: Uint8Array): unknown => {
  const n = b.length;
  if (n === 0 || n > 5) return NOT_SCALAR;
  const t = b[0]!;
  if (n === 1) {
    if (t <= 0x7f) return t; // positive fixint
    if (t >= 0xe0) return t - 0x100; // negative fixint
    if (t === 0xc0) return null;
    if (t === 0xc2) return false;
    if (t === 0xc3) return true;
    return NOT_SCALAR;
  }
  if (n === 2) {
    if (t === 0xcc) return b[1]!; // uint 8
    if (t === 0xd0) return (b[1]! << 24) >> 24; // int 8
    return NOT_SCALAR;
  }
  if (n === 3) {
    const v = (b[1]! << 8) | b[2]!;
    if (t === 0xcd) return v; // uint 16
    if (t === 0xd1) return (v << 16) >> 16; // int 16
    return NOT_SCALAR;
  }
  if (n === 5) {
    const v = ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
    if (t === 0xce) return v; // uint 32
    if (t === 0xd2) return v | 0; // int 32
  }
  return NOT_SCALAR;
};

/**
 * Decodes msgpack bytes written by {@link encode} (or by a Lua script) into
 * plain data: `null`, `undefined`, booleans, numbers, strings, `Uint8Array`
 * (a `Buffer`), arrays and plain objects.
 *
 * The bytes are scanned before msgpackr reads them, so a planted extension
 * type is refused, never turned into an object, whatever extensions the
 * process has registered with msgpackr: a timestamp (`Date`), a `Set`, a
 * `RegExp`, an `Error`, a `bigint`, a typed array, a record definition or a
 * structured-clone reference. Extension 0 with one byte of data (msgpackr's
 * `undefined`) is the one accepted. A 64-bit integer reads as a `number`
 * (exact up to 2^53), never a `bigint`.
 *
 * @throws CorruptRecord (non-retryable) when the bytes are not one complete
 *   msgpack value, hold an extension type, or nest deeper than 512 levels.
 */
export const decode = (bytes: Uint8Array): unknown => {
  const scalar = scalarOf(bytes);
  if (scalar !== NOT_SCALAR) return scalar;
  const end = scan(bytes, 0);
  if (typeof end === "string") throw new CorruptRecord({ reason: end });
  if (end !== bytes.length)
    throw new CorruptRecord({
      reason: `${bytes.length - end} bytes after the end of the msgpack value`,
    });
  return unpack(bytes);
};

/**
 * Decodes bytes that hold msgpack values one after another (a record a
 * script appends to, such as a node's attempt history), each checked as
 * {@link decode} checks one value. Empty bytes hold no value.
 *
 * @throws CorruptRecord (non-retryable) when a value is not complete
 *   msgpack, holds an extension type or nests deeper than 512 levels; the
 *   reason names the value (1-based) and its offset.
 * @example
 * decodeSequence(Buffer.concat([encode(1), encode("a")])) // [1, "a"]
 */
export const decodeSequence = (bytes: Uint8Array): unknown[] => {
  const values: unknown[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const end = scan(bytes, pos);
    if (typeof end === "string") {
      throw new CorruptRecord({
        reason: `value ${values.length + 1} (at offset ${pos}): ${end}`,
      });
    }
    values.push(unpack(bytes.subarray(pos, end)));
    pos = end;
  }
  return values;
};

/**
 * The bytes of the first msgpack value in `bytes`, and the bytes after it
 * (views, not copies): a record a script keeps another value after, such
 * as a node's result after its record. The first value is checked as
 * {@link decode} checks one; the rest is not read.
 *
 * @throws CorruptRecord (non-retryable) when the bytes do not start with a
 *   complete msgpack value, or it holds an extension type or nests deeper
 *   than 512 levels.
 * @example
 * splitFirst(Buffer.concat([encode([1]), encode("r")])) // [<91 01>, <a1 72>]
 */
export const splitFirst = (bytes: Uint8Array): [Uint8Array, Uint8Array] => {
  const end = scan(bytes, 0);
  if (typeof end === "string") throw new CorruptRecord({ reason: end });
  return [bytes.subarray(0, end), bytes.subarray(end)];
};

/**
 * Where the msgpack value that starts at offset `at` of `bytes` ends (the
 * offset just after it), checked as {@link splitFirst} checks its first
 * value, without views of the bytes: a node's result after its record, read
 * for each member of a wide chord's body.
 *
 * @throws CorruptRecord (non-retryable) as {@link splitFirst} does.
 * @example
 * valueEnd(Buffer.concat([encode([1]), encode("r")]), 0) // 2
 */
export const valueEnd = (bytes: Uint8Array, at: number): number => {
  const end = scan(bytes, at);
  if (typeof end === "string") throw new CorruptRecord({ reason: end });
  return end;
};

/** msgpackr's reading of bytes {@link scan} accepted as one value. */
const unpack = (bytes: Uint8Array): unknown => {
  try {
    return unpackr.unpack(bytes);
  } catch (e) {
    throw new CorruptRecord({ reason: `not valid msgpack (${reason(e)})`, cause: e });
  }
};

/**
 * The values left in each container enclosing {@link scan}'s position, by
 * depth: one array for every scan (each runs to its end synchronously), so
 * that checking a nested value allocates nothing.
 */
const SCAN_STACK: number[] = [];

/**
 * Walks the msgpack value that starts at `start` without building it (and
 * without recursion), and returns the offset just after it: refuses
 * extension types but `undefined`, the unused byte 0xc1, truncation and
 * nesting deeper than {@link MAX_STORED_DEPTH}, returning why.
 */
const scan = (b: Uint8Array, start: number): number | string => {
  const end = b.length;
  let pos = start;
  let pending = 1; // values left to read in the innermost open container
  let depth = 0; // enclosing containers, their counts of values left in SCAN_STACK
  for (;;) {
    if (pending === 0) {
      if (depth === 0) break;
      depth -= 1;
      pending = SCAN_STACK[depth]!;
      continue;
    }
    if (pos >= end) return "truncated msgpack (the bytes end inside a value)";
    const at = pos;
    const t = b[pos++]!;
    pending -= 1;
    let skip = 0; // payload bytes of a scalar
    let children = 0; // values inside a container
    if (t <= 0x7f || t >= 0xe0) {
      // fixint
    } else if (t <= 0x8f) children = (t & 0x0f) * 2;
    else if (t <= 0x9f) children = t & 0x0f;
    else if (t <= 0xbf) skip = t & 0x1f;
    else {
      let lengthSize = 0; // bytes of a big-endian length that follows
      let per = 0; // what the length counts: 0 payload bytes, 1 values, 2 key/value pairs
      switch (t) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break;
        case 0xc4: // bin 8/16/32, str 8/16/32
        case 0xd9:
          lengthSize = 1;
          break;
        case 0xc5:
        case 0xda:
          lengthSize = 2;
          break;
        case 0xc6:
        case 0xdb:
          lengthSize = 4;
          break;
        case 0xcc: // uint 8..64, int 8..64, float 32/64
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xdc: // array 16/32, map 16/32
          lengthSize = 2;
          per = 1;
          break;
        case 0xdd:
          lengthSize = 4;
          per = 1;
          break;
        case 0xde:
          lengthSize = 2;
          per = 2;
          break;
        case 0xdf:
          lengthSize = 4;
          per = 2;
          break;
        case 0xd4:
          // fixext 1: only type 0, msgpackr's `undefined`
          if (pos + 2 > end) return "truncated msgpack (the bytes end inside a value)";
          if (b[pos] !== 0) return extension(b, at);
          skip = 2;
          break;
        case 0xc1:
          return `byte 0xc1 at offset ${at}, which msgpack never uses`;
        default: // 0xc7..0xc9 ext 8/16/32, 0xd5..0xd8 fixext 2..16
          return extension(b, at);
      }
      if (lengthSize > 0) {
        if (pos + lengthSize > end) return "truncated msgpack (the bytes end inside a length)";
        let n = 0;
        for (let i = 0; i < lengthSize; i++) n = n * 256 + b[pos + i]!;
        pos += lengthSize;
        if (per === 0) skip = n;
        else children = n * per;
      }
    }
    if (skip > end - pos) return "truncated msgpack (the bytes end inside a value)";
    pos += skip;
    if (children > 0) {
      // each value takes at least one byte: a count beyond the bytes left is a lie
      if (children > end - pos)
        return "truncated msgpack (a container counts more values than there are bytes)";
      if (depth + 1 > MAX_STORED_DEPTH)
        return `nested deeper than ${MAX_STORED_DEPTH} levels (at offset ${at})`;
      SCAN_STACK[depth] = pending;
      depth += 1;
      pending = children;
    }
  }
  return pos;
};

const extension = (b: Uint8Array, at: number): string => {
  const t = b[at]!;
  const typeAt = t >= 0xd4 && t <= 0xd8 ? at + 1 : at + (t === 0xc7 ? 2 : t === 0xc8 ? 3 : 5);
  const type = typeAt < b.length ? (b[typeAt]! << 24) >> 24 : undefined;
  return `a msgpack extension type${type === undefined ? "" : ` ${type}`} at offset ${at}: stored values are plain data (a timestamp, Set, RegExp, Error or bigint is not accepted)`;
};
