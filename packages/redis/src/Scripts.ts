/**
 * The Lua scripts, one transition each (`lua/<name>.lua`), and their typed
 * definitions: one per script, naming its keys, its labelled arguments and
 * the reply codes it may answer, with the decoder that turns a reply into a
 * typed result (Effect's `Redis.script` in `unstable/persistence`, with
 * labels on both sides). A definition is the one place a script's calling
 * convention lives:
 *
 * - TypeScript passes keys and arguments by label (`keyList`, `argList` put
 *   them in KEYS and ARGV order, checking each) and reads the reply through
 *   `reply`.
 * - The Lua names them by the same labels: `K.<label>` for a key,
 *   `A.<label>` for an argument, `R.<CODE>` for a reply code, `QUEUES` for
 *   the six keys of each queue that follow the labelled keys (when
 *   `perQueue`). When a source is assembled (once, when this module loads)
 *   these become locals bound from KEYS and ARGV at the top of the script
 *   (numbers converted) and the codes' strings, so they cost nothing at run
 *   time; a label or code the definition does not list stops the assembly.
 *   A script that hands its keys to includes (a bare `K`) gets them as a
 *   table that raises an error naming a label the script was not handed,
 *   so an include that reaches for a key its script lacks fails loudly
 *   instead of touching another key. No script reads `KEYS` or `ARGV`
 *   itself, and includes read keys only from their parameters (checked by
 *   `test/Scripts.test.ts`).
 *
 * `--@include <name>` lines (in scripts and in includes) pull in
 * `lua/includes/<name>.lua`, each once, ahead of the script, so an include
 * cannot see a script's bindings. Sources are read once: a process keeps the
 * Lua it started with even if the files are replaced under it (a deploy in
 * place), so its TypeScript and Lua always match. Scripts are registered
 * with `defineCommand` under a versioned name (`weft1_<name>`), so two
 * layout versions can share a Redis. Those sent one call at a time are also
 * assembled into one function library ({@link LIBRARY}, Redis 7
 * `FUNCTION LOAD`), which `Functions.ts` calls with `FCALL`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LeaseState } from "@weft/core/store";
import type { Cluster, Redis } from "ioredis";
import { LAYOUT_VERSION, type QueueKeys } from "./Keys.ts";
import { packList, unpackReply } from "./Packed.ts";
import {
  type ReplyCode,
  ReplyReader,
  type ReplyValue,
  readReply,
  UnexpectedReply,
} from "./Replies.ts";
import { asArg, ScriptCommand } from "./ScriptCommand.ts";
import { oneWritePerTurn } from "./Turn.ts";

/**
 * How an argument is passed and read:
 * - `"string"`, `"bytes"`: a Lua string (`"bytes"` takes a `Uint8Array`, sent as binary);
 * - `"number"`: a number, which the Lua receives converted (`tonumber`; a
 *   setting, through the scripts' number cache: see `SETTINGS`);
 * - `"list"`: the rest of ARGV, as a Lua list of strings (the last argument only);
 * - `"packed"`: a list sent as one argument (Packed.ts: a msgpack array of
 *   strings), which the Lua receives as the same list of strings.
 */
export type ArgKind = "string" | "number" | "bytes" | "list" | "packed";

/** A positional command argument. */
export type Arg = string | number | Uint8Array;

/** The TypeScript type of an argument of kind `K`. */
export type ArgOf<K extends ArgKind> = K extends "number"
  ? number
  : K extends "string"
    ? string
    : K extends "bytes"
      ? string | Uint8Array
      : ReadonlyArray<Arg>;

/** A script's keys by label, and the keys of each queue when the script takes them. */
export type KeysInput<K extends string, Q extends boolean> = {
  readonly [L in K]: string;
} & (Q extends true ? { readonly queues: ReadonlyArray<QueueKeys> } : unknown) & {
    /** The keys of each run, by the labels of the definition's `perRun` (a script that has them). */
    readonly perRun?: ReadonlyArray<Readonly<Record<string, string>>>;
  };

/** A script's arguments by label. */
export type ArgsInput<A extends Readonly<Record<string, ArgKind>>> = {
  readonly [L in keyof A]: ArgOf<A[L]>;
};

/** What a definition states. */
interface ScriptSpec<
  K extends string,
  A extends Readonly<Record<string, ArgKind>>,
  C extends ReplyCode,
  R,
  Q extends boolean,
> {
  /** The file `lua/<name>.lua`, and the name in {@link SCRIPTS}. */
  readonly name: string;
  /**
   * Labels of KEYS, in order. With `record`, the labels `nodes`, `specs` and `results` (the
   * run's hash under other names) are not sent: the Lua binds them to `record`.
   */
  readonly keys: ReadonlyArray<K>;
  /**
   * Whether each queue's keys follow the labelled keys (the Lua's `QUEUES`, each with the
   * seven keys of {@link QUEUE_KEYS}). Only a queue's `ready` key is sent: its six others are
   * named as it is but the last word (Keys.ts `ShardKeys.queue`), and the Lua builds them
   * (six keys fewer for Node to write and Redis to parse per queue and call).
   */
  readonly perQueue: Q;
  /**
   * Labels of the keys of each run of a script that takes several runs: a
   * group per run follows the labelled keys (ahead of the queue keys), as
   * many groups as the number argument `count` says; the Lua reads them as
   * `RUNS[i].<label>`.
   */
  readonly perRun?: ReadonlyArray<string>;
  /** Labels of ARGV and their kinds, in order (a `"list"` last). */
  readonly argv: A;
  /** The reply codes the script may answer. */
  readonly codes: ReadonlyArray<C>;
  /** The typed result of a reply with code `code`; raises `UnexpectedReply` through the reader. */
  decode(code: C, reply: ReplyReader): R;
}

/** A script's definition: what it states, and how to call it. */
export interface Script<
  K extends string,
  A extends Readonly<Record<string, ArgKind>>,
  C extends ReplyCode,
  R,
  Q extends boolean,
> extends ScriptSpec<K, A, C, R, Q>,
    ScriptCall<KeysInput<K, Q>, ArgsInput<A>, R> {}

/** How a store calls a script: keys and arguments by label, a typed result. */
export interface ScriptCall<KI, AI, R> {
  /** The script's name (a key of {@link SCRIPTS}). */
  readonly name: string;
  /**
   * KEYS, in order (the aliases of `record` left out, each queue's `ready` key alone).
   *
   * @throws Error when a key is missing, an alias of `record` names another key, or a
   *   queue's keys are not named from its `ready` key as the Lua builds them.
   */
  keyList(keys: KI): string[];
  /** ARGV, in order (a list argument spread). */
  argList(args: AI): Arg[];
  /**
   * The typed result of a raw reply.
   *
   * @throws UnexpectedReply when the reply is not one of this script's.
   */
  reply(raw: unknown): R;
}

/** The keys of one queue, in the order a script takes them. */
export const QUEUE_KEYS = [
  "ready",
  "delayed",
  "leases",
  "wake",
  "parked",
  "expiring",
  "paused",
] as const;

/**
 * Key labels that name the run's hash under another label (`record`): a run's record,
 * node records, specs and results share one hash (docs/redis-layout.md). A script that
 * takes `record` is sent that key once, and its Lua binds these labels to it: three keys
 * fewer for Node to write and Redis to parse and turn into a Lua table on every call.
 */
const RUN_HASH_ALIASES: ReadonlySet<string> = new Set(["nodes", "specs", "results"]);

/** The labels of a script's named keys that are sent (in KEYS order): its aliases of `record` left out. */
export const sentKeyLabels = <L extends string>(keys: ReadonlyArray<L>): ReadonlyArray<L> =>
  keys.includes("record" as L) ? keys.filter((label) => !RUN_HASH_ALIASES.has(label)) : keys;

/** Queue keys found named as the Lua builds them, frozen: they stay so. */
const namedWell = new WeakSet<object>();

/**
 * Whether the keys of a queue are named as a script's Lua builds them from its `ready` key
 * (the only one sent): that name but the last word, `delayed`, `leases`, ... in its place.
 */
const namedFromReady = (q: Readonly<Record<string, unknown>>): boolean => {
  if (namedWell.has(q)) return true;
  const ready = q.ready;
  if (typeof ready !== "string" || !ready.endsWith("ready")) return false;
  const base = ready.length - "ready".length;
  for (const label of QUEUE_KEYS) {
    const key = q[label];
    if (
      typeof key !== "string" ||
      key.length !== base + label.length ||
      !key.endsWith(label) ||
      !ready.startsWith(key.slice(0, base))
    )
      return false;
  }
  // (a frozen object, as Keys.ts builds each queue's once, is checked once)
  if (Object.isFrozen(q)) namedWell.add(q);
  return true;
};

const isArg = (v: unknown): v is Arg =>
  typeof v === "string" || typeof v === "number" || v instanceof Uint8Array;

const define = <
  const K extends string,
  const A extends Readonly<Record<string, ArgKind>>,
  const C extends ReplyCode,
  R,
  const Q extends boolean,
>(
  spec: ScriptSpec<K, A, C, R, Q>,
): Script<K, A, C, R, Q> => {
  const argv = Object.entries(spec.argv);
  const wrong = (what: string) => new Error(`script ${spec.name}: ${what}`);
  const sent = sentKeyLabels(spec.keys);
  const aliases = spec.keys.filter((label) => !sent.includes(label));
  return {
    ...spec,
    keyList: (keys) => {
      const out: string[] = [];
      for (const label of sent) {
        const key: unknown = keys[label];
        if (typeof key !== "string") throw wrong(`key ${label} is not a key name`);
        out.push(key);
      }
      // (not sent: the Lua binds them to `record`, so they must name it)
      for (const label of aliases) {
        if (Reflect.get(keys, label) !== Reflect.get(keys, "record"))
          throw wrong(`key ${label} is not the run's hash`);
      }
      if (spec.perRun !== undefined) {
        const runs: unknown = Reflect.get(keys, "perRun");
        if (!Array.isArray(runs)) throw wrong("no per-run keys given");
        for (const run of runs) {
          for (const label of spec.perRun) {
            const key: unknown = run[label];
            if (typeof key !== "string") throw wrong(`key ${label} of a run is not a key name`);
            out.push(key);
          }
        }
      }
      if (!spec.perQueue) return out;
      const queues: unknown = Reflect.get(keys, "queues");
      if (!Array.isArray(queues)) throw wrong("no queue keys given");
      for (const q of queues) {
        if (!namedFromReady(q)) throw wrong("queue keys are not named as the Lua builds them");
        out.push(q.ready);
      }
      return out;
    },
    argList: (args) => {
      // sized first, then written in place: a submitmany's list holds thousands of arguments
      let size = 0;
      for (const [label, kind] of argv) {
        const v: unknown = Reflect.get(args, label);
        size += kind === "list" && Array.isArray(v) ? v.length : 1;
      }
      const out: Arg[] = new Array(size);
      let at = 0;
      for (const [label, kind] of argv) {
        const v: unknown = Reflect.get(args, label);
        if (kind === "list" && Array.isArray(v)) {
          // a loop, not `every` and a spread
          for (let i = 0; i < v.length; i++) {
            const item: unknown = v[i];
            if (!isArg(item)) throw wrong(`argument ${label} is not of kind ${kind}`);
            out[at++] = item;
          }
        } else if (kind === "packed" && Array.isArray(v)) {
          for (let i = 0; i < v.length; i++)
            if (!isArg(v[i])) throw wrong(`argument ${label} is not of kind ${kind}`);
          out[at++] = packList(v);
        } else if (kind === "bytes" && (typeof v === "string" || v instanceof Uint8Array))
          out[at++] = v;
        else if ((kind === "number" || kind === "string") && typeof v === kind && isArg(v))
          out[at++] = v;
        else throw wrong(`argument ${label} is not of kind ${kind}`);
      }
      return out;
    },
    reply: (raw) => {
      const { code, reader } = readReply(spec.name, spec.codes, unpackedWhole(spec.name, raw));
      return spec.decode(code, reader);
    },
  };
};

/**
 * A script's reply as Redis would have answered it: one string is the whole
 * list packed (`cmsgpack.pack`, complete.lua's reply that hands out nodes),
 * read by {@link unpackReply}; any other reply as it is (a script never
 * answers one string otherwise: every reply leads with its code).
 *
 * @throws UnexpectedReply when the string is not a packed value.
 */
const unpackedWhole = (script: string, raw: unknown): unknown =>
  Buffer.isBuffer(raw) ? unpacked(script, raw) : raw;

/**
 * `bytes` a script packed (`cmsgpack.pack`), read by {@link unpackReply}.
 *
 * @throws UnexpectedReply when they are not a packed value.
 */
const unpacked = (script: string, bytes: Buffer): ReplyValue => {
  try {
    return unpackReply(bytes);
  } catch (e) {
    throw new UnexpectedReply(script, e instanceof Error ? e.message : String(e));
  }
};

/**
 * An item of `completemany`'s reply as `complete`'s reply decodes: the integer 0 stands
 * for `{ OK, 0 }`, a success with nothing handed out and no work left (completemany.lua).
 */
export const completeItem = (raw: unknown): ReturnType<typeof SCRIPTS.complete.reply> =>
  raw === 0 ? { code: "OK", more: false, leased: [] } : SCRIPTS.complete.reply(raw);

/** `{ code, more }`: a run transition's code, and whether work is left for `drain`. */
const withMore = <C extends ReplyCode>(code: C, reply: ReplyReader) => ({
  code,
  more: reply.flag(0),
});

/** A node leased by a completion (`complete`'s claims), as the script answers it. */
export interface LeasedNode {
  readonly nodeId: number;
  readonly token: number;
  readonly attempt: number;
  readonly stalls: number;
  /** The node's spec; `null` when the run hash has none (then `deps` is empty too). */
  readonly spec: HandedSpec | null;
  /** Dependency results: see `depResults` in `lua/includes/attempt.lua`. */
  readonly deps: ReadonlyArray<ReplyValue>;
}

/**
 * A node's spec as a script hands it: its bytes as stored, and the task its
 * node record names (a spec written since 2026-12-05 has no id and task:
 * `decodeSpec` takes them from the claim and from here).
 */
export interface HandedSpec {
  readonly bytes: Buffer;
  readonly task: string;
}

/** The spec of a reply whose task is at `i` and spec bytes at `i + 1`; `null` when it has none. */
const handedSpec = (reply: ReplyReader, i: number): HandedSpec | null => {
  // (a spec that is not there ends the reply: a Lua list stops at nil)
  const bytes = reply.bytesOrNull(i + 1);
  return bytes === null ? null : { bytes, task: reply.text(i) };
};

/**
 * The list of values packed into the string at position `i` of `reply`
 * (`cmsgpack.pack` of a Lua list, read by {@link unpackReply} as Redis would
 * have answered the list).
 *
 * @throws UnexpectedReply when the string is not a packed list.
 */
const packedList = (reply: ReplyReader, i: number): ReplyValue[] => {
  // (called where value i is bytes: none reads as a value cut short)
  const v = unpacked(reply.script, reply.bytesOrNull(i) ?? Buffer.alloc(0));
  if (!Array.isArray(v)) throw new UnexpectedReply(reply.script, `value ${i + 1} packs no list`);
  return v;
};

const leasedNodes = (reply: ReplyReader): LeasedNode[] => {
  const out: LeasedNode[] = [];
  for (let i = 1; i < reply.length; i++) {
    const c = reply.sub(i);
    out.push({
      nodeId: c.int(0),
      token: c.int(1),
      attempt: c.int(2),
      stalls: c.int(3),
      spec: handedSpec(c, 4),
      // (inline after the spec: depResults's list, includes/attempt.lua)
      deps: c.rest(6),
    });
  }
  return out;
};

const leaseState = (code: "OK" | "STALE" | "CANCELLED"): LeaseState =>
  code === "OK" ? "held" : code === "CANCELLED" ? "cancelled" : "lost";

const RUN_HASH = ["record", "nodes", "specs", "results"] as const;

const SUBMIT_CODES = ["OK", "EXISTS", "CONFLICT", "RETRY", "GONE", "DUPLICATE", "ADOPT"] as const;

/** A run's reply to `submit` (and each run's in `submitmany`'s). */
const submitReply = (code: (typeof SUBMIT_CODES)[number], reply: ReplyReader) =>
  code === "OK"
    ? withMore(code, reply)
    : code === "EXISTS" || code === "CONFLICT" || code === "ADOPT"
      ? { code, runId: reply.text(0) }
      : { code };

/** The arguments of a script that hands back a leased node (release, park). */
const LEASED_NODE = {
  runId: "string",
  node: "number",
  token: "number",
  now: "number",
  eventsMax: "number",
} as const;

/**
 * A member a claim leased and started (`claim`'s reply): the start's raw reply, or the
 * common start's values sent in line (`lean`, see claim.lua).
 */
export type LeasedStart = {
  readonly queueIndex: number;
  readonly member: string;
  readonly token: number;
} & (
  | { readonly start: ReadonlyArray<ReplyValue>; readonly lean?: undefined }
  | {
      readonly start?: undefined;
      readonly lean: {
        readonly attempt: number;
        readonly stalls: number;
        readonly spec: HandedSpec | null;
      };
    }
);

/**
 * Every script's definition, by name. The Lua headers list the same keys,
 * arguments and reply codes (checked by `test/Scripts.test.ts`).
 */
export const SCRIPTS = {
  submit: define({
    name: "submit",
    keys: [
      ...RUN_HASH,
      "work",
      "shardWork",
      "events",
      "runList",
      "seq",
      "pending",
      "idempotency",
      "namedRun",
    ],
    perQueue: true,
    argv: {
      runId: "string",
      now: "number",
      phase: "string",
      total: "number",
      queues: "string",
      tags: "string",
      retentionMs: "number",
      windowMs: "number",
      budget: "number",
      fingerprint: "bytes",
      nonce: "bytes",
      output: "bytes",
      seen: "bytes",
      reuse: "string",
      eventsMax: "number",
      notBefore: "number",
      expiresAt: "number",
      headers: "bytes",
      queued: "number",
      queuedRecord: "bytes",
      nodes: "packed",
    },
    codes: SUBMIT_CODES,
    decode: submitReply,
  }),
  submitmany: define({
    name: "submitmany",
    keys: ["shardWork", "events", "runList", "seq", "pending"],
    perQueue: true,
    argv: {
      count: "number",
      budget: "number",
      eventsMax: "number",
      runPrefix: "string",
      runs: "packed",
    },
    codes: SUBMIT_CODES,
    /** Each run's reply, in order, as `submit` decodes it (the integer 0: `{ OK, more: false }`). */
    decode: (_, reply) =>
      Array.from({ length: reply.length }, (_, i) => {
        if (reply.isZero(i)) return { code: "OK" as const, more: false };
        const run = readReply("submitmany", SUBMIT_CODES, reply.list(i));
        return submitReply(run.code, run.reader);
      }),
  }),
  claim: define({
    name: "claim",
    keys: ["tokens", "seq", "lastClaim", "shardWork", "events", "workerNames"],
    perQueue: true,
    argv: {
      now: "number",
      max: "number",
      leaseMs: "number",
      requestId: "string",
      part: "number",
      promote: "number",
      worker: "string",
      eventsMax: "number",
      runPrefix: "string",
      queueNames: "string",
      tasks: "list",
    },
    codes: ["OK"],
    /**
     * The leased members, each started in the same call: the index of the queue (among the
     * request's, 1-based), "runId#node", the token, and the start's raw reply (read with
     * `SCRIPTS.start.reply`), or the common start's attempt, stalls, task and spec (`lean`: an
     * `OK` with the run's one queue the claimed one, no headers, no dependencies, sent in
     * line, claim.lua; one sent as queue index 0, member, token and spec has the queue
     * index, attempt, stalls and task of the last one in line); and, when the claim came up
     * short, the earliest due time of the queues' delayed sets (`null`: they are empty;
     * `undefined`: not read).
     *
     * @throws UnexpectedReply on an item of queue index 0 before any in line, or without a spec.
     */
    decode: (_, raw) => {
      const leased: LeasedStart[] = [];
      // a claim answers its items packed in one string (claim.lua): read as the list they
      // would have been, after `due` (a reader that starts one before the list)
      const reply =
        raw.length === 2 && raw.isBytes(1)
          ? new ReplyReader(raw.script, packedList(raw, 1), -1)
          : raw;
      // (the last item in line: an item of queue index 0 is like it but its spec)
      let last: { queueIndex: number; attempt: number; stalls: number; task: string } | undefined;
      for (let i = 1; i + 3 < reply.length; ) {
        const queueIndex = reply.int(i);
        const member = reply.text(i + 1);
        const token = reply.int(i + 2);
        if (queueIndex === 0) {
          const bytes = reply.bytesOrNull(i + 3);
          if (last === undefined || bytes === null)
            throw new UnexpectedReply(
              reply.script,
              `value ${i + 1}: 0 with no item in line before it, or no spec`,
            );
          const lean = {
            attempt: last.attempt,
            stalls: last.stalls,
            spec: { bytes, task: last.task },
          };
          leased.push({ queueIndex: last.queueIndex, member, token, lean });
          i += 4;
        } else if (reply.isList(i + 3)) {
          leased.push({ queueIndex, member, token, start: reply.list(i + 3) });
          i += 4;
        } else {
          const lean = {
            attempt: reply.int(i + 3),
            stalls: reply.int(i + 4),
            spec: handedSpec(reply, i + 5),
          };
          if (lean.spec !== null)
            last = { queueIndex, attempt: lean.attempt, stalls: lean.stalls, task: lean.spec.task };
          leased.push({ queueIndex, member, token, lean });
          i += 7;
        }
      }
      const due = raw.text(0);
      return { leased, due: due === "" ? undefined : due === "-" ? null : Number(due) };
    },
  }),
  start: define({
    name: "start",
    keys: [...RUN_HASH, "work", "shardWork", "events", "leases", "workerNames"],
    perQueue: false,
    argv: {
      runId: "string",
      node: "number",
      token: "number",
      worker: "string",
      now: "number",
      queue: "string",
      eventsMax: "number",
    },
    codes: ["OK", "STALE", "STALLED_OUT", "EXPIRED", "CORRUPT"],
    decode: (code, reply) => {
      switch (code) {
        case "OK":
          return {
            code,
            attempt: reply.int(0),
            stalls: reply.int(1),
            // a spec that is not there ends the reply (a Lua list stops at nil)
            spec: handedSpec(reply, 2),
            runQueues: (reply.length > 4 ? reply.text(4) : "").split(","),
            headers: reply.length > 5 ? reply.bytesOrNull(5) : null,
            deps: reply.rest(6),
          };
        case "STALLED_OUT":
        case "EXPIRED":
          return { code, more: reply.flag(0), runQueues: reply.text(1).split(",") };
        case "CORRUPT":
          return { code, field: reply.text(0), why: reply.text(1) };
        default:
          return { code };
      }
    },
  }),
  corrupt: define({
    name: "corrupt",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: {
      runId: "string",
      node: "number",
      token: "number",
      now: "number",
      field: "string",
      why: "string",
      budget: "number",
      queueIndex: "number",
      queueListCorrupt: "number",
      eventsMax: "number",
    },
    codes: ["OK", "STALE", "GONE"],
    decode: (code, reply) => (code === "OK" ? withMore(code, reply) : { code, more: false }),
  }),
  complete: define({
    name: "complete",
    keys: [...RUN_HASH, "work", "shardWork", "events", "tokens", "seq", "workerNames"],
    perQueue: true,
    argv: {
      runId: "string",
      node: "number",
      token: "number",
      result: "bytes",
      now: "number",
      worker: "string",
      nextMax: "number",
      leaseMs: "number",
      served: "string",
      budget: "number",
      eventsMax: "number",
      span: "string",
    },
    codes: ["OK", "REPLAYED", "STALE", "CANCELLED"],
    decode: (code, reply) =>
      code === "OK" || code === "REPLAYED"
        ? // (one literal: a spread into a new object costs V8 a slow path on every call)
          { code, more: reply.flag(0), leased: leasedNodes(reply) }
        : withMore(code, reply),
  }),
  completemany: define({
    name: "completemany",
    keys: ["shardWork", "events", "tokens", "seq", "workerNames"],
    perQueue: false,
    argv: {
      now: "number",
      worker: "string",
      leaseMs: "number",
      budget: "number",
      eventsMax: "number",
      runPrefix: "string",
      queuePrefix: "string",
      items: "packed",
      shared: "bytes",
    },
    codes: ["OK"],
    /**
     * One raw complete reply per item, in order (read each with {@link completeItem}): the
     * items come packed in one string (completemany.lua); a call of no items answers none.
     */
    decode: (_, reply) =>
      reply.length === 1 && reply.isBytes(0) ? packedList(reply, 0) : reply.rest(0),
  }),
  replace: define({
    name: "replace",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: {
      mode: "string",
      nonce: "string",
      bodies: "bytes",
      runId: "string",
      node: "number",
      token: "number",
      now: "number",
      phase: "string",
      base: "number",
      count: "number",
      oldQueues: "string",
      queues: "string",
      spec: "bytes",
      deps: "bytes",
      pending: "number",
      budget: "number",
      eventsMax: "number",
      nodes: "list",
    },
    codes: ["OK", "REPLAYED", "CANCELLED", "STALE", "RETRY", "BUSY", "ENDED"],
    decode: (code, reply) =>
      code === "RETRY" || code === "BUSY" || code === "ENDED"
        ? { code, more: false }
        : withMore(code, reply),
  }),
  fail: define({
    name: "fail",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: {
      runId: "string",
      node: "number",
      token: "number",
      error: "bytes",
      now: "number",
      retryAt: "number",
      budget: "number",
      eventsMax: "number",
    },
    codes: ["OK", "REPLAYED", "STALE"],
    decode: withMore,
  }),
  drain: define({
    name: "drain",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: { runId: "string", now: "number", budget: "number", eventsMax: "number" },
    codes: ["OK"],
    /** Whether work is still left. */
    decode: (_, reply) => reply.flag(0),
  }),
  cancel: define({
    name: "cancel",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: {
      runId: "string",
      now: "number",
      budget: "number",
      requestId: "string",
      channel: "string",
      eventsMax: "number",
    },
    codes: ["OK", "REPLAYED", "ENDED", "GONE"],
    decode: withMore,
  }),
  redrive: define({
    name: "redrive",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: {
      runId: "string",
      now: "number",
      node: "number",
      spec: "bytes",
      budget: "number",
      eventsMax: "number",
    },
    codes: ["OK", "GONE", "SUCCEEDED", "NOTENDED", "NOTQUIET", "BADNODE"],
    /** Whether work is left for `drain`, and the number of nodes this call queued. */
    decode: (code, reply) =>
      code === "OK" ? { code, more: reply.flag(0), queued: reply.int(1) } : { code },
  }),
  heartbeat: define({
    name: "heartbeat",
    keys: ["leases", "record"],
    perQueue: false,
    argv: { lease: "string", expiry: "number" },
    codes: ["OK", "STALE", "CANCELLED"],
    decode: leaseState,
  }),
  progress: define({
    name: "progress",
    keys: ["leases", "results", "record", "events"],
    perQueue: false,
    argv: {
      lease: "string",
      node: "number",
      progress: "bytes",
      runId: "string",
      now: "number",
      eventsMax: "number",
    },
    codes: ["OK", "STALE", "CANCELLED"],
    decode: leaseState,
  }),
  release: define({
    name: "release",
    keys: ["nodes", "results", "leases", "ready", "wake", "seq", "events"],
    perQueue: false,
    argv: LEASED_NODE,
    codes: ["OK", "STALE", "CORRUPT"],
    decode: (code) => code,
  }),
  park: define({
    name: "park",
    keys: ["nodes", "leases", "parked", "wake", "seq", "events"],
    perQueue: false,
    argv: LEASED_NODE,
    codes: ["OK", "STALE"],
    decode: (code) => code,
  }),
  hold: define({
    name: "hold",
    keys: ["nodes", "leases", "delayed", "events"],
    perQueue: false,
    argv: { ...LEASED_NODE, dueAt: "number" },
    codes: ["OK", "STALE"],
    decode: (code) => code,
  }),
  expire: define({
    name: "expire",
    keys: [...RUN_HASH, "work", "shardWork", "events", "seq"],
    perQueue: true,
    argv: { runId: "string", node: "number", now: "number", budget: "number", eventsMax: "number" },
    codes: ["OK", "STALE", "GONE"],
    decode: (code, reply) => (code === "GONE" ? { code, more: false } : withMore(code, reply)),
  }),
  promote: define({
    name: "promote",
    keys: ["delayed", "ready", "wake", "seq"],
    perQueue: false,
    argv: { now: "number", limit: "number" },
    codes: ["OK"],
    /** How many retries were made ready. */
    decode: (_, reply) => reply.int(0),
  }),
  reap: define({
    name: "reap",
    keys: ["leases", "ready", "wake", "seq", "events"],
    perQueue: false,
    argv: { now: "number", limit: "number", eventsMax: "number" },
    codes: ["OK"],
    /** How many nodes were re-delivered. */
    decode: (_, reply) => reply.int(0),
  }),
  discard: define({
    name: "discard",
    keys: [...RUN_HASH, "work", "pending"],
    perQueue: false,
    argv: { runId: "string", cutoff: "number" },
    codes: ["OK", "KEPT"],
    decode: (code) => code,
  }),
  prune: define({
    name: "prune",
    keys: ["runList"],
    perQueue: false,
    argv: { now: "number", horizon: "number", runPrefix: "string", runs: "packed" },
    codes: ["OK"],
    /** One character per run, in order: "1" gone, "2" held, "0" kept (prune.lua). */
    decode: (_, reply) => reply.text(0),
  }),
  waitrun: define({
    name: "waitrun",
    keys: ["record"],
    perQueue: false,
    argv: { mode: "string", quiet: "number", fields: "list" },
    codes: ["OK", "GONE"],
    /**
     * Whether the waiter is counted after the call, and the values of the
     * fields asked for (bytes, `null` where absent) once the run is over
     * for the wait, or when its status is none of a run's; none while it is
     * not over. `undefined` when the run does not exist.
     */
    decode: (code, reply) => {
      if (code === "GONE") return undefined;
      const values: Array<Buffer | null> = [];
      for (let i = 1; i < reply.length; i++) values.push(reply.bytesOrNull(i));
      return { counted: reply.flag(0), values };
    },
  }),
  waitrunmany: define({
    name: "waitrunmany",
    keys: [],
    perRun: ["record"],
    perQueue: false,
    argv: { count: "number", lists: "packed", reads: "packed" },
    codes: ["OK"],
    /** One raw waitrun reply per run, in order (read each with `SCRIPTS.waitrun.reply`). */
    decode: (_, reply) => reply.rest(0),
  }),
  lock: define({
    name: "lock",
    keys: ["lock", "fence"],
    perQueue: false,
    argv: { owner: "string", ttlMs: "number", now: "number", graceMs: "number" },
    codes: ["OK", "LOCKED"],
    /** The fencing token, or `undefined` when another owner holds the lock. */
    decode: (code, reply) => (code === "OK" ? reply.int(0) : undefined),
  }),
  renewlock: define({
    name: "renewlock",
    keys: ["lock"],
    perQueue: false,
    argv: {
      owner: "string",
      token: "number",
      ttlMs: "number",
      now: "number",
      graceMs: "number",
    },
    codes: ["OK", "STALE"],
    /** Whether the lock is still held. */
    decode: (code) => code === "OK",
  }),
  unlock: define({
    name: "unlock",
    keys: ["lock"],
    perQueue: false,
    argv: { owner: "string", token: "number" },
    codes: ["OK", "STALE"],
    decode: (code) => code,
  }),
  ratelimit: define({
    name: "ratelimit",
    keys: ["limiter"],
    perQueue: false,
    argv: {
      now: "number",
      limit: "number",
      intervalMs: "number",
      want: "number",
      owner: "string",
    },
    codes: ["OK"],
    /** How many claims were granted, their reservations, and when the limit frees (when it held some back). */
    decode: (_, reply) => {
      const freeAt = reply.int(1);
      const members: string[] = [];
      for (let i = 2; i < reply.length; i++) members.push(reply.text(i));
      return { granted: reply.int(0), members, ...(freeAt < 0 ? {} : { freeAt }) };
    },
  }),
  concurrency: define({
    name: "concurrency",
    keys: ["slots"],
    perQueue: false,
    argv: { now: "number", max: "number", member: "string", expiry: "number", retryMs: "number" },
    codes: ["OK"],
    /** Whether a slot was granted, and when a refused node is tried again (epoch ms). */
    decode: (_, reply) => ({ granted: reply.int(0) === 1, retryAt: reply.int(1) }),
  }),
  scheduleput: define({
    name: "scheduleput",
    keys: ["schedule", "index"],
    perQueue: false,
    argv: { id: "string", def: "bytes", paused: "string", now: "number" },
    codes: ["OK"],
    decode: (code) => code,
  }),
  scheduleadvance: define({
    name: "scheduleadvance",
    keys: ["schedule"],
    perQueue: false,
    argv: { version: "number", state: "bytes" },
    codes: ["OK", "STALE", "GONE"],
    /** Whether the state was written. */
    decode: (code) => code === "OK",
  }),
  scheduleremove: define({
    name: "scheduleremove",
    keys: ["schedule", "index"],
    perQueue: false,
    argv: { id: "string" },
    codes: ["OK", "GONE"],
    /** Whether there was a schedule. */
    decode: (code) => code === "OK",
  }),
  schedulepause: define({
    name: "schedulepause",
    keys: ["schedule"],
    perQueue: false,
    argv: { paused: "string", now: "number" },
    codes: ["OK", "GONE"],
    /** Whether there is a schedule. */
    decode: (code) => code === "OK",
  }),
} as const;

/** A script's name. */
export type ScriptName = keyof typeof SCRIPTS;

/** Every script's definition (for code that walks them all). */
export const SCRIPT_LIST: ReadonlyArray<AnyScriptSpec> = Object.values(SCRIPTS);

const LUA = join(dirname(fileURLToPath(import.meta.url)), "lua");
const INCLUDE = /^--@include (\w+)$/gm;

/** The includes a source names, each once, every include after those it names itself. */
const includesOf = (source: string, into: string[] = [], path: string[] = []): string[] => {
  for (const [, name] of source.matchAll(INCLUDE)) {
    if (path.includes(name!))
      throw new Error(`lua includes form a cycle: ${[...path, name].join(" → ")}`);
    if (into.includes(name!)) continue;
    includesOf(includeSource(name!), into, [...path, name!]);
    into.push(name!);
  }
  return into;
};

const includeSource = (name: string): string =>
  readFileSync(join(LUA, "includes", `${name}.lua`), "utf8");

const luaString = (s: string): string => JSON.stringify(s);

/**
 * Rewrites the code of a Lua source, leaving its comments and string
 * literals as they are (`--` comments, `"..."` and `'...'` strings; the
 * scripts use no long brackets).
 */
const rewriteCode = (source: string, rewrite: (code: string) => string): string =>
  source
    .split(/(--[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')/)
    .map((part, i) => (i % 2 === 0 ? rewrite(part) : part))
    .join("");

/**
 * A script body as it runs: with its definition's bindings (`bind`) and,
 * when the call ends with a flush of what it buffered ({@link endOfCall}),
 * inside a function whose return is taken after that flush.
 */
const runnable = (spec: AnyScriptSpec, body: string, includes: ReadonlyArray<string>): string => {
  const ends = endOfCall(includes);
  return ends
    ? ["local function body()", bind(spec, body, includes), "end", ...ends("")].join("\n")
    : bind(spec, body, includes);
};

/**
 * What a script whose includes are `includes` runs after its body (the
 * local function `body`, called with the arguments `args`, Lua), as lines
 * that end in its `return`; or undefined when it runs nothing after it.
 * With `grants` (lua/includes/grants.lua): the call's tokens and leases
 * written by `grants.flush`, also when the body raised an error (which then
 * goes on): a node the body started must keep its lease, and the token
 * counter must stay past every token handed out. With `events` (lua/includes/events.lua):
 * the call's events written as one entry of the events stream by
 * `flushEvents`, whichever `return` of the body answered.
 */
const endOfCall = (includes: ReadonlyArray<string>): ((args: string) => string[]) | undefined => {
  const grants = includes.includes("grants");
  const events = includes.includes("events");
  if (!grants && !events) return undefined;
  return (args) => [
    ...(grants
      ? [
          `local ok, replied = pcall(body${args ? `, ${args}` : ""})`,
          "grants.flush()",
          "if not ok then error(replied, 0) end",
        ]
      : [`local replied = body(${args})`]),
    ...(events ? ["flushEvents()"] : []),
    "return replied",
  ];
};

/**
 * Number arguments that a worker or a client sends with the same value call
 * after call (its settings: how many nodes it takes, its lease, the events
 * stream's length, a call's budget of work). A script that includes
 * lua/includes/record.lua reads them through its cache of numbers by their
 * digits (`num`: one table read, where `tonumber` parses the digits at every
 * call, about 1,200 Redis instructions each); other number arguments (times,
 * node ids, tokens) are new at each call and read with `tonumber`.
 */
const SETTINGS: ReadonlySet<string> = new Set([
  "nextMax",
  "leaseMs",
  "budget",
  "eventsMax",
  "max",
  "limit",
]);

/**
 * What a library's function shares across its calls, made once when the
 * library loads: `ownTable` names a table declared above the function (one
 * local: the library's top level is at Lua's 200), the metatable of its key
 * table `K` (its `__index` names a label the call was not handed), which
 * also holds `K` itself (field `K`, made at the first call: `setmetatable`
 * is not there while the library loads) and the function's `--@once`
 * constants ({@link hoistOnce}). Each call sets `K`'s fields to its keys: a
 * table made at every call cost a lone chain step about 700 bytes of
 * garbage; with its reply codes' table made once too, the step takes 1 %
 * fewer Redis instructions (docs/benchmarks.md, 2026-12-07). No include keeps `K` past a call. Each
 * queue's keys are taken from `QUEUE_KEYS` (a bounded cache by the queue's
 * `ready` key) instead of being joined anew at every call.
 */
interface LibraryBinding {
  readonly ownTable: string;
}

/** The metatable of script `spec`'s key table `K`: reading a label it was not handed raises an error naming it. */
const keyMetatable = (spec: AnyScriptSpec): string =>
  [
    "{ __index = function(_, label)",
    `  error("script ${spec.name} was not handed key " .. tostring(label), 2)`,
    "end }",
  ].join("\n");

/**
 * A script body with its definition's bindings resolved (see the module's
 * docstring): `K.<label>` becomes the local `K_<label>`, `A.<label>` the
 * local `A_<label>`, `R.<CODE>` the string `"<CODE>"`, and the locals are
 * bound from KEYS and ARGV above it; a bare `K` (handed to includes) is a
 * table of the keys that raises an error naming a label it lacks. QUEUES
 * holds the keys of each queue (when `perQueue`). `includes`: the body's
 * includes (`includesOf`), which say whether it may read its settings
 * through the number cache (`SETTINGS`).
 *
 * @throws Error when the body names a key, argument or reply code its definition lacks.
 */
const bind = (
  spec: AnyScriptSpec,
  body: string,
  includes: ReadonlyArray<string>,
  library?: LibraryBinding,
): string => {
  // (the scripts' number cache, `num`, is in includes/record.lua)
  const cached = includes.includes("record");
  const missing = (what: string, label: string) =>
    new Error(`script ${spec.name} uses ${what} ${label}, which its definition does not list`);
  let handsKeys = false;
  const code = rewriteCode(body, (part) =>
    part.replace(
      /\b([KAR])\b(\.(\w+))?/g,
      (all, table: string, dotted?: string, label?: string) => {
        if (table === "K" && dotted === undefined) {
          handsKeys = true;
          return all;
        }
        if (label === undefined) return all;
        if (table === "K" && !spec.keys.includes(label)) throw missing("key", label);
        if (table === "A" && !(label in spec.argv)) throw missing("argument", label);
        if (table === "R" && !spec.codes.some((c) => c === label))
          throw missing("reply code", label);
        return table === "R" ? luaString(label) : `${table}_${label}`;
      },
    ),
  );
  const lines = [`-- the bindings of script ${spec.name}'s definition (Scripts.ts)`];
  const sent = sentKeyLabels(spec.keys);
  sent.forEach((label, i) => {
    lines.push(`local K_${label} = KEYS[${i + 1}]`);
  });
  // (the run's hash under its other labels: sent once, as `record`)
  for (const label of spec.keys) {
    if (!sent.includes(label)) lines.push(`local K_${label} = K_record`);
  }
  let from: number | string = sent.length + 1;
  if (spec.perRun !== undefined) {
    if (spec.argv.count !== "number") throw missing("argument", "count (of runs)");
    const n = spec.perRun.length;
    const fields = spec.perRun.map((label, j) => `${label} = KEYS[i${j === 0 ? "" : ` + ${j}`}]`);
    lines.push(
      "local RUNS = {}",
      `for i = ${from}, ${from - 1} + ${n} * tonumber(ARGV[${Object.keys(spec.argv).indexOf("count") + 1}]), ${n} do`,
      `  RUNS[#RUNS + 1] = { ${fields.join(", ")} }`,
      "end",
    );
    from = `${from} + #RUNS * ${n}`;
  }
  if (spec.perQueue) {
    // (each queue's `ready` key is sent; its six other keys share its name but the last word)
    const fields = QUEUE_KEYS.map((label) =>
      label === "ready" ? "ready = k" : `${label} = base .. "${label}"`,
    );
    lines.push(
      "local QUEUES = {}",
      `for i = ${from}, #KEYS do`,
      "  local k = KEYS[i]",
      ...(library === undefined
        ? [
            "  local base = string.sub(k, 1, -6)",
            `  QUEUES[#QUEUES + 1] = { ${fields.join(", ")} }`,
          ]
        : [
            "  local q = QUEUE_KEYS[k]",
            "  if not q then",
            "    local base = string.sub(k, 1, -6)",
            `    q = { ${fields.join(", ")} }`,
            "    keepQueueKeys(k, q)",
            "  end",
            "  QUEUES[#QUEUES + 1] = q",
          ]),
      "end",
    );
  }
  Object.entries(spec.argv).forEach(([label, kind], i) => {
    const at = `ARGV[${i + 1}]`;
    if (kind === "list") {
      // (indexed by the loop variable, not `#`: the length operator searches the table each turn)
      lines.push(
        `local A_${label} = {}`,
        `for i = ${i + 1}, #ARGV do A_${label}[i - ${i}] = ARGV[i] end`,
      );
    } else if (kind === "packed") lines.push(`local A_${label} = cmsgpack.unpack(${at})`);
    else if (kind !== "number") lines.push(`local A_${label} = ${at}`);
    else
      lines.push(`local A_${label} = ${cached && SETTINGS.has(label) ? "num" : "tonumber"}(${at})`);
  });
  if (handsKeys && library !== undefined) {
    const own = library.ownTable;
    lines.push(
      `local K = ${own}.K`,
      `if K == nil then K = setmetatable({}, ${own}); ${own}.K = K end`,
      ...spec.keys.map((label) => `K.${label} = K_${label}`),
    );
  } else if (handsKeys) {
    const keys = spec.keys.map((label) => `${label} = K_${label}`);
    lines.push(`local K = setmetatable({ ${keys.join(", ")} }, ${keyMetatable(spec)})`);
  }
  return [...lines, code].join("\n");
};

/** What a definition states, whatever its types (for code that walks every script). */
export type AnyScriptSpec = ScriptSpec<
  string,
  Readonly<Record<string, ArgKind>>,
  ReplyCode,
  unknown,
  boolean
>;

const CONST =
  /^--@const\nlocal ([A-Z_][A-Z0-9_]*(?:, [A-Z_][A-Z0-9_]*)*) =\s*([\d, \n]*\d)[^\S\n]*(--[^\n]*)?$/gm;

/**
 * Writes the numbers of the constants a source declares with `--@const`
 * (a `local NAME, ... = 1, ...` statement of number literals, on the line
 * after it) in place of their names, in its code: a script's functions are
 * created anew on every call, and a constant they captured as an upvalue
 * would cost at each.
 *
 * @throws Error when a declaration's names and numbers do not pair up.
 */
export const inlineConstants = (source: string): string => {
  const values = new Map<string, string>();
  const stripped = source.replace(CONST, (_all, names: string, nums: string) => {
    const ns = names.split(", ");
    const vs = nums.split(",").map((v) => v.trim());
    if (ns.length !== vs.length) throw new Error(`--@const ${names}: ${vs.length} numbers`);
    ns.forEach((n, i) => {
      values.set(n, vs[i]!);
    });
    return `-- (constants ${names}: written in place)`;
  });
  if (values.size === 0) return source;
  const name = new RegExp(
    `(?<![.:\\w])(${[...values.keys()].join("|")})(?![\\w])(?!\\s*=[^=])`,
    "g",
  );
  return rewriteCode(stripped, (code) => code.replace(name, (n) => values.get(n)!));
};

/**
 * A script's source as sent to Redis: the includes `body` names, then
 * `body` (by default `lua/<name>.lua`) with its definition's bindings.
 * Exported for tests, which assemble probes of the includes.
 *
 * @throws Error when the body names a key, argument or reply code its definition lacks.
 */
export const assembleScript = (
  spec: AnyScriptSpec,
  body: string = readFileSync(join(LUA, `${spec.name}.lua`), "utf8"),
): string => {
  const includes = includesOf(body);
  return inlineConstants(
    [
      `-- weft${LAYOUT_VERSION}_${spec.name}, assembled by Scripts.ts from lua/${spec.name}.lua: do not edit`,
      ...includes.map((name) => `-- lua/includes/${name}.lua\n${includeSource(name)}`),
      runnable(spec, body, includes),
    ].join("\n"),
  );
};

/**
 * The scripts also registered as functions of one Redis 7 function library
 * (`FUNCTION LOAD`, called with `FCALL`): those with includes that are sent
 * one call at a time (never in a pipeline). An `EVAL`/`EVALSHA` runs the
 * whole source on every call, so its includes' functions are created anew
 * each time (about 100,000 Redis instructions for `complete`'s, measured
 * with `BENCH_INSTRUCTIONS=1`); a library's top level runs once, when it is
 * loaded. The pipelined scripts (`heartbeat`, `promote`, `reap`) stay
 * scripts: ioredis sends a pipeline's missing scripts itself.
 */
const LIBRARY_SCRIPTS: ReadonlySet<string> = new Set([
  "submit",
  "submitmany",
  "claim",
  "start",
  "complete",
  "completemany",
  "fail",
  "progress",
  "release",
  "park",
  "hold",
  "replace",
  "drain",
  "cancel",
  "redrive",
  "expire",
  "corrupt",
  "prune",
  "waitrun",
  "waitrunmany",
]);

const PERCALL = /^--@percall\nlocal ([A-Za-z_]\w*) = \{\}$/gm;

/**
 * The globals the scripts use, which a library holds as upvalues. A Redis 7
 * function reads a global through an empty table whose metatable's
 * `__index` is the real globals (`function_lua.c`): each read misses once
 * before it finds the name. Library code cannot read them when it is loaded
 * (it sees only `redis.register_function` and `redis.log` then), so each
 * function binds them at its first call, from a function declared above
 * them that reads them as globals when called (no `_G`).
 */
const LIBRARY_GLOBALS = [
  "redis",
  "type",
  "tonumber",
  "tostring",
  "pairs",
  "ipairs",
  "next",
  "select",
  "pcall",
  "error",
  "unpack",
  "setmetatable",
  "string",
  "table",
  "math",
  "cmsgpack",
];

/**
 * The pause of the Lua collector of Redis's functions (`collectgarbage("setpause")`,
 * Lua 5.1's `LUAI_GCPAUSE`, 200 by default: a new cycle starts once the heap is
 * twice what the last one left), set at each library function's first call.
 * At 400 a cycle starts at four times: about a third as much marking per
 * byte the calls allocate, for a heap of up to about 3 MB instead of 1.6 for
 * Weft's library, which keeps about 0.8 MB (its caches included; Redis's
 * `used_memory_vm_functions`, outside `used_memory`). Measured with
 * callgrind on 2026-12-06: 1.8 % fewer Redis instructions per plain job,
 * 3.2 % per chord member (docs/benchmarks.md). Redis runs every library's
 * functions in one Lua VM: another library on the same server is collected
 * at the same pace (docs/operations.md, "Scripts and functions").
 */
export const LUA_GC_PAUSE = 400;

/**
 * A bound script body's statements marked `--@once` (on the line before a
 * `local NAME = { ... }` of literals only: the reply codes a body hands its
 * includes, its constant lists), made once, when the library loads, as
 * fields of the function's own table (`own`, {@link LibraryBinding}'s `ownTable`): each
 * becomes `own.NAME = { ... }` in `once`, and `local NAME = own.NAME` in the
 * body. A table made at every call costs its allocation and its collection
 * (about 230 bytes of garbage a reply-code table). A script sent with
 * `EVAL` keeps them as they are. No body changes such a table.
 *
 * @throws Error when a marked statement is not such a table, or calls a function.
 */
const hoistOnce = (
  spec: AnyScriptSpec,
  code: string,
  own: string,
): { readonly once: ReadonlyArray<string>; readonly code: string } => {
  const once: string[] = [];
  const MARK = "--@once\n";
  let rest = code;
  for (let at = rest.indexOf(MARK); at >= 0; at = rest.indexOf(MARK, at)) {
    const from = at + MARK.length;
    const bad = (why: string) =>
      new Error(`script ${spec.name}: the statement after --@once ${why}`);
    const head = /^local ([A-Za-z_]\w*) = \{/.exec(rest.slice(from));
    if (!head) throw bad("is not local NAME = { ... }");
    const name = head[1]!;
    if (name === "K" || name.startsWith("__")) throw bad(`names ${name}, a field the table holds`);
    // (the constructor's end: its braces counted outside strings and comments)
    let depth = 0;
    let end = from;
    for (let i = from + head[0].length - 1; i < rest.length; i++) {
      const c = rest[i]!;
      if (c === '"' || c === "'") {
        for (i++; i < rest.length && rest[i] !== c; i++) if (rest[i] === "\\") i++;
      } else if (c === "-" && rest[i + 1] === "-") {
        while (i < rest.length && rest[i] !== "\n") i++;
      } else if (c === "(") throw bad("calls a function");
      else if (c === "{") depth++;
      else if (c === "}" && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    if (end === from) throw bad("does not end");
    once.push(`${own}.${name} = ${rest.slice(from + head[0].length - 1, end)}`);
    const kept = `local ${name} = ${own}.${name} -- (made once: --@once)`;
    rest = rest.slice(0, at) + kept + rest.slice(end);
    at += kept.length;
  }
  return { once, code: rest };
};

/**
 * A function library holding `specs`' scripts, each as the function
 * `<name>_<script>`: the includes they name, once, then one
 * `redis.register_function` per script whose body is the script's, with its
 * definition's bindings (KEYS and ARGV are the function's parameters). A
 * table an include declares with `--@percall` (a cache of one call, such as
 * the queues found paused) is emptied at the start of every function, as a
 * script's is by being created anew; one marked `--@kept` is a bounded cache
 * kept across calls on purpose (includes/record.lua's node records, by their
 * bytes). `bodies`: each script's body, by default `lua/<name>.lua`.
 * Exported for tests, which assemble probes of the includes.
 *
 * @throws Error when a body names a key, argument or reply code its definition lacks.
 */
export const assembleLibrary = (
  name: string,
  specs: ReadonlyArray<AnyScriptSpec> = [...LIBRARY_SCRIPTS].map((n) => lookUp(BY_NAME, n)),
  bodies: ReadonlyArray<string> = specs.map((spec) =>
    readFileSync(join(LUA, `${spec.name}.lua`), "utf8"),
  ),
): string => {
  const includes = includesOf(bodies.join("\n")).map(
    (inc) => `-- lua/includes/${inc}.lua\n${includeSource(inc)}`,
  );
  const percall = [...includes.join("\n").matchAll(PERCALL)].map(([, n]) => percallReset(n!));
  const globals = LIBRARY_GLOBALS.join(", ");
  return inlineConstants(
    [
      `#!lua name=${name}`,
      `-- assembled by Scripts.ts from lua/: do not edit`,
      `local register = redis.register_function`,
      `-- the globals as a call reads them (while the library loads, they are not there)`,
      `local function globalsNow() return ${globals} end`,
      `-- the globals as upvalues, bound at the first call (Scripts.ts, LIBRARY_GLOBALS)`,
      `local ${globals}`,
      ...includes,
      QUEUE_KEYS_KEPT,
      // each function in a block of its own (a function's locals would pass Lua's 200 at the
      // top level): its own table (its key table's metatable, the key table, its --@once
      // constants: LibraryBinding) and, when the call ends with a flush, its body as a function
      // made once (a body wrapped at each call makes a closure each time)
      ...specs.map((spec, i) => {
        const own = includesOf(bodies[i]!);
        const ends = endOfCall(own);
        const { once, code: bound } = hoistOnce(
          spec,
          bind(spec, bodies[i]!, own, { ownTable: "OWN" }),
          "OWN",
        );
        return [
          "do",
          `local OWN = ${keyMetatable(spec)}`,
          ...once,
          ...(ends ? ["local function body(KEYS, ARGV)", bound, "end"] : []),
          `register("${name}_${spec.name}", function(KEYS, ARGV)`,
          `if not redis then ${globals} = globalsNow(); collectgarbage("setpause", ${LUA_GC_PAUSE}) end`,
          ...percall,
          ...(ends ? ends("KEYS, ARGV") : [bound]),
          "end)",
          "end",
        ].join("\n");
      }),
    ].join("\n"),
  );
};

/**
 * The line that empties `--@percall` table `name` at the start of a library
 * function: a new table only when the last call left something in it (most
 * calls fill few of them; a table made costs its allocation and its
 * collection).
 */
export const percallReset = (name: string): string =>
  `if next(${name}) ~= nil then ${name} = {} end`;

/**
 * A library's cache of each queue's keys by its `ready` key (see
 * {@link LibraryBinding}), at most 256 queues: past that, all are dropped.
 * No script changes a queue's keys table.
 */
const QUEUE_KEYS_KEPT = [
  "-- each queue's keys by its ready key, made once (Scripts.ts, LibraryBinding)",
  "-- (its count in a block: the library's top level has few locals left)",
  "local QUEUE_KEYS, keepQueueKeys = {}, nil",
  "do",
  "  local kept = 0",
  "  function keepQueueKeys(k, q)",
  "    if kept >= 256 then",
  "      QUEUE_KEYS = {}",
  "      kept = 0",
  "    end",
  "    QUEUE_KEYS[k] = q",
  "    kept = kept + 1",
  "  end",
  "end",
].join("\n");

/**
 * Every script's source, read once when this module loads: a process keeps
 * the Lua it started with even if the files are replaced under it (a deploy
 * in place), so its TypeScript and Lua always match.
 */
const SOURCES: ReadonlyMap<string, string> = new Map(
  SCRIPT_LIST.map((s) => [s.name, assembleScript(s)]),
);

/** A script's entry in a table built from every definition. */
const lookUp = <T>(table: ReadonlyMap<string, T>, name: string): T => {
  const v = table.get(name);
  if (v === undefined) throw new Error(`no script ${name}`);
  return v;
};

/** The source of a script as sent to Redis (includes and bindings inlined). */
export const scriptSource = (name: string): string => lookUp(SOURCES, name);

const SHAS: ReadonlyMap<string, string> = new Map(
  [...SOURCES].map(([name, lua]) => [name, createHash("sha1").update(lua).digest("hex")]),
);

/** The SHA-1 of a script's source (its name in Redis's script cache, for EVALSHA). */
export const scriptSha = (name: string): string => lookUp(SHAS, name);

const BY_NAME: ReadonlyMap<string, AnyScriptSpec> = new Map(SCRIPT_LIST.map((s) => [s.name, s]));

/**
 * The function library of this process's scripts: its name,
 * `weft<layout>_<hash>` (the first 12 hex digits of the SHA-1 of its source,
 * so that two versions of Weft sharing a Redis each call their own), and its
 * source for `FUNCTION LOAD`.
 */
export const LIBRARY: { readonly name: string; readonly source: string } = (() => {
  // assembled once under a stand-in name, which the name made from its hash then replaces
  const standIn = "weft_library_name";
  const source = assembleLibrary(standIn);
  const hash = createHash("sha1").update(source).digest("hex").slice(0, 12);
  const name = `weft${LAYOUT_VERSION}_${hash}`;
  return { name, source: source.replaceAll(standIn, name) };
})();

/** The library function a script runs as (`FCALL`), or undefined when it is only a script. */
export const functionName = (name: string): string | undefined =>
  LIBRARY_SCRIPTS.has(name) ? `${LIBRARY.name}_${name}` : undefined;

/**
 * Sends library function `fn` (from {@link functionName}) on a connection
 * with `FCALL`, as {@link sendScript} sends a script: the reply as ioredis
 * gives it (Buffers), the turn's commands in one write, the command written
 * as one Buffer ({@link ScriptCommand}).
 */
export const sendFunction = (
  redis: Redis | Cluster,
  fn: string,
  keys: ReadonlyArray<string>,
  argv: ReadonlyArray<Arg>,
): Promise<unknown> => {
  // (one array, each argument turned into what ioredis sends by ScriptCommand, in place)
  const all: Array<string | number | Uint8Array> = new Array(2 + keys.length + argv.length);
  all[0] = fn;
  all[1] = keys.length;
  for (let i = 0; i < keys.length; i++) all[2 + i] = keys[i]!;
  for (let i = 0; i < argv.length; i++) all[2 + keys.length + i] = argv[i]!;
  oneWritePerTurn(redis);
  // (the store's connections have no ioredis keyPrefix: ScriptCommand sends the keys as given)
  const command = new ScriptCommand("fcall", all);
  void redis.sendCommand(command);
  return command.promise;
};

/** The command name a script is registered under. */
export const commandName = (name: string): string => `weft${LAYOUT_VERSION}_${name}`;

/**
 * Registers every script on `redis`, a single Redis or a Cluster client, its
 * key count given on each call. ioredis sends a script's source (EVAL) the
 * first time it runs on each connection and its SHA (EVALSHA) afterwards,
 * and sends the source again on NOSCRIPT: a node that never saw a script (a
 * promoted replica, a node added to a cluster, a restarted server) gets it
 * on first use.
 */
export const defineScripts = (redis: Redis | Cluster): void => {
  for (const s of SCRIPT_LIST) {
    redis.defineCommand(commandName(s.name), { lua: scriptSource(s.name) });
  }
};

/**
 * Sends script `name` on a connection or a pipeline (registered there by
 * {@link defineScripts}), its reply as ioredis gives it (Buffers): a promise
 * on a connection, the pipeline itself on a pipeline (the reply comes with
 * `exec`).
 *
 * @throws Error when the script is not registered on `target`.
 */
export const sendScript = (
  target: object,
  name: string,
  keys: ReadonlyArray<string>,
  argv: ReadonlyArray<Arg>,
): unknown => {
  const command: unknown = Reflect.get(target, `${commandName(name)}Buffer`);
  if (typeof command !== "function") {
    throw new Error(`script ${name} is not registered on this connection`);
  }
  // one array, filled in place (no spreads): ioredis copies it several times more
  const all: Array<string | number | Buffer> = new Array(1 + keys.length + argv.length);
  all[0] = keys.length;
  for (let i = 0; i < keys.length; i++) all[1 + i] = keys[i]!;
  for (let i = 0; i < argv.length; i++) all[1 + keys.length + i] = asArg(argv[i]!);
  // the scripts of one turn (a worker's completions and its next claim) leave in one write
  oneWritePerTurn(target);
  return Reflect.apply(command, target, all);
};
