/**
 * The Redis store: one Lua script per transition (`lua/`), values in
 * msgpack, every key a script touches passed in KEYS, but for the batch
 * scripts (`claim`, `completemany`), which build the keys of the runs they
 * meet from the shard's key prefixes (all in the shard's hash slot). A chain
 * step costs one round trip (completing a node leases its next node to the
 * same worker); a claim is one round trip (it starts the nodes it pops);
 * completions that finish while a report is in flight go in one call;
 * large fan-outs, fan-ins and cascades run in bounded steps (`drain`).
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  CorruptRecord,
  DuplicateRun,
  type ErrorInfo,
  IdempotencyConflict,
  type NodeRecord,
  type Progress,
  RunNotFound,
  type RunOutput,
  type RunRecord,
  type RunSnapshot,
  type Schedule,
  type ScheduleRecord,
  type ScheduleState,
  type Store,
  StoreUnavailable,
  SubmitInterrupted,
  TERMINAL_RUN_STATUSES,
  type WeftEvent,
  WeftStore,
} from "@weft/core";
import {
  appendDag,
  type Claim,
  type ClaimRequest,
  CONCURRENCY_RETRY_MS,
  type CompleteItem,
  type CompleteOptions,
  checkProgress,
  chordBodies,
  closedWhileWaiting,
  corruptRecordInfo,
  type Dag,
  type DagNode,
  type DepResult,
  decode,
  described,
  type EventBatch,
  encode,
  type FailOptions,
  type FinishedCounts,
  fingerprint,
  flatten,
  isSpanId,
  joinChord,
  type LeaseRef,
  type LeaseState,
  type ListRunsOptions,
  type LockInfo,
  type LockRelease,
  type LockRenewal,
  type LockRequest,
  limitedQueues,
  type MaintainReport,
  type Memo,
  type MemoRequest,
  missingResultInfo,
  notInChord,
  type QueueStats,
  type ReadEventsOptions,
  type RedriveOptions,
  type RedriveResult,
  type ReportResult,
  type RunListing,
  type RunTiming,
  type ScheduleStore,
  type Shape,
  type StoreSignal,
  type Submission,
  type SubmitManyResult,
  type SubmitResult,
  settleSubmit,
  type WaitForRunOptions,
  type WorkerInfo,
  type WorkerPresence,
  waitsOn,
} from "@weft/core/store";
import { Effect, type Layer } from "effect";
import { type ChainableCommander, Cluster, type Redis } from "ioredis";
import { BLOCK_MAX_MS, connectUrl, type RedisTlsOptions } from "./Connect.ts";
import { classify, sanitizeError, storeError } from "./Errors.ts";
import {
  compareIds,
  endedRunIds,
  entryEvents,
  parseCursor,
  type RawEntry,
} from "./EventEntries.ts";
import { Functions, functionsRefused, libraryMissing } from "./Functions.ts";
import {
  concurrencyKey,
  limiterKey,
  lockKeys,
  memoKey,
  type QueueKeys,
  runEndChannel,
  runScriptKeys,
  type ShardKeys,
  scheduleKeys,
  shardKeys,
  shardOf,
  signalsChannel,
  taskLimiterKey,
  workersKey,
} from "./Keys.ts";
import { packList } from "./Packed.ts";
import {
  decodeError,
  decodeHistory,
  decodeProgress,
  decodeShape,
  decodeSpec,
  encodeDepList,
  encodeDeps,
  encodeSpec,
  isWrappedSpec,
  leadingRoots,
  NO_LEADING_ROOTS,
  nodeField,
  nodeRecordOf,
  numberedWorker,
  packDeps,
  packShape,
  parseQueues,
  parseRunRecord,
  RUN_FIELDS,
  reason,
  recordTask,
  resultAfterRecord,
  runFields,
  storedNode,
  taskOfRecord,
} from "./Records.ts";
import { InvalidConnectionOptions, secretForms } from "./RedisUrl.ts";
import { type ReplyValue, UnexpectedReply } from "./Replies.ts";
import { after, type ListedRun, newestFirst, oldestLegacy, removeListed } from "./RunList.ts";
import { asArg } from "./ScriptCommand.ts";
import {
  type Arg,
  completeItem,
  defineScripts,
  type HandedSpec,
  type LeasedNode,
  type LeasedStart,
  SCRIPTS,
  type ScriptCall,
  scriptSha,
  scriptSource,
  sendScript,
} from "./Scripts.ts";
import { oneWritePerTurn } from "./Turn.ts";

/** `T` with its fields writable (an object filled in before it is handed out). */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A leased node's claim as a script's reply gives it: its spec still
 * encoded (`null` when the run hash has none), and its dependency results
 * as the reply holds them (see `depResults` in `lua/includes/attempt.lua`).
 */
type ClaimFields = Mutable<Omit<Claim, "spec" | "deps" | "depSpans">> & {
  readonly spec: HandedSpec | null;
  readonly deps: ReadonlyArray<ReplyValue>;
};

/** The claim of `c` once its spec and dependency results are read. */
const claimOf = (
  c: ClaimFields,
  spec: DagNode,
  { deps, depSpans }: { readonly deps: DepResult[]; readonly depSpans?: string[] },
): Claim => {
  // (a copy of `c` with two fields replaced, and the span ids assigned when there are some:
  // V8 builds a literal with a second spread on a slow path)
  const claim: Mutable<Claim> = { ...c, spec, deps };
  if (depSpans !== undefined) claim.depSpans = depSpans;
  return claim;
};

/** A node a claim leased: its queue, run, node id and fencing token. */
interface LeasedItem {
  readonly queue: string;
  readonly runId: string;
  readonly nodeId: number;
  readonly token: number;
}

/** A start's reply, as `start` decodes it. */
type StartReply = ReturnType<typeof SCRIPTS.start.reply>;

/** The dependencies of a start without any (depResults' `{1}`, includes/attempt.lua). */
const NO_DEPS: ReadonlyArray<ReplyValue> = [1];

/**
 * A claim's common start, sent in line (claim.lua), as `start` decodes it: OK, the run's
 * one queue the queue it was claimed from, no headers, no dependencies.
 */
const leanStart = (lean: NonNullable<LeasedStart["lean"]>, queue: string): StartReply => ({
  code: "OK",
  attempt: lean.attempt,
  stalls: lean.stalls,
  spec: lean.spec,
  runQueues: [queue],
  headers: null,
  deps: NO_DEPS,
});

/** Whether a claim's task has a limit to pass before it runs (`admitted`): a concurrency key or a rate limit. */
const limited = (claim: Claim): boolean =>
  claim.spec.options.concurrency !== undefined || claim.spec.options.rateLimit !== undefined;

/** The timing of a submission without time limits. */
const NO_TIMING: RunTiming = {};

/** The stored output shape of small one-node runs (node 0..63), encoded once: ioredis only reads them. */
const SMALL_OUTPUTS: ReadonlyArray<Uint8Array> = Array.from({ length: 64 }, (_, i) =>
  encode(packShape(i)),
);

/** A run's output shape as stored (field `out`): msgpack of {@link packShape}. */
const outputBytes = (shape: Shape): Uint8Array =>
  typeof shape === "number" && Number.isInteger(shape) && shape >= 0 && shape < SMALL_OUTPUTS.length
    ? SMALL_OUTPUTS[shape]!
    : encode(packShape(shape));

/**
 * The retention a run sent short stands for (submitmany.lua's `SHORT.retention`): 7 days, in
 * ms, the client's default. A run of any other is sent whole.
 */
const SHORT_RETENTION_MS = 7 * 86_400_000;

/**
 * Whether `submitmany` may be sent run `sub` short (submitmany.lua, SHORT): a plain job, one
 * node without dependencies in queue "default", whose other fields are all at the values the
 * script puts in their place: no idempotency key, nonce, fingerprint, tags, headers, time
 * limits or output other than node 0's, the default retention (what it would reuse under a
 * key is read only under one). Its run id is never "" (the script tells a short run by its
 * first argument, "").
 */
const isShort = (
  sub: Submission,
  p: {
    readonly key: string | undefined;
    readonly fp: unknown;
    readonly nonceArg: unknown;
    readonly out: unknown;
  },
): boolean => {
  const nodes = sub.dag.nodes;
  return (
    nodes.length === 1 &&
    nodes[0]!.id === 0 &&
    nodes[0]!.deps.length === 0 &&
    p.key === undefined &&
    p.fp === "" &&
    p.nonceArg === "" &&
    p.out === SMALL_OUTPUTS[0] &&
    sub.tags.length === 0 &&
    sub.retentionMs === SHORT_RETENTION_MS &&
    sub.dag.queues.length === 1 &&
    sub.dag.queues[0] === "default" &&
    (sub.notBefore ?? 0) === 0 &&
    (sub.expiresAt ?? 0) === 0 &&
    (sub.headers ?? "") === ""
  );
};

/** Whether `a` and `b` hold the same bytes (a node record: a few dozen; a loop, no native call). */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/**
 * The first argument of a run `submitmany` is sent short and like the last run
 * sent short in its call (submitmany.lua): its time, queue and record are
 * that run's, and only its id and spec follow. A byte no UTF-8 run id holds
 * (a short run's first argument, "", is no run id either).
 */
const LIKE_SHORT = new Uint8Array([0xff]);

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** Key prefix. Default `weft`. */
  readonly prefix?: string;
  /**
   * Number of shards: hash tags (`{<prefix>:s07}`) that runs and their queue
   * partitions are spread over, one Redis Cluster slot each. Default 1 on a
   * single Redis, 16 on a Redis Cluster (so that runs spread over its
   * primaries). Every process of a deployment (clients, workers, the CLI)
   * must use the same number: an idempotency key is looked up in the shard
   * its hash picks among that many, a run id names its shard by its index,
   * and a worker claims only from the shards it knows. An integer from 1 to
   * 1 000.
   */
  readonly shards?: number;
  /**
   * The URL names one node of a Redis Cluster (a `redis://` or `rediss://`
   * URL; a `redis+cluster://` URL needs no option). Only with a URL: pass an
   * ioredis `Cluster` instance to wrap one.
   */
  readonly cluster?: boolean;
  /**
   * When a write the store acknowledges counts as done:
   * - `"primary"`: when the primary answered (Redis's own acknowledgement).
   *   A primary that dies before its replica copied the write loses it.
   * - `"replicated"`: when a replica also has it. A submission's commit, a
   *   completion, a failure, a cancel, a claim and a lock acquisition are each
   *   followed, in the same pipeline, by `WAIT 1 <replicationTimeoutMs>`.
   *   A primary with no live replica still serves: after a wait that timed
   *   out, that shard's writes are acknowledged by the primary alone for
   *   5 s, then waited for again (see docs/operations.md, "Running on Redis
   *   Cluster").
   *
   * Default `"replicated"` on a Redis Cluster, `"primary"` on a single Redis.
   */
  readonly durability?: "primary" | "replicated";
  /** Longest wait for a replica's acknowledgement with `durability: "replicated"`, ms. Default 500. */
  readonly replicationTimeoutMs?: number;
  /**
   * Called when a replica did not acknowledge a write within
   * `replicationTimeoutMs` (`replicas` is how many did: 0), with the hash tag
   * of the slot (`weft:{weft:s03}`): that slot's primary has no live, in-sync
   * replica, and its writes are acknowledged by the primary alone for the
   * next 5 s. For a log line or a metric; a listener that throws is ignored.
   */
  readonly onReplicationShortfall?: (info: ReplicationShortfall) => void;
  /**
   * Fail `connect` after this long, ms; each later reconnection attempt gives
   * up after `min(connectTimeoutMs, 2 000)` ms. Default 5 000.
   */
  readonly connectTimeoutMs?: number;
  /**
   * TLS settings for a `rediss://` URL: a private CA (`caFile` or `ca` PEM),
   * the certificate's server name, `rejectUnauthorized`. Only with a URL.
   */
  readonly tls?: RedisTlsOptions;
  /** Nodes written per submit call. Default 250 (keeps each call near a few ms). */
  readonly submitChunk?: number;
  /**
   * Work items per script call: dependents resolved, or half as many nodes
   * walked to enqueue roots or cancel. Default 500 (a few ms per call).
   */
  readonly budget?: number;
  /** A submission still pending after this long is discarded by `maintain`, ms. Default 60 000. */
  readonly abandonAfterMs?: number;
  /**
   * About how many events each shard's events stream keeps (docs/events.md):
   * each script call appends its events as one entry numbered by them, and
   * trims the stream by that number (`XADD ... MINID ~`); older events are
   * trimmed. An integer from 100 to 10 000 000; default 10 000.
   */
  readonly eventsMaxLen?: number;
  /**
   * Run the scripts called one at a time as functions of one library
   * (Redis 7 `FUNCTION LOAD` and `FCALL`), which Redis compiles and sets up
   * once, rather than by `EVALSHA`, which runs a script's whole source on
   * every call. The library is loaded when a call finds it missing; a server
   * that refuses functions (Redis 6, an ACL user without `FCALL` or
   * `FUNCTION LOAD`) gets `EVALSHA` instead. `false` always sends
   * `EVALSHA`. Default true (docs/operations.md, "Scripts and functions").
   */
  readonly functions?: boolean;
}

/** What `onReplicationShortfall` reports. */
export interface ReplicationShortfall {
  /** Hash tag of the slot whose write was not replicated in time (a shard's, or a lock's). */
  readonly tag: string;
  /** Replicas that acknowledged the write within the timeout. */
  readonly replicas: number;
  /** How long the store waited, ms. */
  readonly timeoutMs: number;
}

/** A connection: one Redis, or a Redis Cluster client (ioredis gives both the same commands). */
type Client = Redis | Cluster;

/**
 * How long Redis keeps a lock or a memo past the expiry its writer's clock
 * gave it (`until`), ms: the key is deleted by Redis's clock, and a skew
 * between the two clocks must never drop a key its writer still counts on.
 */
const EXPIRY_GRACE_MS = 60_000;
/** Due retries a claim promotes per queue before popping. */
const PROMOTE_PER_CLAIM = 100;

/**
 * The 1-based indexes of the run's queues that a worker serves, as complete.lua
 * reads them (`",1,3,"`): the queues it may be handed the next nodes of.
 */
const servedQueues = (runQueues: ReadonlyArray<string>, served: ReadonlyArray<string>): string => {
  // (a loop: this runs for every completion)
  let out = ",";
  for (let i = 0; i < runQueues.length; i++) if (served.includes(runQueues[i]!)) out += `${i + 1},`;
  return out === "," ? ",," : out;
};

/**
 * `completemany`'s `items` and `shared` for the items `part` of `items`
 * (completemany.lua): four arguments an item (run id, node, token, result)
 * and their `nextMax`, served queues, run's queues and span once in `shared`
 * (packed as `items` is) when there are several and every item has the same
 * (most calls: a chord's members, a worker's plain jobs or chain steps), else
 * eight an item and `shared` empty. Each argument a script reads costs Redis
 * a Lua string made (about 900 instructions; docs/benchmarks.md).
 */
const completeArgs = (
  items: ReadonlyArray<CompleteItem>,
  part: ReadonlyArray<number>,
  served: ReadonlyArray<string>,
): { args: Array<string | number | Uint8Array>; shared: string | Uint8Array } => {
  const n = part.length;
  const tails: Array<string | number> = new Array(n * 4);
  // (a lone item is sent whole: the list `shared` would cost what it spares)
  let same = n > 1;
  for (let k = 0; k < n; k++) {
    const { claim, nextMax, span } = items[part[k]!]!;
    const at = k * 4;
    tails[at] = nextMax;
    tails[at + 1] = servedQueues(claim.runQueues, served);
    tails[at + 2] = claim.runQueues.join(",");
    tails[at + 3] = isSpanId(span) ? span : "";
    if (same && k > 0) {
      same =
        tails[at] === tails[0] &&
        tails[at + 1] === tails[1] &&
        tails[at + 2] === tails[2] &&
        tails[at + 3] === tails[3];
    }
  }
  const width = same ? 4 : 8;
  // written in place (no growing array)
  const args: Array<string | number | Uint8Array> = new Array(n * width);
  for (let k = 0; k < n; k++) {
    const { claim, result } = items[part[k]!]!;
    const at = k * width;
    args[at] = claim.runId;
    args[at + 1] = claim.nodeId;
    args[at + 2] = claim.token;
    args[at + 3] = result;
    if (!same) for (let j = 0; j < 4; j++) args[at + 4 + j] = tails[k * 4 + j]!;
  }
  return { args, shared: same ? packList(tails.slice(0, 4)) : "" };
};

/**
 * At most this many runs in one `submitmany` call: a run costs its record,
 * its index entries and its events besides its nodes, so 250 single-node
 * runs took up to 47 ms of Redis time in one call; 64 keep a call to about a
 * quarter of that (docs/benchmarks.md).
 */
const SUBMIT_MANY_RUNS = 64;

/** At most this many completions in one `completemany` call (each does a bounded amount of work). */
const COMPLETE_BATCH = 64;
/**
 * Pruning a shard's run list in `maintain` (`pruneRuns`): from the head the
 * walk has reached, a small probe, then full batches while every run of the
 * last was gone or held; one batch of the held runs behind that head; and
 * every `PRUNE_SCAN_EVERY_MS` one batch along a cursor over the whole list.
 * A batch is whole entries of up to this many runs (at least one entry: a
 * `submitMany` call's entry lists up to 64), each run looked at by prune.lua.
 */
const PRUNE_PROBE = 10;
const PRUNE_BATCH = 200;
const PRUNE_PASSES = 25;
const PRUNE_SCAN_EVERY_MS = 10_000;
/**
 * A run still running this long after it was created, or that ran longer,
 * is "held" (prune.lua): due later than the runs committed around it, it
 * does not stop the walk that deletes runs as they come due, ms. A run
 * kept is due at most about this long after the runs behind it.
 */
const PRUNE_HORIZON_MS = 600_000;
/** A worker's number (lua/includes/workers.lua) is kept this many days after it last started a node. */
const WORKER_NAMES_KEPT_DAYS = 30;
const DAY_MS = 86_400_000;
/** How long a dead worker's registration is kept, and how often `maintain` looks for such, ms. */
const DEAD_WORKER_KEPT_MS = 86_400_000;
const WORKER_PRUNE_EVERY_MS = 60_000;
/** After a replica did not acknowledge a write in time, how long a slot's writes are acknowledged by its primary alone, ms. */
const UNREPLICATED_SKIP_MS = 5_000;
/** Sends of a replicated write whose pipeline met a connection failure (a failover), and the pause between them, ms. */
const DURABLE_SENDS = 4;
const DURABLE_PAUSE_MS = 300;

/** A caller of `waitForWork` on a cluster: resolved (no argument) or failed once. */
interface Waiter {
  readonly done: (error?: unknown) => void;
}

/** One shard's BLPOP on the wake lists of a queue list, and who waits on it. */
interface Watch {
  readonly keys: string[];
  readonly waiters: Set<Waiter>;
}

/** A claim's lease member in its queue's leases set: "runId#node#token". */
const leaseMember = (c: Claim): string => `${c.runId}#${c.nodeId}#${c.token}`;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether a durable write that met `e` is worth sending again: the
 * connection failed (the write may or may not have taken effect), the node
 * is not serving (LOADING, CLUSTERDOWN, READONLY, TRYAGAIN), or the slot
 * moved (MOVED, ASK: the write did not take effect).
 */
const sendAgain = (e: unknown): boolean => {
  const kind = classify(e);
  return kind === "unreachable" || kind === "unavailable";
};

/** A worker's registration as stored in the registry hash (JSON). */
interface Registration extends WorkerInfo {
  readonly seenAt: number;
  readonly until: number;
}

/** A {@link Store} on Redis. */
export class RedisStore implements Store, ScheduleStore {
  readonly name: string;
  private readonly shards: ShardKeys[];
  private readonly prefix: string;
  private readonly chunk: number;
  private readonly budget: number;
  private readonly abandonAfterMs: number;
  private readonly eventsMax: number;
  /** On a Redis Cluster: every command is single-slot, blocking reads are per shard, and so on. */
  readonly cluster: boolean;
  private readonly replicated: boolean;
  /** Sends the library's scripts as functions (FCALL), the others by EVALSHA. */
  private readonly functions: Functions;
  private readonly replicationTimeoutMs: number;
  private readonly onShortfall: ((info: ReplicationShortfall) => void) | undefined;
  /** Per hash tag: until when its writes are acknowledged by the primary alone (a WAIT timed out). */
  private readonly unreplicatedUntil = new Map<string, number>();
  /** Idle blocking connections, per shard on a cluster (each talks to its shard's node), else all under 0. */
  private readonly idleBlocking = new Map<number, Client[]>();
  private readonly allBlocking = new Set<Client>();
  /**
   * On a single Redis: each blocking connection's client id (`CLIENT ID`, read once per
   * connection, and again after it reconnected), with which `waitForWork` ends its BLPOP
   * (`CLIENT UNBLOCK`) when its signal aborts; `undefined` when the read failed (an ACL
   * user without it). `id` is set once the read is answered.
   */
  private readonly clientIds = new WeakMap<
    Client,
    { id: number | undefined; readonly read: Promise<number | undefined> }
  >();
  /** On a cluster: the BLPOP in flight per shard and queue list, and who waits on it (see `waitForWork`). */
  private readonly watches = new Map<string, Watch>();
  /** Where the next claim without a request id starts among the shards. */
  private claimTurn = 0;
  /**
   * What the last claim of this process that came up short read of its queues' delayed
   * sets (claim.lua's `due`): the queues (joined by commas) and the earliest due time
   * (`undefined`: none). `nextDueAt` answers from it once, for the same queues, instead of
   * reading them: a worker goes idle right after such a claim. A call that may put a node
   * in a delayed set (a submit, a failure, a release) drops it.
   */
  private claimDue: { readonly queues: string; readonly due: number | undefined } | undefined;
  /** When the rate limit that held back this process's last claim of a queue frees (epoch ms). */
  private readonly limitedUntil = new Map<string, number>();
  private closed = false;
  /** The timer that closes the idle pub/sub connection (`releaseSubscriber`). */
  private lingering: ReturnType<typeof setTimeout> | undefined;
  /**
   * The pub/sub connection, made on first use (`listen`), and its channels:
   * the signals channel for `subscribe`'s listeners, a shard's run-end
   * channel for `waitForRun`'s waiters.
   */
  private subscriber:
    | {
        readonly conn: Client;
        /** The connection ready for its first SUBSCRIBE (a cluster client is awaited once). */
        readonly ready: Promise<void>;
        /** Each channel's subscription, and the channels it is in place for. */
        readonly channels: Map<string, Promise<unknown>>;
        readonly listening: Set<string>;
      }
    | undefined;
  private readonly listeners = new Set<(signal: StoreSignal) => void>();
  /** Run id → the wake-ups of this process's `waitForRun` calls waiting for it. */
  private readonly waiters = new Map<string, Array<() => void>>();
  /** The `waitrun` reads asked for in this turn, by shard: sent together at its end. */
  private readonly waitReads = new Map<ShardKeys, WaitRead[]>();
  /** Per shard: the run-list entry after which the next scan of `pruneRuns` starts ("" = the first). */
  private readonly pruneCursor = new Map<number, string>();
  /**
   * Per shard, the entry of the run list the walk from its head has reached
   * (`""`: none, the list's first) and the cursor of the look at the held
   * runs behind it (`pruneRuns`).
   */
  private readonly pruneHead = new Map<number, { head: string; behind: string }>();
  /** Per shard: where the next scan of `pruneWorkerNames` starts (HSCAN cursor). */
  private readonly workerNamesCursor = new Map<number, string>();
  private scannedAt = Number.NEGATIVE_INFINITY;
  private workersPrunedAt = Number.NEGATIVE_INFINITY;

  /** What the connection last reported (its `error` event), sanitised; cleared when it is ready again. */
  private lastConnectionError: unknown;

  private constructor(
    /** The connection: an ioredis `Redis`, or a `Cluster` on a Redis Cluster. */
    readonly redis: Client,
    private readonly owned: boolean,
    name: string,
    opts: RedisStoreOptions,
    private readonly secrets: ReadonlyArray<string>,
  ) {
    this.name = name;
    this.cluster = redis instanceof Cluster;
    const prefix = opts.prefix ?? "weft";
    this.prefix = prefix;
    this.shards = Array.from({ length: opts.shards ?? (this.cluster ? 16 : 1) }, (_, i) =>
      shardKeys(prefix, i),
    );
    this.chunk = opts.submitChunk ?? 250;
    this.budget = opts.budget ?? 500;
    this.abandonAfterMs = opts.abandonAfterMs ?? 60_000;
    this.eventsMax = opts.eventsMaxLen ?? 10_000;
    this.replicated =
      (opts.durability ?? (this.cluster ? "replicated" : "primary")) === "replicated";
    this.replicationTimeoutMs = opts.replicationTimeoutMs ?? 500;
    this.onShortfall = opts.onReplicationShortfall;
    defineScripts(redis);
    this.functions = new Functions(redis, opts.functions ?? true);
    const remember = (e: unknown) => {
      this.lastConnectionError = sanitizeError(e, secrets);
    };
    redis.on("error", remember);
    // a cluster reports each node's connection failures (ECONNREFUSED, WRONGPASS) as `node error`
    if (this.cluster) redis.on("node error", remember);
    redis.on("ready", () => {
      this.lastConnectionError = undefined;
    });
    // every error a store method raises leaves through `failure`: sanitised, and
    // a `StoreUnavailable` when the connection failed (see Errors.ts)
    const self = this as unknown as Record<
      StoreMethod | keyof ScheduleStore,
      (...args: unknown[]) => Promise<unknown>
    >;
    for (const method of [...STORE_METHODS, ...SCHEDULE_METHODS]) {
      const call = self[method];
      self[method] = async (...args) => {
        try {
          return await call.apply(this, args);
        } catch (e) {
          throw this.failure(e);
        }
      };
    }
  }

  /**
   * Connects to Redis by URL or wraps an ioredis instance, `Redis` or
   * `Cluster` (not closed by `close`). URL forms:
   * `redis://[[user]:password@]host[:port][/db]`, `rediss://...` for TLS
   * (with `tls` for a private CA), and for a Redis Cluster
   * `redis+cluster://[[user]:password@]host:port[,host:port...]` (or
   * `rediss+cluster://` for TLS, or a `redis://` URL of one node with
   * `cluster: true`): the nodes listed are seeds, the others are discovered,
   * and the credentials and TLS settings apply to every node. Percent-encode
   * special characters of the password (an unencoded one is read correctly
   * too, see `parseRedisUrl`). On a cluster the store defaults to 16 shards
   * and `durability: "replicated"`, and uses `CLUSTER_SETTINGS` (a failover
   * is retried for about 5 s before a call fails with `StoreUnavailable`;
   * see docs/operations.md, "Running on Redis Cluster"). A URL connection uses
   * `CONNECTION_SETTINGS`: while Redis is down a call fails within about
   * 2 s with `StoreUnavailable`, and the store reconnects by itself (see
   * docs/operations.md). Every method raises `StoreUnavailable` when the
   * connection fails, and no error it raises carries command arguments or
   * the password. The store listens to the connection's `error` events (to
   * name the cause of a failure). A wrapped instance keeps its own settings:
   * spread `CONNECTION_SETTINGS` into its options to fail as fast.
   *
   * @throws StoreUnavailable when Redis cannot be used within
   *   `connectTimeoutMs`; the message says why (cannot reach, authentication
   *   failed, TLS handshake failed) and names the URL, password masked.
   * @throws InvalidConnectionOptions for options that are not an object of
   *   known fields, a `prefix` that is not a non-empty string without braces
   *   or spaces, a URL that is not a Redis URL, TLS
   *   options without `rediss://`, a CA that cannot be read, a `shards` count
   *   that is not an integer from 1 to 1 000, a `replicationTimeoutMs`
   *   that is not a positive integer, a `durability` other than `"primary"`
   *   or `"replicated"`, `cluster` with an ioredis `Redis` instance, `tls`
   *   with any instance, or a `target` that is neither a string nor an
   *   ioredis instance (from JavaScript, say `connect({ url })`).
   *
   * @example
   * const store = await RedisStore.connect("rediss://app:s3cret@redis.internal:6380", {
   *   tls: { caFile: "/etc/weft/redis-ca.pem" },
   * })
   *
   * @example
   * const store = await RedisStore.connect(
   *   "rediss+cluster://weft:s3cret@10.0.0.1:6379,10.0.0.2:6379",
   *   { tls: { caFile: "/etc/weft/redis-ca.pem", servername: "redis.internal" } },
   * )
   */
  static async connect(
    target: string | Redis | Cluster,
    opts: RedisStoreOptions = {},
  ): Promise<RedisStore> {
    checkOptions(opts);
    if (typeof target !== "string") {
      if (!isConnection(target)) {
        throw new InvalidConnectionOptions(
          `RedisStore.connect takes a Redis URL (a string, such as "redis://localhost:6379") or an ioredis Redis or Cluster instance; it got ${described(target)}`,
        );
      }
      if (opts.tls !== undefined) {
        throw new InvalidConnectionOptions(
          "the tls option applies to a URL; set tls on the ioredis instance instead",
        );
      }
      if (target instanceof Cluster) {
        const o = target.options.redisOptions ?? {};
        const password = typeof o.password === "string" ? o.password : "";
        return new RedisStore(
          target,
          false,
          `redis${o.tls ? "s" : ""}+cluster://${seedsOf(target)}`,
          opts,
          secretForms(password),
        );
      }
      if (opts.cluster) {
        throw new InvalidConnectionOptions(
          "the cluster option applies to a URL; to wrap a Redis Cluster, pass an ioredis Cluster instance",
        );
      }
      const o = target.options;
      const password = typeof o.password === "string" ? o.password : "";
      return new RedisStore(
        target,
        false,
        `redis${o.tls ? "s" : ""}://${o.host ?? "localhost"}:${o.port ?? 6379}${o.db ? `/${o.db}` : ""}`,
        opts,
        secretForms(password),
      );
    }
    const conn = await connectUrl(target, {
      timeoutMs: opts.connectTimeoutMs ?? 5_000,
      ...(opts.tls === undefined ? {} : { tls: opts.tls }),
      ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
    });
    return new RedisStore(conn.redis, true, conn.url, opts, conn.secrets);
  }

  /**
   * The Effect-native store (docs/effect.md): a layer that connects with
   * {@link RedisStore.connect} (same URL forms and options) when it is
   * built and closes the store when its scope closes. Its errors are
   * `connect`'s, typed.
   *
   * @example
   * const Live = WeftClient.layer.pipe(Layer.provide(RedisStore.layer("redis://127.0.0.1:6379")))
   */
  static layer(
    target: string,
    opts: RedisStoreOptions = {},
  ): Layer.Layer<WeftStore, StoreUnavailable | InvalidConnectionOptions> {
    return WeftStore.scoped(
      Effect.tryPromise({
        try: () => RedisStore.connect(target, opts),
        catch: (e) => e,
      }).pipe(
        Effect.catch((e) =>
          e instanceof StoreUnavailable || e instanceof InvalidConnectionOptions
            ? Effect.fail(e)
            : Effect.die(e),
        ),
      ),
    );
  }

  /** The error a store method raises for `e`: see `storeError`. */
  private failure(e: unknown): unknown {
    // (a call on a closed store: not an outage to wait out)
    if (this.closed && !(e instanceof StoreUnavailable && e.failure === "closed"))
      return new StoreUnavailable({
        url: this.name,
        reason: "store.close() was called on it",
        failure: "closed",
        cause: sanitizeError(e, this.secrets),
      });
    return storeError(e, {
      url: this.name,
      secrets: this.secrets,
      lastConnectionError: this.lastConnectionError,
      connected: true,
    });
  }

  /** What a submission writes, worked out once for every chunk and re-send of it. */
  private prepare(sub: Submission) {
    const key = sub.idempotencyKey;
    const shard =
      key === undefined ? shardOf(sub.runId, this.shards.length) : shardOf(key, this.shards.length);
    const runId = this.shards.length > 1 ? `${sub.runId}.s${shard}` : sub.runId;
    const s = this.shards[shard]!;
    // the same nonce on every chunk and every re-send of this call: the scripts tell a re-send by it
    const nonce = sub.nonce ?? randomBytes(8).toString("hex");
    const hex = sub.fingerprint ?? fingerprint(sub.dag);
    return {
      key,
      shard,
      runId,
      s,
      window: key === undefined ? 0 : sub.idempotencyWindowMs,
      idem: s.idempotency(key ?? runId),
      nonce,
      // the nonce as the scripts get it and the run hash keeps it: its bytes when it is hex
      // (a client's 10 characters: 5 bytes less in every run hash), else as it is
      nonceArg: /^(?:[0-9a-f]{2})+$/.test(nonce) ? Buffer.from(nonce, "hex") : nonce,
      hex,
      // kept as its 32 bytes: half the memory of the hex text in every run hash
      fp: /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, "hex") : hex,
      out: outputBytes(sub.dag.output),
      timing:
        sub.notBefore === undefined && sub.expiresAt === undefined
          ? NO_TIMING
          : {
              ...(sub.notBefore === undefined ? {} : { notBefore: sub.notBefore }),
              ...(sub.expiresAt === undefined ? {} : { expiresAt: sub.expiresAt }),
            },
    };
  }

  async submit(sub: Submission): Promise<SubmitResult> {
    this.claimDue = undefined; // (it may put a node in a delayed set)
    if (sub.dag.nodes.length === 1 && sub.idempotencyKey === undefined) {
      // a run of one node without an idempotency key: `submitmany`'s call of one run, where a
      // plain job takes its shortcut (`plainSubmit`, a sixth fewer Redis instructions than
      // this script's general path); what it answers, and writes, is the same
      const one: SubmitManyResult[] = new Array(1);
      await this.submitRuns([{ at: 0, sub, p: this.prepare(sub) }], one);
      // (always answered: only a run with a key answers RETRY or ADOPT)
      const r = one[0];
      if (r === undefined)
        throw new UnexpectedReply("submitmany", "no answer for a run without a key");
      if (!r.ok) throw r.error;
      return { runId: r.runId, existing: r.existing };
    }
    const { key, s, window, idem, nonceArg, fp, out, timing, ...prepared } = this.prepare(sub);
    // (the key's run instead, when the key names a run of this canvas not yet committed: ADOPT)
    let runId = prepared.runId;
    const queues = sub.dag.queues;
    const nodes = sub.dag.nodes;
    for (let attempt = 1; ; attempt++) {
      // the run the key names is read first, so that its record can be passed in KEYS;
      // the script answers RETRY when the key changed in between
      let seen: Buffer | "" = "";
      let named = s.run(runId).record;
      if (window > 0) {
        const cur = await this.redis.getBuffer(idem);
        if (cur) {
          seen = cur;
          named = s.run(idempotencyRun(cur)).record;
        }
      }
      // (Object.assign, not a spread: V8 takes a slow path to spread into a literal; the same below)
      const keys = Object.assign(runScriptKeys(s, runId, queues), {
        idempotency: idem,
        namedRun: named,
      });
      // the roots written queued, which the commit walks without reading them (a run of
      // several chunks: a wide chord's members)
      const roots =
        nodes.length > this.chunk ? leadingRoots(nodes, queues, timing) : NO_LEADING_ROOTS;
      // the chunks' arguments, made as each is sent (a chunk's Node work overlaps Redis's on the one before)
      const argsAt = (from: number) => {
        // the first chunk begins the run (pending), the last commits it; one chunk does both
        const first = from === 0;
        const last = from + this.chunk >= nodes.length;
        const phase = first && last ? "begin+commit" : first ? "begin" : last ? "commit" : "";
        const quadruples: Arg[] = [];
        for (const n of nodes.slice(from, from + this.chunk)) {
          const { field, spec } = storedNode(
            n,
            queues,
            timing,
            nodes.length,
            n.id < roots.count ? roots.record : undefined,
          );
          quadruples.push(n.id, field, spec, encodeDeps(n));
        }
        return {
          runId,
          now: sub.now,
          phase,
          total: nodes.length,
          queues: queues.join(","),
          tags: JSON.stringify(sub.tags),
          retentionMs: sub.retentionMs,
          windowMs: window,
          budget: this.budget,
          fingerprint: fp,
          nonce: nonceArg,
          output: out,
          seen,
          reuse: sub.idempotencyReuse ?? "return-existing",
          eventsMax: this.eventsMax,
          notBefore: sub.notBefore ?? 0,
          expiresAt: sub.expiresAt ?? 0,
          // only the first chunk writes the run record, and the headers with it
          headers: first ? (sub.headers ?? "") : "",
          queued: roots.count,
          queuedRecord: roots.record,
          nodes: quadruples,
        };
      };
      // What the script answered for a chunk: undefined to go on, else the submission's answer
      // (RETRY: again from the first chunk). A middle chunk answers OK or GONE.
      const answer = async (r: SubmitReply): Promise<SubmitResult | "RETRY" | undefined> => {
        switch (r.code) {
          case "RETRY":
            return "RETRY";
          case "ADOPT":
            // again under the key's run id: this call writes that run and commits it
            runId = r.runId;
            return "RETRY";
          case "EXISTS":
            return { runId: r.runId, existing: true };
          case "CONFLICT":
            throw new IdempotencyConflict({ key: key!, runId: r.runId });
          case "DUPLICATE":
            throw new DuplicateRun({ runId });
          case "GONE":
            throw new SubmitInterrupted({
              runId,
              reason: RUN_GONE,
            });
          case "OK":
            if (r.more) await this.drain(s, runId, queues, sub.now);
            return undefined;
        }
      };
      // The first chunk is sent alone: it decides whether the run is written at all (and
      // loads the function library if the server lacks it). The middle chunks are sent
      // together without waiting for each other's answers (Redis runs them in order on the
      // connection); the commit goes only once every one of them answered OK, so that a run
      // missing a chunk is never committed. The commit acknowledges the run: with
      // replicated durability a replica has it first.
      const lastFrom = nodes.length - 1 - ((nodes.length - 1) % this.chunk);
      const firstArgs = argsAt(0);
      const begun = await answer(
        lastFrom === 0
          ? await this.durable(s.tag, SCRIPTS.submit, keys, firstArgs)
          : await this.call(SCRIPTS.submit, keys, firstArgs),
      );
      if (begun !== "RETRY") {
        if (begun) return begun;
        if (lastFrom > 0) {
          // (each answer handled as it comes: a chunk that fails while the next are made is
          // never an unhandled rejection)
          const middle: Array<Promise<{ r: SubmitReply } | { e: unknown }>> = [];
          for (let from = this.chunk; from < lastFrom; from += this.chunk) {
            middle.push(
              this.call(SCRIPTS.submit, keys, argsAt(from)).then(
                (r) => ({ r }),
                (e: unknown) => ({ e }),
              ),
            );
            // (the turn ends: its write leaves, and Redis runs this chunk while the next is made)
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          // (a chunk after the first answers OK or GONE: RETRY and EXISTS come from the first)
          const later = async (r: SubmitReply) => {
            if ((await answer(r)) !== undefined)
              throw new SubmitInterrupted({ runId, reason: `a later chunk answered ${r.code}` });
          };
          for (const settled of await Promise.all(middle)) {
            if ("e" in settled) throw settled.e;
            await later(settled.r);
          }
          await later(await this.durable(s.tag, SCRIPTS.submit, keys, argsAt(lastFrom)));
        }
        return { runId, existing: false };
      }
      if (attempt >= 10)
        throw new SubmitInterrupted({
          runId,
          reason: `its idempotency key ${JSON.stringify(key)} changed ${attempt} times while it was being written`,
        });
    }
  }

  /**
   * Groups the submissions by shard and writes the small runs of a shard
   * in calls of script `submitmany` of about `submitChunk` nodes in all
   * (one round trip each, shards in parallel); a run larger than that goes
   * through `submit` (chunked) on its own. Each run answers as `submit`
   * would: a run whose idempotency key changed since it was read is
   * written again through `submit`, with the same nonce.
   */
  async submitMany(subs: ReadonlyArray<Submission>): Promise<ReadonlyArray<SubmitManyResult>> {
    this.claimDue = undefined; // (it may put a node in a delayed set)
    const out: SubmitManyResult[] = new Array(subs.length);
    // in order, as many `submit`s would write them: the small runs up to a large one, each
    // shard's in calls one after another (the shards in parallel: their runs never meet), then
    // the large one
    let small = new Map<number, Array<{ readonly at: number; readonly sub: Submission }>>();
    const flush = async () => {
      const shards = [...small.values()];
      small = new Map();
      await Promise.all(
        shards.map(async (list) => {
          const batches: Array<typeof list> = [];
          for (let from = 0; from < list.length; ) {
            let nodes = 0;
            let to = from;
            while (
              to < list.length &&
              (to === from ||
                (to - from < SUBMIT_MANY_RUNS &&
                  nodes + list[to]!.sub.dag.nodes.length <= this.chunk))
            )
              nodes += list[to++]!.sub.dag.nodes.length;
            batches.push(list.slice(from, to));
            from = to;
          }
          // A run with an idempotency key may answer RETRY (its key changed since it was
          // read), and the runs after it are sent again after it: such batches go one after
          // another. Without keys, the first batch goes alone (it loads the function library
          // if the server lacks it) and the others are sent without waiting for each other's
          // answers: Redis runs them in order on the connection while the next is made
          if (list.some(({ sub }) => sub.idempotencyKey !== undefined)) {
            for (const batch of batches) await this.submitBatch(batch, out);
            return;
          }
          await this.submitBatch(batches[0]!, out);
          // (each settled as it comes: one that fails while the next are made is never an
          // unhandled rejection; the first failure is thrown once all are answered)
          const sent: Array<Promise<{ e: unknown } | undefined>> = [];
          for (const batch of batches.slice(1)) {
            sent.push(
              this.submitBatch(batch, out).then(
                () => undefined,
                (e: unknown) => ({ e }),
              ),
            );
            // (the turn ends: its write leaves, and Redis runs this batch while the next is made)
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          for (const failed of await Promise.all(sent)) if (failed) throw failed.e;
        }),
      );
    };
    for (const [at, sub] of subs.entries()) {
      if (sub.dag.nodes.length > this.chunk) {
        await flush();
        out[at] = await settleSubmit(this.submit(sub));
        continue;
      }
      const shard = shardOf(sub.idempotencyKey ?? sub.runId, this.shards.length);
      const list = small.get(shard);
      if (list) list.push({ at, sub });
      else small.set(shard, [{ at, sub }]);
    }
    await flush();
    return out;
  }

  /**
   * Writes runs of one shard, each of at most `submitChunk` nodes, in one
   * `submitmany` call, in order. The script stops at a run whose
   * idempotency key changed since it was read (RETRY): the runs from there
   * are sent again, their keys read again (the first of a call, alone,
   * through `submit`, which retries on its own), so that each run sees the
   * runs before it written.
   */
  private async submitBatch(
    list: ReadonlyArray<{ readonly at: number; readonly sub: Submission }>,
    out: SubmitManyResult[],
  ): Promise<void> {
    const all = list.map(({ at, sub }) => ({ at, sub, p: this.prepare(sub) }));
    for (let from = 0; from < all.length; ) {
      const runs = all.slice(from);
      const done = await this.submitRuns(runs, out);
      if (done === 0) {
        const { at, sub, p } = runs[0]!;
        // nothing of it was written: `submit` reads the key again (same nonce and fingerprint)
        out[at] = await settleSubmit(this.submit({ ...sub, nonce: p.nonce, fingerprint: p.hex }));
        from += 1;
      } else from += done;
    }
  }

  /**
   * One `submitmany` call for `runs` (prepared, of one shard): records the
   * answer of each run it wrote or refused in `out`, and returns how many it
   * answered (fewer than all when one answered RETRY: that one and those
   * after it are left for the caller).
   */
  private async submitRuns(
    runs: ReadonlyArray<{
      readonly at: number;
      readonly sub: Submission;
      readonly p: ReturnType<RedisStore["prepare"]>;
    }>,
    out: SubmitManyResult[],
  ): Promise<number> {
    const s = runs[0]!.p.s;
    // the runs the keys name are read first, so that the script is handed the run each names;
    // a run whose key changed in between answers RETRY
    const keyed = runs.filter((r) => r.p.window > 0);
    const seen = new Map<number, Buffer>();
    if (keyed.length > 0) {
      const got = await this.redis.mgetBuffer(...keyed.map((r) => r.p.idem));
      keyed.forEach((r, i) => {
        const cur = got[i];
        if (cur) seen.set(r.at, cur);
      });
    }
    const queueAt = new Map<string, number>();
    const queueKeys: QueueKeys[] = [];
    // eighteen arguments a run and four a node, written in place (no growing array; a run
    // sent short takes six, and the array is cut to what was written)
    let size = 0;
    for (const { sub } of runs) size += 18 + 4 * sub.dag.nodes.length;
    const args: Arg[] = new Array(size);
    let k = 0;
    // the last run sent short: its time, queue index and record (a run like it is sent with
    // marker LIKE_SHORT, its id and its spec)
    let last: { now: number; i: number; field: Uint8Array } | undefined;
    for (const { at, sub, p } of runs) {
      const cur = seen.get(at);
      const queues = sub.dag.queues;
      if (cur === undefined && isShort(sub, p)) {
        // a plain job whose other fields are all at their defaults: six arguments, not
        // twenty-two (submitmany.lua, SHORT: 4.7 % fewer Redis instructions a plain job)
        let i = queueAt.get(queues[0]!);
        if (i === undefined) {
          queueKeys.push(s.queue(queues[0]!));
          i = queueKeys.length;
          queueAt.set(queues[0]!, i);
        }
        const { field, spec } = storedNode(sub.dag.nodes[0]!, queues, p.timing, 1);
        if (
          last !== undefined &&
          last.now === sub.now &&
          last.i === i &&
          sameBytes(last.field, field)
        ) {
          args[k++] = LIKE_SHORT;
          args[k++] = p.runId;
          args[k++] = spec;
          continue;
        }
        last = { now: sub.now, i, field };
        args[k++] = "";
        args[k++] = p.runId;
        args[k++] = sub.now;
        args[k++] = i;
        args[k++] = field;
        args[k++] = spec;
        continue;
      }
      const indexes: number[] = [];
      for (const q of queues) {
        let i = queueAt.get(q);
        if (i === undefined) {
          queueKeys.push(s.queue(q));
          i = queueKeys.length;
          queueAt.set(q, i);
        }
        indexes.push(i);
      }
      const nodes = sub.dag.nodes;
      args[k++] = p.runId;
      args[k++] = sub.now;
      args[k++] = queues.join(",");
      args[k++] = indexes.join(",");
      args[k++] = sub.tags.length === 0 ? "[]" : JSON.stringify(sub.tags);
      args[k++] = sub.retentionMs;
      args[k++] = p.window;
      args[k++] = p.fp;
      args[k++] = p.nonceArg;
      args[k++] = p.out;
      args[k++] = cur ?? "";
      args[k++] = sub.idempotencyReuse ?? "return-existing";
      args[k++] = sub.notBefore ?? 0;
      args[k++] = sub.expiresAt ?? 0;
      args[k++] = sub.headers ?? "";
      // (the run's own keys the script builds from the run prefix)
      args[k++] = p.key === undefined ? "" : p.idem;
      args[k++] = cur === undefined ? "" : idempotencyRun(cur);
      args[k++] = nodes.length;
      for (const n of nodes) {
        args[k++] = n.id;
        const { field, spec } = storedNode(n, queues, p.timing, nodes.length);
        args[k++] = field;
        args[k++] = spec;
        args[k++] = encodeDeps(n);
      }
    }
    args.length = k;
    // every run of the call commits: with replicated durability a replica has them first
    const replies = await this.durable(
      s.tag,
      SCRIPTS.submitmany,
      Object.assign(runScriptKeys(s, "", []), { queues: queueKeys }),
      {
        count: runs.length,
        budget: this.budget,
        eventsMax: this.eventsMax,
        runPrefix: s.runPrefix,
        runs: args,
      },
    );
    // (ADOPT as RETRY: `submit` writes such a run under its key's run id)
    const retry = replies.findIndex((r) => r.code === "RETRY" || r.code === "ADOPT");
    const done = retry === -1 ? replies.length : retry;
    if (retry === -1 && replies.length !== runs.length)
      throw new UnexpectedReply("submitmany", `${replies.length} replies for ${runs.length} runs`);
    // each run's answer at once, but for a run with work left: once `drain` did it (the drains
    // at once; no promise for the others)
    const drains: Array<Promise<void>> = [];
    for (let i = 0; i < done; i++) {
      const { at, sub, p } = runs[i]!;
      const r = replies[i]!;
      switch (r.code) {
        case "OK":
          if (r.more)
            drains.push(
              this.drain(s, p.runId, sub.dag.queues, sub.now).then(() => {
                out[at] = { ok: true, runId: p.runId, existing: false };
              }),
            );
          else out[at] = { ok: true, runId: p.runId, existing: false };
          break;
        case "EXISTS":
          out[at] = { ok: true, runId: r.runId, existing: true };
          break;
        case "CONFLICT":
          out[at] = {
            ok: false,
            error: new IdempotencyConflict({ key: p.key!, runId: r.runId }),
          };
          break;
        case "DUPLICATE":
          out[at] = { ok: false, error: new DuplicateRun({ runId: p.runId }) };
          break;
        case "GONE":
          out[at] = {
            ok: false,
            error: new SubmitInterrupted({
              runId: p.runId,
              reason: RUN_GONE,
            }),
          };
          break;
      }
    }
    await Promise.all(drains);
    return done;
  }

  /**
   * Visits the shards one by one until `req.max` nodes are leased: one
   * round trip per shard visited (two where it finds work). The first
   * shard visited turns from one request to the next, so that a busy shard
   * does not starve the others; a re-sent request (same `requestId`)
   * visits them in the same order, so that each shard replays its part.
   */
  async claim(req: ClaimRequest): Promise<ReadonlyArray<Claim>> {
    const limited = limitedQueues(req);
    if (limited.length === 0) return this.claimFrom(req, 0);
    this.claimDue = undefined;
    // the queues without a limit first, then each limited queue up to what its limit grants
    // (reserved atomically in its sliding log, ratelimit.lua; what is not used is given back)
    const out: Claim[] = [];
    const free = req.queues.filter((q) => !limited.includes(q));
    if (free.length > 0) out.push(...(await this.claimFrom({ ...req, queues: free }, 0)));
    for (const [i, q] of limited.entries()) {
      const want = req.max - out.length;
      if (want <= 0) break;
      const limit = req.rateLimits![q]!;
      const key = limiterKey(this.prefix, q);
      const r = await this.call(
        SCRIPTS.ratelimit,
        { limiter: key },
        {
          now: req.now,
          limit: limit.limit,
          intervalMs: limit.intervalMs,
          want,
          owner: randomUUID(),
        },
      );
      if (r.freeAt === undefined) this.limitedUntil.delete(q);
      else this.limitedUntil.set(q, r.freeAt);
      if (r.granted === 0) continue;
      // its own parts of the request id's replies (claim.lua), apart from the other queues'
      const got = await this.claimFrom({ ...req, queues: [q], max: r.granted }, (i + 1) * 1_000);
      out.push(...got);
      this.claimDue = undefined;
      const unused = r.members.slice(got.length);
      if (unused.length > 0) await this.redis.zrem(key, ...unused);
    }
    return out;
  }

  /** Claims from `req.queues` (none rate limited); `partBase` numbers its calls of the request. */
  private async claimFrom(req: ClaimRequest, partBase: number): Promise<ReadonlyArray<Claim>> {
    const out: Claim[] = [];
    const n = this.shards.length;
    const first =
      n === 1 ? 0 : req.requestId === undefined ? this.claimTurn++ % n : shardOf(req.requestId, n);
    // each shard's last answer about its delayed sets (claim.lua's `due`)
    const dues: Array<number | null | undefined> = [];
    this.claimDue = undefined;
    for (let i = 0; i < n && out.length < req.max; i++) {
      const s = this.shards[(first + i) % n]!;
      let part = partBase;
      while (out.length < req.max) {
        const asked = req.max - out.length;
        const before = out.length;
        const popped = await this.claimBatch(s, req, out, part++, dues, i);
        // fewer popped than asked, each now a claim: the queues are empty, no second round
        // trip to find that out. A node popped that is no claim (it stalled out, expired, was
        // held by a limit) may have made others ready: keep claiming while there is room
        if (popped === 0 || (popped < asked && out.length - before === popped)) break;
      }
    }
    // short on every shard, each of which read its delayed sets: the worker's next wait needs no read
    if (out.length < req.max && dues.length === n && dues.every((d) => d !== undefined)) {
      const due = dues.reduce<number | undefined>(
        (min, d) => (d === null || (min !== undefined && min <= d) ? min : d),
        undefined,
      );
      this.claimDue = { queues: req.queues.join(","), due };
    }
    return out;
  }

  /**
   * Pops and starts up to `req.max - out.length` nodes of one shard; returns
   * how many were popped. `part` numbers the calls of one request on a
   * shard, so that a re-sent request replays each of them (claim.lua).
   */
  private async claimBatch(
    s: ShardKeys,
    req: ClaimRequest,
    out: Claim[],
    part: number,
    /** Where the reply's `due` goes, at the shard's place `at` in the claim's order. */
    dues: Array<number | null | undefined>,
    at: number,
  ): Promise<number> {
    const { leased, due } = await this.call(
      SCRIPTS.claim,
      {
        tokens: s.tokens,
        seq: s.seq,
        lastClaim: s.lastClaim(req.workerId),
        shardWork: s.work,
        events: s.events,
        workerNames: s.workerNames,
        queues: req.queues.map((q) => s.queue(q)),
      },
      {
        now: req.now,
        max: req.max - out.length,
        leaseMs: req.leaseMs,
        requestId: req.requestId ?? "",
        part,
        promote: PROMOTE_PER_CLAIM,
        worker: req.workerId,
        eventsMax: this.eventsMax,
        runPrefix: s.runPrefix,
        queueNames: req.queues.join(","),
        tasks: req.tasks ?? [],
      },
    );
    dues[at] = due;
    if (leased.length === 0) return 0;
    const items = leased.map(({ queueIndex, member, token, start, lean }) => {
      const at = member.lastIndexOf("#");
      const queue = req.queues[queueIndex - 1]!;
      return {
        queue,
        runId: member.slice(0, at),
        nodeId: Number(member.slice(at + 1)),
        token,
        start,
        lean,
      };
    });
    // fencing tokens never repeat, even across a failover: a replica has the claim before
    // the worker runs it. A failed wait does not undo the claim
    if (this.replicated) {
      const wait = this.redis.pipeline().exists(s.seq);
      if (this.waitReplica(wait, s.tag)) {
        const answer = await wait.exec().catch(() => undefined);
        this.replicatedAnswer(s.tag, answer?.[1]);
      }
    }
    let failures = 0;
    let firstError: unknown;
    for (let i = 0; i < items.length; i++) {
      try {
        const it = items[i]!;
        const start = it.lean ? leanStart(it.lean, it.queue) : SCRIPTS.start.reply(it.start);
        const got = this.started(s, it, start, req);
        const claim = got instanceof Promise ? await got : got;
        if (claim) out.push(claim);
      } catch (e) {
        // one node's trouble never costs the rest of the batch: its lease expires and it is re-delivered
        failures += 1;
        firstError ??= e;
      }
    }
    if (failures > 0 && failures === items.length) throw firstError;
    return items.length;
  }

  /**
   * Applies the rate limit of a started claim's task (`options.rateLimit`):
   * reserves one claim in the task's sliding log (ratelimit.lua), and when
   * the limit holds it back, hands the node back queued and delayed until
   * the limit frees (hold.lua): false then. True for a task without a limit.
   */
  private async admitted(s: ShardKeys, claim: Claim, now: number): Promise<boolean> {
    const conc = claim.spec.options.concurrency;
    if (conc !== undefined) {
      // a slot of its concurrency key first (concurrency.lua); refused, it is held until due again
      const c = await this.call(
        SCRIPTS.concurrency,
        { slots: concurrencyKey(this.prefix, String(conc.key)) },
        {
          now,
          max: conc.max,
          member: leaseMember(claim),
          expiry: claim.leaseUntil,
          retryMs: CONCURRENCY_RETRY_MS,
        },
      );
      if (!c.granted) {
        await this.hold(s, claim, now, c.retryAt);
        return false;
      }
    }
    const limit = claim.spec.options.rateLimit;
    if (limit === undefined) return true;
    const r = await this.call(
      SCRIPTS.ratelimit,
      { limiter: taskLimiterKey(this.prefix, claim.spec.task) },
      { now, limit: limit.limit, intervalMs: limit.intervalMs, want: 1, owner: randomUUID() },
    );
    if (r.granted > 0) return true;
    await this.freeSlot(claim);
    await this.hold(s, claim, now, r.freeAt ?? now + limit.intervalMs);
    return false;
  }

  /**
   * Frees the concurrency slot (`options.concurrency`) of a claim's attempt,
   * whatever ended it; nothing for a node without a key or a slot it no
   * longer holds (the member names the attempt's fencing token).
   */
  private async freeSlot(claim: Claim): Promise<void> {
    const conc = claim.spec.options.concurrency;
    if (conc === undefined) return;
    await this.redis.zrem(concurrencyKey(this.prefix, String(conc.key)), leaseMember(claim));
  }

  /** Hands back a started node held back by a limit (hold.lua), queued and delayed until `dueAt`. */
  private async hold(s: ShardKeys, claim: Claim, now: number, dueAt: number): Promise<void> {
    const q = s.queue(claim.spec.queue);
    await this.call(
      SCRIPTS.hold,
      { nodes: s.run(claim.runId).nodes, leases: q.leases, delayed: q.delayed, events: s.events },
      {
        runId: claim.runId,
        node: claim.nodeId,
        token: claim.token,
        now,
        eventsMax: this.eventsMax,
        dueAt,
      },
    );
  }

  /**
   * What one start reply gives: the claim, or nothing when the lease was
   * stale, the node stalled out (its dependents are then drained), or it was
   * found corrupt (its node and run then fail as `CorruptRecord`, and the
   * rest of the batch runs). The claim of a node that needs nothing more
   * comes at once, else a promise of the claim or of nothing (`startedOk`,
   * `startedOther`).
   */
  private started(
    s: ShardKeys,
    it: LeasedItem,
    r: ReturnType<typeof SCRIPTS.start.reply>,
    req: ClaimRequest,
  ): Claim | undefined | Promise<Claim | undefined> {
    if (r.code !== "OK") return this.startedOther(s, it, r, req);
    const fields: ClaimFields = {
      runId: it.runId,
      nodeId: it.nodeId,
      token: it.token,
      attempt: r.attempt,
      stalls: r.stalls,
      spec: r.spec,
      runQueues: r.runQueues,
      deps: r.deps,
      leaseUntil: req.now + req.leaseMs,
    };
    if (r.headers !== null && r.headers.length > 0) fields.headers = r.headers;
    // the common start answers at once: no promise, no turn of the event loop per node
    const claim = this.claimNow(fields);
    if (claim !== undefined && !limited(claim)) return claim;
    return this.startedOk(s, it, fields, claim, req);
  }

  /** A started node's claim once read further (`toClaim`) and admitted by its task's limits. */
  private async startedOk(
    s: ShardKeys,
    it: LeasedItem,
    fields: ClaimFields,
    built: Claim | undefined,
    req: ClaimRequest,
  ): Promise<Claim | undefined> {
    const claim = built ?? (await this.toClaim(s, fields));
    if (!("corrupt" in claim)) return (await this.admitted(s, claim, req.now)) ? claim : undefined;
    await this.failCorrupt(s, it, claim.field, claim.corrupt, req.now);
    return undefined;
  }

  /** What a start reply other than OK gives (see `started`). */
  private async startedOther(
    s: ShardKeys,
    it: LeasedItem,
    r: Exclude<ReturnType<typeof SCRIPTS.start.reply>, { readonly code: "OK" }>,
    req: ClaimRequest,
  ): Promise<undefined> {
    switch (r.code) {
      case "CORRUPT":
        await this.failCorrupt(s, it, r.field, r.why, req.now);
        return undefined;
      case "STALLED_OUT":
      case "EXPIRED":
        if (r.more) await this.drain(s, it.runId, r.runQueues, req.now);
        return undefined;
      case "STALE":
        return undefined;
    }
  }

  /**
   * Fails a leased node whose record (`field`) cannot be read, and its run
   * (script `corrupt`). When the run's queue list is the corrupt part, only
   * the queue the node came from is passed, and the sweep looks in it for
   * every node.
   */
  private async failCorrupt(
    s: ShardKeys,
    it: LeasedItem,
    field: string,
    why: string,
    now: number,
  ): Promise<void> {
    const listed = parseQueues(await this.redis.hget(s.run(it.runId).record, "queues"));
    const trusted = field !== "queues" && listed?.includes(it.queue) === true;
    const queues = trusted ? listed! : [it.queue];
    const r = await this.call(SCRIPTS.corrupt, runScriptKeys(s, it.runId, queues), {
      runId: it.runId,
      node: it.nodeId,
      token: it.token,
      now,
      field,
      why,
      budget: this.budget,
      queueIndex: queues.indexOf(it.queue) + 1,
      queueListCorrupt: trusted ? 0 : 1,
      eventsMax: this.eventsMax,
    });
    if (r.more) await this.drain(s, it.runId, queues, now);
  }

  /** A run's queue list as stored (absent: `DEFAULT_QUEUES`); empty when it is corrupt. */
  private async queuesOf(s: ShardKeys, runId: string): Promise<string[]> {
    return parseQueues(await this.redis.hget(s.run(runId).record, "queues")) ?? [];
  }

  async complete(claim: Claim, result: Uint8Array, opts: CompleteOptions): Promise<ReportResult> {
    const s = this.shardOfRun(claim.runId);
    const r = await this.durable(
      s.tag,
      SCRIPTS.complete,
      runScriptKeys(s, claim.runId, claim.runQueues),
      {
        runId: claim.runId,
        node: claim.nodeId,
        token: claim.token,
        result,
        now: opts.now,
        worker: opts.workerId,
        nextMax: opts.nextMax,
        leaseMs: opts.leaseMs,
        served: servedQueues(claim.runQueues, opts.queues),
        budget: this.budget,
        eventsMax: this.eventsMax,
        span: isSpanId(opts.span) ? opts.span : "",
      },
    );
    return this.completed(s, claim, r, opts);
  }

  /**
   * {@link Store.completeMany}: the items of each shard in one script call
   * (`completemany`, at most {@link COMPLETE_BATCH} per call), each as
   * `complete` does it; the shards are called at once.
   */
  async completeMany(
    items: ReadonlyArray<CompleteItem>,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): Promise<ReadonlyArray<ReportResult>> {
    const out = new Array<ReportResult>(items.length);
    const byShard = new Map<ShardKeys, number[]>();
    items.forEach((it, i) => {
      const s = this.shardOfRun(it.claim.runId);
      const list = byShard.get(s);
      if (list) list.push(i);
      else byShard.set(s, [i]);
    });
    // the shards at once: a slow shard (a failover, a replica wait) holds up only its items
    await Promise.all(
      [...byShard].map(async ([s, all]) => {
        let from = 0;
        while (from < all.length) {
          const part = all.slice(from, from + COMPLETE_BATCH);
          const { args, shared } = completeArgs(items, part, opts.queues);
          const replies = await this.durable(
            s.tag,
            SCRIPTS.completemany,
            {
              shardWork: s.work,
              events: s.events,
              tokens: s.tokens,
              seq: s.seq,
              workerNames: s.workerNames,
            },
            {
              now: opts.now,
              worker: opts.workerId,
              leaseMs: opts.leaseMs,
              budget: this.budget,
              eventsMax: this.eventsMax,
              runPrefix: s.runPrefix,
              queuePrefix: s.queuePrefix,
              items: args,
              shared,
            },
          );
          // the script stops after an item that left work for `drain` (completemany.lua):
          // `completed` drains it, and the items after it go in the next call
          for (let k = 0; k < replies.length; k++) {
            const i = part[k]!;
            const got = this.completed(s, items[i]!.claim, completeItem(replies[k]), opts);
            out[i] = got instanceof Promise ? await got : got;
          }
          from += Math.max(1, replies.length);
        }
      }),
    );
    return out;
  }

  /**
   * What a complete reply gives (see `completedFully`): at once when there
   * is nothing to wait for (no work left to drain, no slot to free, every
   * next node's claim built from the reply and without a limit to pass),
   * else its promise.
   */
  private completed(
    s: ShardKeys,
    claim: Claim,
    r: ReturnType<typeof SCRIPTS.complete.reply>,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): ReportResult | Promise<ReportResult> {
    if (r.more || claim.spec.options.concurrency !== undefined)
      return this.completedFully(s, claim, r, opts);
    if (r.code !== "OK" && r.code !== "REPLAYED") {
      return { ok: false, reason: r.code === "STALE" ? "stale" : "cancelled" };
    }
    const next: Claim[] = [];
    for (const c of r.leased) {
      const got = this.claimNow(this.nextFields(claim, c, opts));
      // building a claim has no effect: the full path builds them all again
      if (got === undefined || (r.code !== "REPLAYED" && limited(got)))
        return this.completedFully(s, claim, r, opts);
      next.push(got);
    }
    return r.code === "REPLAYED" ? { ok: true, next, replayed: true } : { ok: true, next };
  }

  /** The fields of the claim of a node a completion leased (of the completed node's run). */
  private nextFields(
    claim: Claim,
    c: LeasedNode,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): ClaimFields {
    const fields: ClaimFields = {
      runId: claim.runId,
      nodeId: c.nodeId,
      token: c.token,
      attempt: c.attempt,
      stalls: c.stalls,
      spec: c.spec,
      runQueues: claim.runQueues,
      deps: c.deps,
      leaseUntil: opts.now + opts.leaseMs,
    };
    // the next nodes are of the same run: its headers
    if (claim.headers !== undefined) fields.headers = claim.headers;
    return fields;
  }

  /** What a complete reply gives: drains left work, frees the slot, hands out the next claims. */
  private async completedFully(
    s: ShardKeys,
    claim: Claim,
    r: ReturnType<typeof SCRIPTS.complete.reply>,
    opts: Omit<CompleteOptions, "nextMax" | "span">,
  ): Promise<ReportResult> {
    if (r.more) await this.drain(s, claim.runId, claim.runQueues, opts.now);
    // the attempt ended, whatever the answer: its concurrency slot is free before the hand-off
    if (claim.spec.options.concurrency !== undefined) await this.freeSlot(claim);
    if (r.code !== "OK" && r.code !== "REPLAYED") {
      return { ok: false, reason: r.code === "STALE" ? "stale" : "cancelled" };
    }
    const next: Claim[] = [];
    for (const c of r.leased) {
      const fields = this.nextFields(claim, c, opts);
      const got = this.claimNow(fields) ?? (await this.toClaim(s, fields));
      if (!("corrupt" in got)) {
        // a replay hands out what the first call admitted; a first call passes its task's limit
        if (r.code === "REPLAYED" || !limited(got) || (await this.admitted(s, got, opts.now)))
          next.push(got);
      } else {
        const it = { queue: got.queue, runId: claim.runId, nodeId: c.nodeId, token: c.token };
        await this.failCorrupt(s, it, got.field, got.corrupt, opts.now);
      }
    }
    return r.code === "REPLAYED" ? { ok: true, next, replayed: true } : { ok: true, next };
  }

  /**
   * Script `replace`, in chunks of `submitChunk` nodes (the last commits):
   * the new nodes are numbered from the run's node count and encoded here;
   * the script answers RETRY when that count or the run's queue list changed
   * since they were read, BUSY while another node's replacement is staged.
   */
  async replace(claim: Claim, dag: Dag, opts: CompleteOptions): Promise<ReportResult> {
    const code = await this.append(claim, dag, opts.now, "replace");
    await this.freeSlot(claim);
    switch (code) {
      case "OK":
        return { ok: true, next: [] };
      case "REPLAYED":
        return { ok: true, next: [], replayed: true };
      case "CANCELLED":
        return { ok: false, reason: "cancelled" };
      default:
        return { ok: false, reason: "stale" };
    }
  }

  async addToChord(
    claim: Claim,
    dag: Dag,
    opts: { readonly now: number },
  ): Promise<"added" | "lost" | "cancelled" | "ended"> {
    switch (await this.append(claim, dag, opts.now, "chord")) {
      case "OK":
        return "added";
      case "CANCELLED":
        return "cancelled";
      case "ENDED":
        return "ended";
      default:
        return "lost";
    }
  }

  /**
   * Script `replace` (modes `replace` and `chord`), in chunks of
   * `submitChunk` nodes (the last commits): the new nodes are numbered from
   * the run's node count and encoded here, with the specs of the chord
   * bodies they join (mode `chord`); the script answers RETRY when that
   * count or the run's queue list changed since they were read, BUSY while
   * another node's addition is staged.
   *
   * @throws InvalidCanvas (mode `chord`) when the node is not a chord header member.
   */
  private async append(
    claim: Claim,
    dag: Dag,
    now: number,
    mode: "replace" | "chord",
  ): Promise<"OK" | "REPLAYED" | "CANCELLED" | "STALE" | "ENDED"> {
    const s = this.shardOfRun(claim.runId);
    const keys = s.run(claim.runId);
    const nonce = randomBytes(8).toString("hex");
    for (let attempt = 1; ; attempt++) {
      const [status, totalRaw, queuesRaw, nbf, exp] = await this.redis.hmget(
        keys.record,
        "status",
        "total",
        "queues",
        "nbf",
        "exp",
      );
      // (a run of one node has no `total` since 2026-12-05: Records.ts, parseRunRecord)
      const base = status === null ? Number.NaN : totalRaw === null ? 1 : Number(totalRaw);
      const old = parseQueues(queuesRaw);
      if (!Number.isInteger(base) || old === undefined) return "STALE";
      let bodies: Array<{ readonly id: number; readonly settled: boolean }> = [];
      const bodySpecs = new Map<number, DagNode>();
      if (mode === "chord") {
        const ids = [...new Set([...claim.spec.dependents, ...claim.spec.settledDependents])];
        // (their fields n<i>: their specs before their records, which name their tasks; a spec
        // written before 2026-12-05 in s<i>)
        const raw =
          ids.length === 0
            ? []
            : await this.redis.hmgetBuffer(
                keys.specs,
                ...ids.map((d) => `n${d}`),
                ...ids.map((d) => `s${d}`),
              );
        ids.forEach((d, i) => {
          const rec = raw[i];
          const bytes = (rec && nodeField(rec).spec) ?? raw[ids.length + i];
          if (bytes) bodySpecs.set(d, decodeSpec(bytes, { id: d, task: recordTask(rec) }));
        });
        bodies = chordBodies(claim.spec, (d) => bodySpecs.get(d) ?? { ...claim.spec, arg: null });
        if (bodies.length === 0) throw notInChord(claim);
      }
      const { nodes, output } = appendDag(
        dag,
        base,
        claim.spec,
        mode === "chord" ? bodies : undefined,
      );
      const queues = [...old];
      for (const n of nodes) if (!queues.includes(n.queue)) queues.push(n.queue);
      const timing = {
        ...(nbf ? { notBefore: Number(nbf) } : {}),
        ...(exp ? { expiresAt: Number(exp) } : {}),
      };
      const waits = flatten(output);
      const joined = bodies.map((b) => {
        const body = bodySpecs.get(b.id)!;
        const j = joinChord(body, output);
        // hex: the scripts' cmsgpack reads no msgpack bin values
        const hex = (u: Uint8Array) => Buffer.from(u).toString("hex");
        return [
          b.id,
          hex(encodeSpec(j)),
          hex(encode(packDeps(j.deps))),
          j.deps.length - body.deps.length,
        ];
      });
      const scriptKeys = runScriptKeys(s, claim.runId, queues);
      let code: string = "OK";
      let more = false;
      for (let from = 0; code === "OK"; from += this.chunk) {
        const first = from === 0;
        const last = from + this.chunk >= nodes.length;
        const phase = first && last ? "begin+commit" : first ? "begin" : last ? "commit" : "";
        const quadruples: Arg[] = [];
        for (const n of nodes.slice(from, from + this.chunk)) {
          const { field, spec } = storedNode(n, queues, timing, base + nodes.length);
          quadruples.push(n.id, field, spec, encodeDeps(n));
        }
        const args = {
          mode,
          nonce,
          bodies: encode(joined),
          runId: claim.runId,
          node: claim.nodeId,
          token: claim.token,
          now,
          phase,
          base,
          count: nodes.length,
          oldQueues: old.join(","),
          queues: queues.join(","),
          spec: mode === "chord" ? "" : encodeSpec({ ...claim.spec, replacedBy: output }),
          deps: mode === "chord" ? "" : encodeDepList(waits),
          pending: waits.length,
          budget: this.budget,
          eventsMax: this.eventsMax,
          nodes: quadruples,
        };
        const r = last
          ? await this.durable(s.tag, SCRIPTS.replace, scriptKeys, args)
          : await this.call(SCRIPTS.replace, scriptKeys, args);
        code = r.code;
        more ||= r.more;
        if (last) break;
      }
      if (more) await this.drain(s, claim.runId, queues, now);
      if (code !== "RETRY" && code !== "BUSY")
        return code as "OK" | "REPLAYED" | "CANCELLED" | "STALE" | "ENDED";
      // read the run again; BUSY waits for the other node's last chunk
      if (attempt >= 100) return "STALE";
      if (code === "BUSY") await new Promise((r) => setTimeout(r, Math.min(50, attempt * 2)));
    }
  }

  async fail(claim: Claim, error: ErrorInfo, opts: FailOptions): Promise<ReportResult> {
    this.claimDue = undefined; // (it may put a node in a delayed set)
    const s = this.shardOfRun(claim.runId);
    const r = await this.durable(
      s.tag,
      SCRIPTS.fail,
      runScriptKeys(s, claim.runId, claim.runQueues),
      {
        runId: claim.runId,
        node: claim.nodeId,
        token: claim.token,
        error: encode(error),
        now: opts.now,
        retryAt: opts.retryAt ?? -1,
        budget: this.budget,
        eventsMax: this.eventsMax,
      },
    );
    if (r.more) await this.drain(s, claim.runId, claim.runQueues, opts.now);
    await this.freeSlot(claim);
    if (r.code === "STALE") return { ok: false, reason: "stale" };
    return r.code === "REPLAYED" ? { ok: true, next: [], replayed: true } : { ok: true, next: [] };
  }

  /**
   * One pipelined `heartbeat` script per claim. A command that fails because
   * Redis cannot serve it (see `classify`: connection lost, command timed
   * out, LOADING...) makes the whole call raise `StoreUnavailable`: it says
   * nothing about the lease, and answering `"lost"` would abort a handler
   * whose lease still holds. Any other error of one command (a script error
   * on that claim's keys) answers `"lost"` for that claim alone.
   */
  async heartbeat(
    claims: ReadonlyArray<Claim>,
    opts: { now: number; leaseMs: number },
  ): Promise<ReadonlyArray<LeaseState>> {
    if (claims.length === 0) return [];
    const res = await this.pipelineByShard(claims, (pipe, c, s) =>
      this.pipeScript(
        pipe,
        SCRIPTS.heartbeat,
        { leases: s.queue(c.spec.queue).leases, record: s.run(c.runId).record },
        { lease: leaseMember(c), expiry: opts.now + opts.leaseMs },
      ),
    );
    // a command that failed for want of Redis (connection lost, timed out, not serving) says
    // nothing about the lease: raise (StoreUnavailable) rather than answer "lost", which would
    // abort a handler whose lease still holds
    const down = res.find(([err]) => err && classify(err) !== undefined);
    if (down) throw down[0];
    // any other error is this claim's own (a script error on its keys, a reply that is not
    // heartbeat's): its lease cannot be kept
    const states = res.map(([err, v]): LeaseState => {
      if (err) return "lost";
      try {
        return SCRIPTS.heartbeat.reply(v);
      } catch {
        return "lost";
      }
    });
    // a renewed lease renews its concurrency slot (scored by the lease expiry); XX: a slot
    // already purged or freed is not brought back (a heartbeat later than its lease may find
    // its slot lapsed: docs/schedules.md, "Concurrency keys")
    // one pipeline per key: each key is its own hash tag (a cluster slot of its own)
    const renew = new Map<string, string[]>();
    claims.forEach((c, i) => {
      const conc = c.spec.options.concurrency;
      if (conc === undefined || states[i] !== "held") return;
      const slots = concurrencyKey(this.prefix, String(conc.key));
      renew.set(slots, [...(renew.get(slots) ?? []), leaseMember(c)]);
    });
    await Promise.all(
      [...renew].map(([slots, members]) => {
        const pipe = this.redis.pipeline();
        for (const m of members) pipe.zadd(slots, "XX", opts.now + opts.leaseMs, m);
        // the key outlives its last slot by a minute (as concurrency.lua sets it): only extended
        pipe.pexpire(slots, opts.leaseMs + 60_000, "GT");
        return pipe.exec();
      }),
    );
    return states;
  }

  async release(claim: Claim, opts: { now: number }): Promise<void> {
    this.claimDue = undefined; // (it may put a node in a delayed set)
    const s = this.shardOfRun(claim.runId);
    const q = s.queue(claim.spec.queue);
    const r = s.run(claim.runId);
    const released = await this.call(
      SCRIPTS.release,
      {
        nodes: r.nodes,
        results: r.results,
        leases: q.leases,
        ready: q.ready,
        wake: q.wake,
        seq: s.seq,
        events: s.events,
      },
      this.leasedNodeArgs(claim, opts.now),
    );
    await this.freeSlot(claim);
    if (released === "CORRUPT") {
      const it = { queue: claim.spec.queue, ...claim };
      await this.failCorrupt(
        s,
        it,
        `n${claim.nodeId}`,
        "the node record cannot be decoded",
        opts.now,
      );
    }
  }

  async park(claim: Claim, opts: { now: number }): Promise<void> {
    const s = this.shardOfRun(claim.runId);
    const q = s.queue(claim.spec.queue);
    await this.call(
      SCRIPTS.park,
      {
        nodes: s.run(claim.runId).nodes,
        leases: q.leases,
        parked: q.parked,
        wake: q.wake,
        seq: s.seq,
        events: s.events,
      },
      this.leasedNodeArgs(claim, opts.now),
    );
    await this.freeSlot(claim);
  }

  /** The arguments of a script that hands back `claim`'s leased node at `now` (ms): release, park. */
  private leasedNodeArgs(claim: Claim, now: number) {
    return {
      runId: claim.runId,
      node: claim.nodeId,
      token: claim.token,
      now,
      eventsMax: this.eventsMax,
    };
  }

  async progress(claim: Claim, progress: Progress): Promise<LeaseState> {
    const checked = encode(checkProgress(progress));
    const s = this.shardOfRun(claim.runId);
    const r = s.run(claim.runId);
    return this.call(
      SCRIPTS.progress,
      {
        leases: s.queue(claim.spec.queue).leases,
        results: r.results,
        record: r.record,
        events: s.events,
      },
      {
        lease: leaseMember(claim),
        node: claim.nodeId,
        progress: checked,
        runId: claim.runId,
        // the store's contract gives progress no clock reading: the event is stamped with this host's
        now: Date.now(),
        eventsMax: this.eventsMax,
      },
    );
  }

  async nextDueAt(queues: ReadonlyArray<string>): Promise<number | undefined> {
    const after = this.claimDue;
    this.claimDue = undefined;
    // the earliest due time in the queues' delayed sets: as the last claim read it, or read now
    const due =
      after !== undefined && after.queues === queues.join(",")
        ? after.due === undefined
          ? []
          : [after.due]
        : await this.delayedDue(queues);
    for (const q of queues) {
      const until = this.limitedUntil.get(q);
      if (until !== undefined) due.push(until);
    }
    return due.length === 0 ? undefined : Math.min(...due);
  }

  /** The lowest score of each of the queues' delayed sets, on every shard: one pipeline per shard, all in flight at once. */
  private async delayedDue(queues: ReadonlyArray<string>): Promise<number[]> {
    const replies = await Promise.all(
      this.shards.map(async (s) => {
        const pipe = this.redis.pipeline();
        for (const q of queues) pipe.zrange(s.queue(q).delayed, "0", "0", "WITHSCORES");
        return (await pipe.exec()) ?? [];
      }),
    );
    return replies.flat().flatMap(([, v]) => {
      const pair = v as string[] | null;
      return pair?.[1] === undefined ? [] : [Number(pair[1])];
    });
  }

  /**
   * Subscribes to the signals channel (`<prefix>:signals`, where cancel.lua
   * PUBLISHes a cancelled run's id) on one pub/sub connection per store,
   * opened on first use and closed 30 s after the last listener and waiter
   * left (or by `close`). ioredis
   * re-subscribes after a reconnect; a message sent while disconnected is
   * lost (heartbeats remain the fallback). A listener that throws is ignored.
   */
  async subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    if (this.closed) return async () => undefined;
    this.listeners.add(listener);
    try {
      await this.listen(signalsChannel(this.prefix));
    } catch (e) {
      this.listeners.delete(listener);
      if (this.subscriber) this.dropSubscriber(this.subscriber);
      throw e;
    }
    return async () => {
      this.listeners.delete(listener);
      this.releaseSubscriber();
    };
  }

  /**
   * The pub/sub connection, made on first use, once it listens on
   * `channel`: a signal goes to every `subscribe` listener, a run id on a
   * run-end channel to this process's waiters for that run.
   */
  private listen(channel: string): Promise<unknown> {
    let sub = this.subscriber;
    if (!sub) {
      const conn = this.duplicate(false);
      const signals = signalsChannel(this.prefix);
      conn.on("messageBuffer", (channel: Buffer, message: Buffer) => {
        if (channel.toString() !== signals) {
          for (const runId of endedRunIds(message))
            for (const wake of this.waiters.get(runId) ?? []) wake();
          return;
        }
        const signal: StoreSignal = { kind: "cancelled", runId: message.toString() };
        for (const l of [...this.listeners]) {
          try {
            l(signal);
          } catch {
            // a listener's bug must not stop the others
          }
        }
      });
      // on a cluster, PUBLISH reaches every node: one subscription on any node hears it
      const ready = conn instanceof Cluster ? clusterReady(conn) : Promise.resolve();
      ready.catch(() => undefined); // (each subscription below reports it)
      sub = { conn, ready, channels: new Map(), listening: new Set() };
      this.subscriber = sub;
    }
    let subscribed = sub.channels.get(channel);
    if (!subscribed) {
      const { conn, listening, channels } = sub;
      const attempt = sub.ready
        .then(() => conn.subscribe(channel))
        .then(() => listening.add(channel));
      // a failed subscription is tried again by the next call
      attempt.catch(() => {
        if (channels.get(channel) === attempt) channels.delete(channel);
      });
      subscribed = attempt;
      channels.set(channel, attempt);
    }
    return subscribed;
  }

  /**
   * Closes the pub/sub connection {@link SUBSCRIBER_LINGER_MS} after no
   * listener and no waiter is left, unless one came meanwhile: the waits of
   * an app that awaits results one request after another find their
   * subscription in place (a wait begun before its channel is subscribed
   * reads its run twice), instead of opening a connection and subscribing
   * for each.
   */
  private releaseSubscriber(): void {
    const sub = this.subscriber;
    if (!sub || this.listeners.size > 0 || this.waiters.size > 0) return;
    clearTimeout(this.lingering);
    this.lingering = setTimeout(() => {
      this.lingering = undefined;
      if (this.subscriber === sub && this.listeners.size === 0 && this.waiters.size === 0)
        this.dropSubscriber(sub);
    }, SUBSCRIBER_LINGER_MS);
    // (a store the app forgot to close keeps its process alive by its other connections, not by this)
    this.lingering.unref();
  }

  private dropSubscriber(sub: { readonly conn: Client }): void {
    if (this.subscriber === sub) {
      this.subscriber = undefined;
      clearTimeout(this.lingering);
      this.lingering = undefined;
    }
    sub.conn.disconnect();
  }

  async registerWorker(info: WorkerInfo, opts: { now: number; ttlMs: number }): Promise<void> {
    const reg: Registration = { ...info, seenAt: opts.now, until: opts.now + opts.ttlMs };
    await this.redis.hset(workersKey(this.prefix), info.id, JSON.stringify(reg));
  }

  async unregisterWorker(workerId: string): Promise<void> {
    await this.redis.hdel(workersKey(this.prefix), workerId);
  }

  /** Registered workers, oldest start first; an entry that is not valid JSON is skipped. */
  async listWorkers(opts: { now: number }): Promise<ReadonlyArray<WorkerPresence>> {
    const all = await this.redis.hgetall(workersKey(this.prefix));
    const out: WorkerPresence[] = [];
    for (const v of Object.values(all)) {
      const reg = parseRegistration(v);
      if (!reg) continue;
      const { seenAt, until, ...info } = reg;
      out.push({ ...info, lastSeenAt: seenAt, alive: until > opts.now });
    }
    return out.sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
  }

  async maintain(opts: { now: number; queues: ReadonlyArray<string> }): Promise<MaintainReport> {
    const scan = opts.now - this.scannedAt >= PRUNE_SCAN_EVERY_MS;
    if (scan) this.scannedAt = opts.now;
    // shards are independent (on a cluster, each is one slot, maybe on its own node): all at once
    const reports = await Promise.all(
      this.shards.map((s, i) => this.maintainShard(s, i, opts, scan)),
    );
    if (opts.now - this.workersPrunedAt >= WORKER_PRUNE_EVERY_MS) {
      this.workersPrunedAt = opts.now;
      await this.pruneWorkers(opts.now);
      await Promise.all(this.shards.map((s, i) => this.pruneWorkerNames(s, i, opts.now)));
    }
    return {
      promoted: reports.reduce((n, r) => n + r.promoted, 0),
      redelivered: reports.reduce((n, r) => n + r.redelivered, 0),
      expired: reports.reduce((n, r) => n + r.expired, 0),
    };
  }

  /** `maintain` on one shard. */
  private async maintainShard(
    s: ShardKeys,
    shard: number,
    opts: { now: number; queues: ReadonlyArray<string> },
    scan: boolean,
  ): Promise<MaintainReport> {
    let promoted = 0;
    let redelivered = 0;
    const pipe = this.redis.pipeline();
    for (const q of opts.queues) {
      const k = s.queue(q);
      const sweep = { now: opts.now, limit: this.budget };
      this.pipeScript(
        pipe,
        SCRIPTS.promote,
        { delayed: k.delayed, ready: k.ready, wake: k.wake, seq: s.seq },
        sweep,
      );
      this.pipeScript(
        pipe,
        SCRIPTS.reap,
        { leases: k.leases, ready: k.ready, wake: k.wake, seq: s.seq, events: s.events },
        { ...sweep, eventsMax: this.eventsMax },
      );
    }
    const res = (await pipe.exec()) ?? [];
    res.forEach(([err, v], i) => {
      if (err) throw err;
      if (i % 2 === 0) promoted += SCRIPTS.promote.reply(v);
      else redelivered += SCRIPTS.reap.reply(v);
    });
    const expired = await this.expireDue(s, opts);
    // leftover work whose owner stopped draining (it died, or lost its connection)
    for (const runId of await this.redis.zrangebyscore(
      s.work,
      "-inf",
      opts.now - 5_000,
      "LIMIT",
      0,
      10,
    )) {
      await this.drain(s, runId, await this.queuesOf(s, runId), opts.now);
    }
    await this.pruneRuns(s, shard, scan, opts.now);
    // submissions that died before their commit
    const cutoff = opts.now - this.abandonAfterMs;
    for (const runId of await this.redis.zrangebyscore(s.pending, "-inf", cutoff, "LIMIT", 0, 10)) {
      await this.call(SCRIPTS.discard, runScriptKeys(s, runId), { runId, cutoff });
    }
    return { promoted, redelivered, expired };
  }

  /**
   * Ends `expired` the queued and retrying nodes of `opts.queues` on shard
   * `s` past their deadline (the queues' `expiring` sets, at most `budget`
   * entries per queue, earliest first), one `expire` call each with the
   * run's queues; an entry whose node started or ended is dropped. Returns
   * how many nodes expired.
   */
  private async expireDue(
    s: ShardKeys,
    opts: { now: number; queues: ReadonlyArray<string> },
  ): Promise<number> {
    let expired = 0;
    for (const q of opts.queues) {
      const k = s.queue(q).expiring;
      const due = await this.redis.zrangebyscore(k, "-inf", opts.now, "LIMIT", 0, this.budget);
      const queuesOf = new Map<string, ReadonlyArray<string>>();
      for (const member of due) {
        const at = member.lastIndexOf("#");
        const runId = member.slice(0, at);
        const node = Number(member.slice(at + 1));
        let queues = queuesOf.get(runId);
        if (queues === undefined) {
          queues = await this.queuesOf(s, runId);
          queuesOf.set(runId, queues);
        }
        const r = await this.call(SCRIPTS.expire, runScriptKeys(s, runId, queues), {
          runId,
          node,
          now: opts.now,
          budget: this.budget,
          eventsMax: this.eventsMax,
        });
        // the entry has done its work: the node expired, or it started, ended or is gone
        await this.redis.zrem(k, member);
        if (r.code === "OK") expired += 1;
        if (r.more) await this.drain(s, runId, queues, opts.now);
      }
    }
    return expired;
  }

  /**
   * Deletes the runs that finished more than their retention before `now`
   * (prune.lua: a run of the default retention has no key expiry since
   * 2026-12-05; a run of another retention, or one written before, expires
   * by it too), and removes the entries of the runs gone from a shard's run
   * list (in commit order, RunList.ts; an entry goes with the last of its
   * runs). Runs of one retention are due in about the order they were
   * committed: a walk from the list's head deletes them as they come due
   * and stops at the first run kept that is due later. It passes over held
   * runs (prune.lua: a run still running, or that ran, longer than
   * `PRUNE_HORIZON_MS`, a damaged one), so that no such run holds back the
   * runs after it; the head it has reached is kept per shard, and the held
   * runs behind it are looked at again one batch a call. Every
   * `PRUNE_SCAN_EVERY_MS`, one batch along a cursor over the whole list
   * (the entries of runs expired by their keys, further on). The legacy
   * index of an older version is pruned from its oldest end only.
   */
  private async pruneRuns(s: ShardKeys, shard: number, scan: boolean, now: number): Promise<void> {
    // each run's flag from prune.lua ("1" gone, "2" held, "0" kept), the entries of the gone removed
    const prune = async (runs: ReadonlyArray<ListedRun>): Promise<string> => {
      if (runs.length === 0) return "";
      const flags = await this.call(
        SCRIPTS.prune,
        { runList: s.runList },
        { now, horizon: PRUNE_HORIZON_MS, runPrefix: s.runPrefix, runs: runs.map((r) => r.runId) },
      );
      await removeListed(
        this.redis,
        s,
        runs.filter((_, i) => flags[i] === "1"),
      );
      return flags;
    };
    let at = this.pruneHead.get(shard);
    if (at === undefined) {
      at = { head: "", behind: "" };
      this.pruneHead.set(shard, at);
    }
    // the held runs the head has passed: one batch along their own cursor
    if (at.head !== "") {
      const batch = await after(this.redis, s, at.behind, PRUNE_BATCH, at.head);
      await prune(batch.runs);
      // (nothing left behind the head: the walk from the head is one from the list's first entry)
      if (at.behind === "" && batch.runs.length === 0) at.head = "";
      at.behind = batch.end ? "" : (batch.runs.at(-1)?.entry ?? "");
    }
    // from the head: whole batches while every run of one was gone or held
    for (let pass = 0; pass < PRUNE_PASSES; pass++) {
      const batch = await after(this.redis, s, at.head, pass === 0 ? PRUNE_PROBE : PRUNE_BATCH);
      const flags = await prune(batch.runs);
      const kept = flags.indexOf("0");
      // the head moves past the entries before the first that keeps a run due soon
      const stop =
        kept < 0
          ? batch.runs.length
          : batch.runs.findIndex((r) => r.entry === batch.runs[kept]!.entry);
      if (stop > 0) at.head = batch.runs[stop - 1]!.entry;
      if (kept >= 0 || batch.end) break;
    }
    for (let pass = 0; pass < PRUNE_PASSES; pass++) {
      const legacy = await oldestLegacy(this.redis, s, pass === 0 ? PRUNE_PROBE : PRUNE_BATCH);
      const flags = await prune(legacy);
      if (legacy.length === 0 || flags.includes("0") || flags.includes("2")) break;
    }
    if (!scan) return;
    const batch = await after(this.redis, s, this.pruneCursor.get(shard) ?? "", PRUNE_BATCH);
    // (at the end of the list, the next walk starts again from its first entry)
    this.pruneCursor.set(shard, batch.end ? "" : (batch.runs.at(-1)?.entry ?? ""));
    await prune(batch.runs);
  }

  /** Removes registrations of workers dead for more than a day. */
  private async pruneWorkers(now: number): Promise<void> {
    const all = await this.redis.hgetall(workersKey(this.prefix));
    const dead = Object.entries(all)
      .filter(([, v]) => {
        const reg = parseRegistration(v);
        return !reg || reg.until + DEAD_WORKER_KEPT_MS <= now;
      })
      .map(([id]) => id);
    if (dead.length > 0) await this.redis.hdel(workersKey(this.prefix), ...dead);
  }

  /**
   * Deletes from a shard's worker numbers (lua/includes/workers.lua) the
   * workers that started no node of the shard for `WORKER_NAMES_KEPT_DAYS`
   * days: one batch along an HSCAN cursor per call. A run kept longer than
   * that after such a worker's last attempt shows it as `#<number>`.
   */
  private async pruneWorkerNames(s: ShardKeys, shard: number, now: number): Promise<void> {
    const [cursor, flat] = await this.redis.hscan(
      s.workerNames,
      this.workerNamesCursor.get(shard) ?? "0",
      "MATCH",
      "i:*",
      "COUNT",
      PRUNE_BATCH,
    );
    this.workerNamesCursor.set(shard, cursor);
    const today = Math.floor(now / DAY_MS);
    const stale: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const m = /^(\d+),(\d+)$/.exec(flat[i + 1] ?? "");
      if (!m) stale.push(flat[i]!);
      else if (Number(m[2]) < today - WORKER_NAMES_KEPT_DAYS) stale.push(flat[i]!, `n:${m[1]}`);
    }
    if (stale.length > 0) await this.redis.hdel(s.workerNames, ...stale);
  }

  async cancel(runId: string, opts: { now: number }): Promise<boolean> {
    const s = this.shardOfRun(runId);
    // (a run in queue "default" only has no `queues` field; every run has `status`)
    const [raw, status] = await this.redis.hmget(s.run(runId).record, "queues", "status");
    if (raw === null && status === null) return false;
    // a corrupt queue list: the walk cannot find the queues; nodes left in one are refused when claimed
    const queues = parseQueues(raw) ?? [];
    // one id per call: a re-send of this very cancel answers what the first send did
    const r = await this.durable(s.tag, SCRIPTS.cancel, runScriptKeys(s, runId, queues), {
      runId,
      now: opts.now,
      budget: this.budget,
      requestId: randomUUID(),
      channel: signalsChannel(this.prefix),
      eventsMax: this.eventsMax,
    });
    if (r.more) await this.drain(s, runId, queues, opts.now);
    return r.code === "OK" || r.code === "REPLAYED";
  }

  async redrive(runId: string, opts: RedriveOptions): Promise<RedriveResult> {
    const s = this.shardOfRun(runId);
    const [raw, status] = await this.redis.hmget(s.run(runId).record, "queues", "status");
    if (raw === null && status === null) return { ok: false, reason: "not-found" };
    const queues = parseQueues(raw) ?? [];
    const r = await this.durable(s.tag, SCRIPTS.redrive, runScriptKeys(s, runId, queues), {
      runId,
      now: opts.now,
      node: opts.edit?.node ?? -1,
      spec: opts.edit ? encodeSpec(opts.edit.spec) : new Uint8Array(0),
      budget: this.budget,
      eventsMax: this.eventsMax,
    });
    switch (r.code) {
      case "OK": {
        if (!r.more) return { ok: true, queued: r.queued };
        // a large run: the walk goes on in bounded steps; it keeps how many it queued in `rdq`
        await this.drain(s, runId, queues, opts.now);
        const queued = Number(await this.redis.hget(s.run(runId).record, "rdq"));
        return { ok: true, queued: Number.isInteger(queued) ? queued : 0 };
      }
      case "GONE":
        return { ok: false, reason: "not-found" };
      case "SUCCEEDED":
        return { ok: false, reason: "succeeded" };
      case "NOTENDED":
        return { ok: false, reason: "not-ended" };
      case "NOTQUIET":
        return { ok: false, reason: "not-quiet" };
      default:
        return { ok: false, reason: "bad-node" };
    }
  }

  async acquireLock({ name, owner, ttlMs, now }: LockRequest): Promise<number | undefined> {
    const k = lockKeys(this.prefix, name);
    // fencing tokens never go back, even across a failover: a replica has the new one first
    return this.durable(
      k.lock,
      SCRIPTS.lock,
      { lock: k.lock, fence: k.fence },
      { owner, ttlMs, now, graceMs: EXPIRY_GRACE_MS },
    );
  }

  async renewLock({ name, owner, token, ttlMs, now }: LockRenewal): Promise<boolean> {
    const k = lockKeys(this.prefix, name);
    return this.call(
      SCRIPTS.renewlock,
      { lock: k.lock },
      { owner, token, ttlMs, now, graceMs: EXPIRY_GRACE_MS },
    );
  }

  async releaseLock({ name, owner, token }: LockRelease): Promise<void> {
    await this.call(SCRIPTS.unlock, { lock: lockKeys(this.prefix, name).lock }, { owner, token });
  }

  async putSchedule(schedule: Schedule, opts: { now: number }): Promise<ScheduleRecord> {
    const k = scheduleKeys(this.prefix);
    const { paused, ...def } = schedule;
    await this.call(
      SCRIPTS.scheduleput,
      { schedule: k.schedule(schedule.id), index: k.index },
      { id: schedule.id, def: encode(def), paused: paused ? "1" : "0", now: opts.now },
    );
    const rec = await this.getSchedule(schedule.id);
    if (!rec) throw new Error(`schedule ${schedule.id} vanished while being upserted`);
    return rec;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const key = scheduleKeys(this.prefix).schedule(id);
    const [def, paused, state, version, createdAt, updatedAt] = await this.redis.hmgetBuffer(
      key,
      "def",
      "paused",
      "state",
      "version",
      "createdAt",
      "updatedAt",
    );
    if (!def) return undefined;
    let schedule: Schedule;
    let st: Omit<ScheduleState, "version">;
    try {
      schedule = { ...(decode(def) as Omit<Schedule, "paused">), paused: String(paused) === "1" };
      st = state ? (decode(state) as Omit<ScheduleState, "version">) : {};
    } catch (e) {
      throw new CorruptRecord({ key, reason: reason(e) });
    }
    return {
      schedule,
      state: { ...st, version: Number(String(version ?? "0")) },
      createdAt: Number(String(createdAt)),
      updatedAt: Number(String(updatedAt)),
    };
  }

  async listSchedules(): Promise<ReadonlyArray<ScheduleRecord>> {
    const ids = (await this.redis.smembers(scheduleKeys(this.prefix).index)).sort();
    const recs = await Promise.all(ids.map((id) => this.getSchedule(id)));
    return recs.filter((r): r is ScheduleRecord => r !== undefined);
  }

  async removeSchedule(id: string): Promise<boolean> {
    const k = scheduleKeys(this.prefix);
    return this.call(SCRIPTS.scheduleremove, { schedule: k.schedule(id), index: k.index }, { id });
  }

  async pauseSchedule(id: string, paused: boolean, opts: { now: number }): Promise<boolean> {
    return this.call(
      SCRIPTS.schedulepause,
      { schedule: scheduleKeys(this.prefix).schedule(id) },
      { paused: paused ? "1" : "0", now: opts.now },
    );
  }

  async advanceSchedule(
    id: string,
    version: number,
    next: Omit<ScheduleState, "version">,
  ): Promise<boolean> {
    return this.call(
      SCRIPTS.scheduleadvance,
      { schedule: scheduleKeys(this.prefix).schedule(id) },
      { version, state: encode(next) },
    );
  }

  async getMemo({ task, key, now }: MemoRequest): Promise<Uint8Array | undefined> {
    const [until, value] = await this.redis.hmgetBuffer(
      memoKey(this.prefix, task, key),
      "until",
      "v",
    );
    return until && value && Number(until.toString()) > now ? value : undefined;
  }

  async putMemo({ task, key, result, ttlMs, now }: Memo): Promise<void> {
    const k = memoKey(this.prefix, task, key);
    // expiry by the caller's clock (`until`); PEXPIRE only reclaims the key
    await this.redis
      .multi()
      .hset(k, "until", now + ttlMs, "v", Buffer.from(result))
      .pexpire(k, ttlMs + EXPIRY_GRACE_MS)
      .exec();
  }

  async getRun(runId: string): Promise<RunSnapshot | undefined> {
    const s = this.shardOfRun(runId);
    const k = s.run(runId);
    const run = await this.readRunRecord(k.record, runId);
    if (!run) return undefined;
    const nodes: Array<RunSnapshot["nodes"][number]> = [];
    // a corrupt count: read nodes until the first id that has no record
    const counted = run.error?.tag !== "CorruptRecord" || run.total > 0;
    const total = counted ? run.total : Number.POSITIVE_INFINITY;
    for (let from = 0; from < total; from += 1_000) {
      const ids = Array.from({ length: Math.min(1_000, total - from) }, (_, i) => from + i);
      const pipe = this.redis.pipeline();
      pipe.hmgetBuffer(k.nodes, ...ids.map((i) => `n${i}`));
      pipe.hmgetBuffer(k.specs, ...ids.map((i) => `s${i}`));
      pipe.hmgetBuffer(k.results, ...ids.map((i) => `e${i}`));
      pipe.hmgetBuffer(k.results, ...ids.map((i) => `p${i}`));
      pipe.hmgetBuffer(k.results, ...ids.map((i) => `h${i}`));
      type Row = [Error | null, Array<Buffer | null>];
      const [[, recs], [, specs], [, errs], [, progs], [, hists]] =
        (await pipe.exec()) as Row[] as [Row, Row, Row, Row, Row];
      let missing = false;
      ids.forEach((id, i) => {
        if (missing || (!counted && !recs![i])) {
          missing = true;
          return;
        }
        nodes.push(
          this.readNode(k.record, id, recs![i], specs![i], errs![i], progs![i], hists![i]),
        );
      });
      if (missing) break;
    }
    await this.nameWorkers(s, nodes);
    const out = decodeShape(await this.redis.hgetBuffer(k.record, "out"));
    return out === undefined ? { run, nodes } : { run, nodes, output: out };
  }

  /**
   * Puts the ids of the workers that `nodes`' records and attempt histories
   * name by number (lua/includes/workers.lua) in place of the numbers, read
   * from the shard's table in one HMGET. A number the table no longer holds
   * (its worker unseen for 30 days, `pruneWorkerNames`) shows as `#<number>`.
   */
  private async nameWorkers(s: ShardKeys, nodes: ReadonlyArray<NodeRecord>): Promise<void> {
    const numbers = new Set<number>();
    for (const n of nodes) {
      const w = numberedWorker(n.worker);
      if (w !== undefined) numbers.add(w);
      for (const h of n.history) {
        const hw = numberedWorker(h.worker);
        if (hw !== undefined) numbers.add(hw);
      }
    }
    if (numbers.size === 0) return;
    const list = [...numbers];
    const ids = await this.redis.hmget(s.workerNames, ...list.map((n) => `n:${n}`));
    const names = new Map(list.map((n, i) => [n, ids[i] ?? `#${n}`]));
    const named = (w: string): string => {
      const n = numberedWorker(w);
      return n === undefined ? w : (names.get(n) ?? w);
    };
    for (const n of nodes) {
      if (n.worker !== undefined) n.worker = named(n.worker);
      if (n.history.length > 0)
        n.history = n.history.map((h) => ({ ...h, worker: named(h.worker) }));
    }
  }

  /**
   * One node of a snapshot. Never throws: a record or spec that cannot be
   * decoded shows as the scripts will treat it, `failed` with a
   * `CorruptRecord` error naming the key and field (a placeholder spec for a
   * corrupt spec); an unreadable history shows as one `CorruptRecord` entry
   * (see `decodeHistory`).
   */
  private readNode(
    key: string,
    id: number,
    rec: Buffer | null | undefined,
    spec: Uint8Array | null | undefined,
    err: Buffer | null | undefined,
    prog: Buffer | null | undefined,
    hist: Buffer | null | undefined,
  ): RunSnapshot["nodes"][number] {
    const history = decodeHistory(hist, { key, field: `h${id}` });
    const error = decodeError(err, { key, field: `e${id}` });
    const progress = decodeProgress(prog);
    let node: NodeRecord;
    // (the task the record names: the spec, as stored, names none)
    let task: string | undefined;
    // (before its record since 2026-12-05, else in s<i>)
    let specField = `s${id}`;
    try {
      if (!rec) throw new Error("missing");
      const field = nodeField(rec);
      if (field.spec) {
        spec = field.spec;
        specField = `n${id}`;
      }
      const decoded = decode(field.record);
      task = taskOfRecord(decoded);
      node = nodeRecordOf(decoded, error, history, field.result !== undefined);
    } catch (e) {
      node = {
        state: "failed",
        attempts: 0,
        stalls: 0,
        pending: 0,
        error: corruptRecordInfo(key, `n${id}`, reason(e)),
        history,
      };
    }
    let decoded: DagNode;
    try {
      if (!spec) throw new Error("missing");
      decoded = decodeSpec(spec, { id, task });
    } catch (e) {
      decoded = placeholderSpec(id);
      node.error ??= corruptRecordInfo(key, specField, reason(e));
    }
    return { ...node, id, spec: decoded, ...(progress ? { progress } : {}) };
  }

  /**
   * {@link Store.getOutput}: the record's `out` field, with the run's id and
   * status (which say whether it exists) and the fields of the nodes
   * `expect` names (at most 1,000), in one HMGET (one hash today); then, in
   * one HMGET per 1,000, the fields of the output nodes not read so: each
   * node's record, spec, error and result.
   */
  async getOutput(
    runId: string,
    expect: ReadonlyArray<number> = [],
  ): Promise<RunOutput | undefined> {
    const k = this.shardOfRun(runId).run(runId);
    const ahead = [...new Set(expect)].slice(0, 1_000);
    oneWritePerTurn(this.redis);
    const [status, out, ...read] = await this.redis.hmgetBuffer(
      k.record,
      "status",
      "out",
      ...outputFields(ahead),
    );
    if (status === null) return undefined;
    const output = decodeShape(out);
    if (output === undefined) return { nodes: [] };
    // each node's four fields, by id: those read ahead, then the rest of the shape's
    const fields = new Map(ahead.map((n, i) => [n, read.slice(4 * i, 4 * i + 4)]));
    const ids = outputIds(output);
    const missing = ids.filter((n) => !fields.has(n));
    for (let from = 0; from < missing.length; from += 1_000) {
      const part = missing.slice(from, from + 1_000);
      oneWritePerTurn(this.redis);
      const v = await this.redis.hmgetBuffer(k.record, ...outputFields(part));
      for (const [i, n] of part.entries()) fields.set(n, v.slice(4 * i, 4 * i + 4));
    }
    const nodes = ids.map((nodeId) => this.outputNode(k.record, nodeId, fields.get(nodeId)!, 0));
    return { output, nodes };
  }

  /** An output node from its fields as {@link outputFields} lists them (record, spec, error, result). */
  private outputNode(
    key: string,
    nodeId: number,
    values: ReadonlyArray<Buffer | null | undefined>,
    from: number,
  ): RunOutput["nodes"][number] {
    // (the node's record, spec, error and result, from `values[from]`)
    const rec = values[from];
    // (no worker: result() does not use it, and naming a numbered one costs a read; left out
    // by a copy, not `delete`, which turns the object into a slower dictionary)
    const { worker: _, ...node } = this.readNode(
      key,
      nodeId,
      rec,
      values[from + 1],
      values[from + 2],
      null,
      null,
    );
    const kept = resultOf(rec, values[from + 3]);
    return kept ? { ...node, result: kept } : node;
  }

  async getResult(runId: string, nodeId: number): Promise<Uint8Array | undefined> {
    const k = this.shardOfRun(runId).run(runId);
    oneWritePerTurn(this.redis);
    // (after its record since 2026-12-05; apart, in r<i>, before)
    const [rec, apart] = await this.redis.hmgetBuffer(k.results, `n${nodeId}`, `r${nodeId}`);
    return resultOf(rec, apart);
  }

  async listRuns(opts: ListRunsOptions): Promise<ReadonlyArray<RunListing>> {
    const all: RunListing[] = [];
    const filtered = opts.status !== undefined || opts.task !== undefined || opts.tag !== undefined;
    const page = filtered ? Math.max(opts.limit, 200) : opts.limit;
    // every shard at once (on a cluster, each is one slot, maybe on its own node); with a
    // filter, page through each shard's index until it has `limit` matches or LIST_SCAN_MAX
    await Promise.all(
      this.shards.map(async (s) => {
        let found = 0;
        let seen = 0;
        for await (const runs of newestFirst(this.redis, s, page)) {
          const records = await Promise.all(
            runs.map((r) => this.readListing(s.run(r.runId).record, r.runId)),
          );
          const gone: ListedRun[] = [];
          runs.forEach((run, i) => {
            const r = records[i];
            if (!r) gone.push(run);
            else if (
              found < opts.limit &&
              (opts.status === undefined || r.status === opts.status) &&
              (opts.task === undefined || r.task === opts.task) &&
              (opts.tag === undefined || r.tags.includes(opts.tag))
            ) {
              all.push(r);
              found += 1;
            }
          });
          await removeListed(this.redis, s, gone);
          seen += runs.length;
          if (found >= opts.limit || seen >= LIST_SCAN_MAX) return;
        }
      }),
    );
    // newest first; runs created in the same ms by id, descending (as ZREVRANGE orders them)
    return all
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, opts.limit);
  }

  /** A run's record with its first node's task (from node record n0), or `undefined` when the run does not exist. */
  private async readListing(key: string, runId: string): Promise<RunListing | undefined> {
    const res = await this.redis
      .pipeline()
      .hmget(key, ...RUN_FIELDS)
      .hgetBuffer(key, "err")
      .hgetBuffer(key, "n0")
      .exec();
    const values = res?.[0]?.[1] as Array<string | null> | undefined;
    if (!values?.some((v) => v !== null)) return undefined;
    const record = parseRunRecord(
      runFields(values),
      (res?.[1]?.[1] as Buffer | null) ?? null,
      key,
      runId,
    );
    return { ...record, task: recordTask((res?.[2]?.[1] as Buffer | null) ?? null) ?? "" };
  }

  async queueStats(queues: ReadonlyArray<string>): Promise<ReadonlyArray<QueueStats>> {
    const perShard = await Promise.all(
      this.shards.map(async (s) => {
        const pipe = this.redis.pipeline();
        for (const name of queues) {
          const q = s.queue(name);
          pipe.zcard(q.ready).zcard(q.delayed).zcount(q.leases, "-inf", "(+inf").zcard(q.parked);
          pipe.zrange(q.parked, "0", String(PARKED_LOOKED_AT - 1));
          pipe.exists(q.paused);
        }
        const res = (await pipe.exec()) ?? [];
        for (const [e] of res) if (e) throw e;
        return res.map(([, v]) => v);
      }),
    );
    return queues.map((queue, i) => {
      let ready = 0;
      let delayed = 0;
      let leased = 0;
      let parked = 0;
      let paused = false;
      const tasks = new Map<string, number>();
      for (const values of perShard) {
        const at = i * 6;
        ready += Number(values[at]);
        delayed += Number(values[at + 1]);
        leased += Number(values[at + 2]);
        parked += Number(values[at + 3]);
        // parked members are "task\0<score>\0runId#node" (Keys.ts)
        for (const m of values[at + 4] as string[]) {
          const task = m.slice(0, m.indexOf("\0"));
          tasks.set(task, (tasks.get(task) ?? 0) + 1);
        }
        // set on every shard by pauseQueue; one left by a pause cut short still holds that shard
        if (Number(values[at + 5]) > 0) paused = true;
      }
      const parkedTasks = [...tasks]
        .map(([task, count]) => ({ task, count }))
        .sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0));
      return { queue, ready, delayed, leased, parked, parkedTasks, paused };
    });
  }

  /** Sets the queue's pause flag on every shard (docs/redis-layout.md): claim.lua and complete.lua skip it. */
  async pauseQueue(queue: string): Promise<void> {
    await this.eachShard((s, pipe) => pipe.set(s.queue(queue).paused, "1"));
  }

  /** Removes the queue's pause flag on every shard and wakes one idle worker per shard (wake.lua's marker). */
  async resumeQueue(queue: string): Promise<void> {
    await this.eachShard((s, pipe) => {
      const q = s.queue(queue);
      pipe.del(q.paused).lpush(q.wake, "1").ltrim(q.wake, 0, 0);
    });
  }

  /** Runs one pipeline per shard (one slot each on a cluster), all in flight at once; raises the first error. */
  private async eachShard(fill: (s: ShardKeys, pipe: ChainableCommander) => void): Promise<void> {
    await Promise.all(
      this.shards.map(async (s) => {
        const pipe = this.redis.pipeline();
        fill(s, pipe);
        for (const [e] of (await pipe.exec()) ?? []) if (e) throw e;
      }),
    );
  }

  /** One `ZSCORE` of `T:q:<queue>:leases` per lease, pipelined per shard (docs/redis-layout.md). */
  async leaseExpiries(leases: ReadonlyArray<LeaseRef>): Promise<ReadonlyArray<number | undefined>> {
    const out: Array<number | undefined> = leases.map(() => undefined);
    const byShard = new Map<ShardKeys, number[]>();
    leases.forEach((l, i) => {
      const s = this.shardOfRun(l.runId);
      byShard.set(s, [...(byShard.get(s) ?? []), i]);
    });
    await Promise.all(
      [...byShard].map(async ([s, at]) => {
        const pipe = this.redis.pipeline();
        for (const i of at) {
          const l = leases[i]!;
          pipe.zscore(s.queue(l.queue).leases, `${l.runId}#${l.nodeId}#${l.token}`);
        }
        const res = (await pipe.exec()) ?? [];
        res.forEach(([e, v], j) => {
          if (e) throw e;
          if (v !== null && v !== undefined) out[at[j]!] = Number(v);
        });
      }),
    );
    return out;
  }

  async listLocks(): Promise<ReadonlyArray<LockInfo>> {
    const { lock: sample } = lockKeys(this.prefix, "\u0000");
    const [head] = sample.split("\u0000");
    const match = `${globEscape(head!)}*}`;
    // a cluster's keys are spread over its primaries: scan each
    const nodes = this.redis instanceof Cluster ? this.redis.nodes("master") : [this.redis];
    const keys = new Set<string>();
    for (const node of nodes) {
      let cursor = "0";
      do {
        const [next, found] = await node.scan(cursor, "MATCH", match, "COUNT", 1_000);
        cursor = next;
        for (const k of found) keys.add(k);
      } while (cursor !== "0");
    }
    const out: LockInfo[] = [];
    for (const key of [...keys].sort()) {
      const [owner, token, until] = await this.redis.hmget(key, "owner", "token", "until");
      if (owner === null || owner === undefined) continue;
      out.push({
        name: key.slice(head!.length, -1),
        owner,
        token: Number(token),
        expiresAt: Number(until),
      });
    }
    return out;
  }

  /**
   * Waits for a run to stop (or end, with `quiet`). Each read is one
   * `waitrun` call, which also counts the caller as waiting (field `w`)
   * while the run is not over, so that the script that stops or ends the
   * run PUBLISHes its id on the shard's run-end channel: the call wakes for
   * its run, not for other runs' events. It also reads again every second,
   * as pub/sub keeps no message across a reconnect. A run that is over
   * costs one call.
   */
  async waitForRun(
    runId: string,
    timeoutMs: number,
    opts: WaitForRunOptions = {},
  ): Promise<RunRecord | undefined> {
    return (await this.waitFor(runId, timeoutMs, opts, WAIT_FIELDS))?.run;
  }

  /**
   * {@link Store.waitForOutput}: the wait of `waitForRun` whose reads also
   * read the run's `out` field and the fields of the nodes `opts.expect`
   * names (at most 1,000); when the run succeeded and its shape names no
   * other node, that is its output, read with its last read, else
   * `getOutput` reads it.
   */
  async waitForOutput(
    runId: string,
    timeoutMs: number,
    opts: WaitForRunOptions & { readonly expect?: ReadonlyArray<number> } = {},
  ): Promise<{ readonly run: RunRecord; readonly output?: RunOutput } | undefined> {
    const expect = opts.expect ?? [];
    // (one output node, a task's or a chain's: nothing to drop)
    const ahead = expect.length <= 1 ? expect : [...new Set(expect)].slice(0, 1_000);
    const waited = await this.waitFor(runId, timeoutMs, opts, waitFieldsWith(ahead));
    if (!waited) return undefined;
    const { run, values } = waited;
    if (run.status !== "succeeded") return { run };
    const output = decodeShape(values[0]);
    if (output === undefined) return { run, output: { nodes: [] } };
    const ids = outputIds(output);
    // (each expected node's four fields follow `out`, in `ahead`'s order)
    const at = ids.map((n) => ahead.indexOf(n));
    if (at.includes(-1)) {
      // (the shape named nodes the caller did not expect: read them, with the shape again)
      const read = await this.getOutput(runId, ids);
      return read ? { run, output: read } : { run };
    }
    const record = this.shardOfRun(runId).run(runId).record;
    const nodes = ids.map((n, i) => this.outputNode(record, n, values, 1 + 4 * at[i]!));
    return { run, output: { output, nodes } };
  }

  /**
   * Waits as `waitForRun` describes; `fields`: the fields of the run's hash
   * each read reads, {@link WAIT_FIELDS} then more, whose values (bytes,
   * `null` where absent) come with the run record of the last read.
   */
  private async waitFor(
    runId: string,
    timeoutMs: number,
    opts: WaitForRunOptions,
    fields: ReadonlyArray<string>,
  ): Promise<{ readonly run: RunRecord; readonly values: Array<Buffer | null> } | undefined> {
    const s = this.shardOfRun(runId);
    const k = s.run(runId);
    const deadline = Date.now() + timeoutMs;
    const quiet = opts.quiet ? 1 : 0;
    const channel = runEndChannel(s.events);
    let woken = false;
    let wake: () => void = () => undefined;
    const waiter = () => {
      woken = true;
      wake();
    };
    // (most runs have one waiter: a list of one costs less than a set)
    let mine = this.waiters.get(runId);
    if (mine === undefined) {
      mine = [waiter];
      this.waiters.set(runId, mine);
    } else mine.push(waiter);
    let counted = false;
    try {
      for (;;) {
        const told = woken;
        woken = false;
        // (a counted waiter reads again with "check" when the run-end channel named its run,
        // else with "poll"; either uncounts it once the run is over)
        const mode: string = counted ? (told ? "check" : "poll") : "start";
        // a PUBLISH is heard once the subscription is in place: a read before it is
        // followed by another once it is (the run may have ended in between)
        const heard = this.subscriber?.listening.has(channel) === true;
        const r = await this.waitRead(s, k.record, mode, quiet, fields).catch((e: unknown) => {
          // (a read the closing cut short says the store is closed, not what the socket saw)
          throw this.closed ? closedWhileWaiting(this.name, runId) : e;
        });
        if (!r) throw new RunNotFound({ runId });
        counted = r.counted;
        // (no values: the run is not over, and its status is one a wait knows)
        if (r.values.length > 0) {
          const n = WAIT_FIELDS.length;
          const run = parseRunRecord(runFields(r.values), r.values[n - 1] ?? null, k.record, runId);
          if (
            TERMINAL_RUN_STATUSES.has(run.status) &&
            (!opts.quiet || run.finishedAt !== undefined)
          )
            return { run, values: r.values.slice(n) };
        }
        const left = deadline - Date.now();
        if (this.closed) throw closedWhileWaiting(this.name, runId);
        if (left <= 0) return undefined;
        // (a subscription that fails leaves the wait to its reads once a second)
        if (
          !heard &&
          (await this.listen(channel).then(
            () => true,
            () => false,
          ))
        )
          continue;
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 1_000));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = () => undefined;
        if (this.closed) throw closedWhileWaiting(this.name, runId);
      }
    } finally {
      mine.splice(mine.indexOf(waiter), 1);
      if (mine.length === 0) this.waiters.delete(runId);
      if (counted && !this.closed)
        // (a stop answers nothing the wait reads: its status alone)
        await this.waitRead(s, k.record, "stop", quiet, STOP_FIELDS).catch(() => undefined);
      this.releaseSubscriber();
    }
  }

  /**
   * One `waitrun` read of the run whose hash is `record`, sent at the end of
   * this turn with the other reads of shard `s` asked for meanwhile: alone
   * by `waitrun`, together by `waitrunmany` (at most `WAIT_READS_PER_CALL`
   * a call). Many `result()` calls awaited at once, or woken by one
   * completion call, cost a call per shard instead of one each.
   */
  private waitRead(
    s: ShardKeys,
    record: string,
    mode: string,
    quiet: number,
    fields: ReadonlyArray<string>,
  ): Promise<ReturnType<typeof SCRIPTS.waitrun.reply>> {
    return new Promise((resolve, reject) => {
      let batch = this.waitReads.get(s);
      if (batch === undefined) {
        batch = [];
        this.waitReads.set(s, batch);
        // once the turn's promise continuations have run: the other waits' reads are in
        queueMicrotask(() => process.nextTick(() => this.sendWaitReads(s)));
      }
      batch.push({ record, mode, quiet, fields, resolve, reject });
    });
  }

  /** Sends shard `s`'s reads of this turn (see `waitRead`). */
  private sendWaitReads(s: ShardKeys): void {
    const batch = this.waitReads.get(s) ?? [];
    this.waitReads.delete(s);
    for (let from = 0; from < batch.length; from += WAIT_READS_PER_CALL) {
      const part = batch.slice(from, from + WAIT_READS_PER_CALL);
      if (part.length === 1) {
        const [one] = part as [WaitRead];
        this.call(
          SCRIPTS.waitrun,
          { record: one.record },
          { mode: one.mode, quiet: one.quiet, fields: one.fields },
        ).then(one.resolve, one.reject);
        continue;
      }
      // each list of fields once (most reads of a turn share one: WAIT_FIELDS and a run's output)
      const listAt = new Map<ReadonlyArray<string>, number>();
      const lists: string[] = [];
      const reads: Array<string | number> = [];
      for (const r of part) {
        let at = listAt.get(r.fields);
        if (at === undefined) {
          at = listAt.size + 1;
          listAt.set(r.fields, at);
          lists.push(String(r.fields.length), ...r.fields);
        }
        reads.push(r.mode, r.quiet, at);
      }
      this.call(
        SCRIPTS.waitrunmany,
        { perRun: part.map((r) => ({ record: r.record })) },
        { count: part.length, lists, reads },
      ).then(
        (replies) =>
          part.forEach((r, i) => {
            try {
              r.resolve(SCRIPTS.waitrun.reply(replies[i]));
            } catch (e) {
              r.reject(e);
            }
          }),
        (e: unknown) => {
          for (const r of part) r.reject(e);
        },
      );
    }
  }

  /**
   * Reads the shards' events streams (docs/events.md): without `runId`
   * every shard's, merged in entry-id order (each shard's stream is
   * ordered; across shards the ids are Redis's clock, so the merge is by
   * time); with it, only the run's shard, skipping other runs' entries.
   * Reads without blocking until it finds events or has read everything,
   * then blocks (at most `BLOCK_MAX_MS` per call) when `blockMs` asks.
   */
  async readEvents(opts: ReadEventsOptions): Promise<EventBatch> {
    const count = Math.max(1, opts.count ?? 1_000);
    const positions =
      opts.after === "now"
        ? await this.lastEventIds()
        : parseCursor(opts.after, this.shards.length);
    const shards =
      opts.runId === undefined
        ? this.shards.map((_, i) => i)
        : [this.shards.indexOf(this.shardOfRun(opts.runId))];
    let batch = await this.readEventsOnce(shards, positions, count, opts.runId);
    while (batch.events.length === 0 && batch.moved) {
      batch = await this.readEventsOnce(shards, positions, count, opts.runId);
    }
    const blockMs = Math.min(opts.blockMs ?? 0, BLOCK_MAX_MS);
    if (batch.events.length > 0 || blockMs <= 0 || this.closed) {
      return { events: batch.events, cursor: positions.join(",") };
    }
    await this.blockOnEvents(shards, positions, blockMs);
    batch = await this.readEventsOnce(shards, positions, count, opts.runId);
    return { events: batch.events, cursor: positions.join(",") };
  }

  /** The last entry id of each shard's events stream ("0-0" when empty): the cursor "now". */
  private async lastEventIds(): Promise<string[]> {
    return Promise.all(
      this.shards.map(async (s) => {
        const last = await this.redis.xrevrange(s.events, "+", "-", "COUNT", 1);
        return last[0]?.[0] ?? "0-0";
      }),
    );
  }

  /**
   * One non-blocking read of `shards` after `positions` (advanced in place
   * past every event looked at): the events of `runId` (or all), at most
   * `count`, and whether any event was read. Each shard's events come in
   * their stream's order; across shards, the earliest (by `at`) first.
   */
  private async readEventsOnce(
    shards: ReadonlyArray<number>,
    positions: string[],
    count: number,
    runId: string | undefined,
  ): Promise<{ readonly events: WeftEvent[]; readonly moved: boolean }> {
    const read = await Promise.all(
      shards.map(async (shard) => {
        // (an entry holds one call's events: the one the position is inside of is read again)
        const entries = (await this.redis.xrangeBuffer(
          this.shards[shard]!.events,
          `(${positions[shard]}`,
          "+",
          "COUNT",
          count,
        )) as unknown as RawEntry[];
        const from = positions[shard]!;
        const events = entries
          .flatMap(([id, fields]) => entryEvents(id.toString(), fields))
          .filter((e) => compareIds(e.position, from) > 0);
        return { shard, events, next: 0 };
      }),
    );
    const events: WeftEvent[] = [];
    let moved = false;
    while (events.length < count) {
      let best: (typeof read)[number] | undefined;
      for (const r of read) {
        const e = r.events[r.next];
        if (e && (!best || e.at < best.events[best.next]!.at)) best = r;
      }
      if (!best) break;
      const e = best.events[best.next++]!;
      positions[best.shard] = e.position;
      moved = true;
      if (runId !== undefined && e.runId !== runId) continue;
      const event = e.build(positions.join(","));
      if (event) events.push(event);
    }
    return { events, moved };
  }

  /**
   * Waits up to `ms` for an entry after `positions` in any of `shards`: one
   * XREAD BLOCK over their streams on a single Redis; on a cluster one per
   * shard (each on its node's connection), the first to answer ending the
   * wait (the others end within `ms` and their answers are dropped: the
   * next read finds those entries again).
   */
  private async blockOnEvents(
    shards: ReadonlyArray<number>,
    positions: ReadonlyArray<string>,
    ms: number,
  ): Promise<void> {
    const blockOn = async (conn: number, of: ReadonlyArray<number>) => {
      const c = await this.blocking(conn);
      try {
        await c.xread(
          "COUNT",
          1,
          "BLOCK",
          ms,
          "STREAMS",
          ...of.map((i) => this.shards[i]!.events),
          ...of.map((i) => positions[i]!),
        );
      } finally {
        this.giveBack(c, conn);
      }
    };
    if (!this.cluster) return blockOn(0, shards);
    const reads = shards.map((i) => blockOn(i, [i]));
    for (const r of reads) r.catch(() => undefined);
    await Promise.race(reads);
  }

  /**
   * Blocks on the wake lists of `queues` in every shard. On a single Redis
   * that is one BLPOP over all of them. On a cluster a command may only
   * name keys of one slot, so each shard has its own BLPOP on its own
   * connection (to the node serving that shard), shared by every caller
   * waiting on the same queues, and the first token from any shard
   * resolves them all. A token a shard's BLPOP takes after its callers left
   * (they timed out, or another shard woke them) is pushed back to its
   * list for the next worker, as a claim passes one on, so none is lost.
   *
   * When `signal` aborts, the BLPOP is ended by `CLIENT UNBLOCK` (sent on
   * the store's connection, with the blocking connection's client id), so
   * that it takes no token meant for the next waiter; a token it was served
   * before the unblock is pushed back (`passOn`). The wait resolves once its
   * BLPOP has returned. An ACL user without `CLIENT UNBLOCK` (a
   * `-@dangerous` command) waits until its BLPOP ends by itself (a token,
   * pushed back, or `BLOCK_MAX_MS`). On a cluster the caller leaves the
   * shared BLPOPs, which push back a token taken after their callers left.
   */
  async waitForWork(
    queues: ReadonlyArray<string>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.closed || signal?.aborted) return;
    if (this.cluster) return this.waitPerShard(queues, timeoutMs, signal);
    const conn = await this.blocking(0);
    if (!this.clientIds.has(conn)) this.readClientId(conn);
    // (the CLIENT UNBLOCK of an aborted wait, answered before the connection serves another)
    let unblocked: Promise<unknown> = Promise.resolve();
    const abort = () => {
      const known = this.clientIds.get(conn);
      if (known === undefined) return; // (it reconnected: the BLPOP ends by itself)
      const unblock = (id: number | undefined) =>
        id === undefined ? undefined : this.redis.client("UNBLOCK", id);
      // sent at once when the id is known: before any command the caller sends after the abort
      unblocked = (
        known.id === undefined ? known.read.then(unblock) : Promise.resolve(unblock(known.id))
      ).catch(() => undefined);
    };
    try {
      if (signal?.aborted) return; // while a connection was made
      signal?.addEventListener("abort", abort, { once: true });
      const keys = this.shards.flatMap((s) => queues.map((q) => s.queue(q).wake));
      // blocks at most BLOCK_MAX_MS, well under the command timeout (an early return is a spurious wake-up)
      const got = await conn
        .blpop(...keys, Math.max(0.01, Math.min(timeoutMs, BLOCK_MAX_MS) / 1000))
        .catch((e: unknown) => {
          if (signal?.aborted) return null;
          throw e;
        });
      // served before the unblock: the token goes to the next waiter
      if (got !== null && signal?.aborted) await this.passOn(got[0]);
    } finally {
      signal?.removeEventListener("abort", abort);
      await unblocked;
      this.giveBack(conn, 0);
    }
  }

  /** `waitForWork` on a cluster: one shared BLPOP per shard (see `watch`). */
  private waitPerShard(
    queues: ReadonlyArray<string>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const joined: Watch[] = [];
      let settled = false;
      const waiter: Waiter = {
        done: (e?: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener("abort", abort);
          for (const w of joined) w.waiters.delete(waiter);
          if (e === undefined) resolve();
          else reject(e);
        },
      };
      // leaves the watches: one whose BLPOP takes a token after its last waiter left pushes it back
      const abort = () => waiter.done();
      const timer = setTimeout(() => waiter.done(), Math.max(0, timeoutMs));
      signal?.addEventListener("abort", abort, { once: true });
      for (let i = 0; i < this.shards.length && !settled; i++) {
        const w = this.watch(i, queues);
        w.waiters.add(waiter);
        joined.push(w);
      }
    });
  }

  /** The BLPOP in flight on shard `shard`'s wake lists of `queues`, started if there is none. */
  private watch(shard: number, queues: ReadonlyArray<string>): Watch {
    const id = `${shard}\n${queues.join(",")}`;
    const existing = this.watches.get(id);
    if (existing) return existing;
    const s = this.shards[shard]!;
    const w: Watch = { keys: queues.map((q) => s.queue(q).wake), waiters: new Set() };
    this.watches.set(id, w);
    void this.block(shard, w).finally(() => this.watches.delete(id));
    return w;
  }

  /**
   * Runs one watch: BLPOP after BLPOP (each at most BLOCK_MAX_MS) while
   * someone waits on it; a token wakes every waiter, or goes back to its
   * list when none is left. A failed BLPOP fails the waiters (the worker
   * waits a moment and claims again); after `close` they are resolved.
   */
  private async block(shard: number, w: Watch): Promise<void> {
    const finish = (e?: unknown) => {
      for (const x of [...w.waiters]) x.done(this.closed ? undefined : e);
    };
    let conn: Client;
    try {
      conn = await this.blocking(shard);
    } catch (e) {
      finish(this.failure(e));
      return;
    }
    try {
      while (w.waiters.size > 0 && !this.closed) {
        let got: [string, string] | null;
        try {
          got = await conn.blpop(...w.keys, BLOCK_MAX_MS / 1000);
        } catch (e) {
          finish(this.failure(e));
          return;
        }
        if (got === null) continue;
        if (w.waiters.size > 0) finish();
        else await this.passOn(got[0]);
      }
    } finally {
      this.giveBack(conn, shard);
    }
  }

  /** Puts a wake-up token back on its list (at most one token, as the scripts keep it). */
  private async passOn(wake: string): Promise<void> {
    await this.redis
      .multi()
      .lpush(wake, "1")
      .ltrim(wake, 0, 0)
      .exec()
      .catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    // (a waiter wakes, finds the store closed and fails: closedWhileWaiting)
    for (const mine of this.waiters.values()) for (const wake of mine) wake();
    if (this.subscriber) this.dropSubscriber(this.subscriber);
    for (const c of this.allBlocking) c.disconnect();
    this.allBlocking.clear();
    this.idleBlocking.clear();
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Reads a run's record (not its node fields), or `undefined` when the run does not exist. */
  private async readRunRecord(
    key: string,
    runId: string,
  ): Promise<ReturnType<typeof parseRunRecord> | undefined> {
    // (the reads of a turn leave in one write: many `result()` calls wait at once)
    oneWritePerTurn(this.redis);
    const res = await this.redis
      .pipeline()
      .hmget(key, ...RUN_FIELDS)
      .hgetBuffer(key, "err")
      .exec();
    const values = res?.[0]?.[1] as Array<string | null> | undefined;
    // the run exists when any of its record fields does (a corrupt record may lack some)
    if (!values?.some((v) => v !== null)) return undefined;
    return parseRunRecord(runFields(values), (res?.[1]?.[1] as Buffer | null) ?? null, key, runId);
  }

  /** Continues a run's leftover work until none is left. */
  private async drain(
    s: ShardKeys,
    runId: string,
    queues: ReadonlyArray<string>,
    now: number,
  ): Promise<void> {
    const keys = runScriptKeys(s, runId, queues);
    while (
      await this.call(SCRIPTS.drain, keys, {
        runId,
        now,
        budget: this.budget,
        eventsMax: this.eventsMax,
      })
    ) {
      // each call does at most `budget` work items
    }
  }

  /**
   * The claim of a script's reply when it needs nothing more: its spec
   * decodes and its dependency results came inline. `undefined` otherwise:
   * `toClaim` then reads further, or says why it is corrupt.
   */
  private claimNow(c: ClaimFields): Claim | undefined {
    if (!c.spec || Number(c.deps[0]) !== 1) return undefined;
    let spec: DagNode;
    try {
      spec = decodeSpec(c.spec.bytes, { id: c.nodeId, task: c.spec.task });
    } catch {
      return undefined;
    }
    return claimOf(c, spec, inlineDeps(c.deps));
  }

  /**
   * Builds a claim from a script's reply; reads dependency results itself
   * past 256 of them. A spec that cannot be decoded gives why, and the queue
   * the node was leased on (from the run's queue list), instead.
   */
  private async toClaim(
    s: ShardKeys,
    c: ClaimFields,
  ): Promise<Claim | { readonly corrupt: string; readonly field: string; readonly queue: string }> {
    let spec: DagNode;
    try {
      if (!c.spec) throw new Error("missing");
      spec = decodeSpec(c.spec.bytes, { id: c.nodeId, task: c.spec.task });
    } catch (e) {
      // (the field it was in: n<i> since 2026-12-05, where it is wrapped before the record; s<i> before)
      return {
        corrupt: reason(e),
        field: `${c.spec && isWrappedSpec(c.spec.bytes) ? "n" : "s"}${c.nodeId}`,
        queue: await this.leasedQueue(s, c.runId, c.nodeId),
      };
    }
    // ({0, traced}: traced 0 when no node of the run recorded a span id; absent, they are read)
    const deps =
      Number(c.deps[0]) === 1
        ? inlineDeps(c.deps)
        : await this.readDeps(s, c.runId, waitsOn(spec), Number(c.deps[1] ?? 1) === 1);
    return claimOf(c, spec, deps);
  }

  /** The queue a node is leased on, by its record's index into the run's queue list. */
  private async leasedQueue(s: ShardKeys, runId: string, nodeId: number): Promise<string> {
    const k = s.run(runId);
    const [rec, queues] = await Promise.all([
      this.redis.hgetBuffer(k.nodes, `n${nodeId}`),
      this.queuesOf(s, runId),
    ]);
    try {
      const index = (decode(nodeField(rec!).record) as unknown[])[9] as number;
      return queues[index - 1] ?? queues[0] ?? "default";
    } catch {
      return queues[0] ?? "default";
    }
  }

  /**
   * Reads dependency outcomes outside Lua (over 256 deps), in chunks of
   * {@link DEPS_CHUNK} (one bounded `HMGET` each: results never change once
   * recorded), {@link DEPS_IN_FLIGHT} of them sent at a time: their round
   * trips do not add up (what a 10,000-wide chord body's start waits for is
   * Node's parse of the replies, docs/benchmarks.md), and Redis holds no more
   * than those replies unsent (a 100,000-wide body's 100 reads of 1,000 sent
   * at once had single `HMGET`s take up to 29 ms in the slow log, with the
   * replies before them piling up unsent). With `traced` (the run's
   * `tr` marker: some node recorded a trace span id) each chunk reads the
   * span ids too; without, the reads take about a third of the time.
   */
  private async readDeps(
    s: ShardKeys,
    runId: string,
    deps: ReadonlyArray<number>,
    traced: boolean,
  ): Promise<{ deps: DepResult[]; depSpans?: string[] }> {
    const k = s.run(runId);
    const out: DepResult[] = [];
    const spans: string[] = [];
    const reads: Array<Promise<Array<Buffer | null>>> = [];
    const chunks = Math.ceil(deps.length / DEPS_CHUNK);
    // sends chunk c's read: the records (each result after its record), then (traced) the span
    // ids their attempts recorded, in one HMGET
    const send = (c: number) => {
      const from = c * DEPS_CHUNK;
      const n = Math.min(DEPS_CHUNK, deps.length - from);
      const fields: string[] = new Array(traced ? 2 * n : n);
      for (let i = 0; i < n; i++) fields[i] = `n${deps[from + i]}`;
      if (traced) for (let i = 0; i < n; i++) fields[n + i] = `t${deps[from + i]}`;
      const read = this.redis.hmgetBuffer(k.results, ...fields);
      // (every read handled: one that fails while an earlier one is awaited is no unhandled rejection)
      read.catch(() => undefined);
      reads.push(read);
    };
    oneWritePerTurn(this.redis);
    for (let c = 0; c < Math.min(DEPS_IN_FLIGHT, chunks); c++) send(c);
    for (let c = 0; c < chunks; c++) {
      const from = c * DEPS_CHUNK;
      const n = Math.min(DEPS_CHUNK, deps.length - from);
      const read = await reads[c]!;
      // (the next chunk's read goes while this one's replies are parsed)
      if (reads.length < chunks) send(reads.length);
      for (let i = n; i < read.length; i++) spans.push(read[i] ? read[i]!.toString() : "");
      const results = read.slice(0, n).map((rec) => resultOf(rec, null));
      // a dependency without a result after its record: one that failed (its error), or one
      // that succeeded before 2026-12-05 (its result apart, r<d>)
      const missing: number[] = [];
      for (let i = 0; i < n; i++) if (!results[i]) missing.push(deps[from + i]!);
      const other =
        missing.length > 0
          ? await this.redis.hmgetBuffer(
              k.results,
              ...missing.map((d) => `r${d}`),
              ...missing.map((d) => `e${d}`),
            )
          : [];
      let m = 0;
      for (let i = 0; i < n; i++) {
        const v = results[i] ?? other[m];
        if (v) out.push({ ok: true, value: v });
        else
          out.push({
            ok: false,
            error:
              decodeError(other[missing.length + m], { key: k.results, field: `e${missing[m]}` }) ??
              missingResultInfo(),
          });
        if (!results[i]) m++;
      }
    }
    return spans.some((t) => t !== "") ? { deps: out, depSpans: spans } : { deps: out };
  }

  private shardOfRun(runId: string): ShardKeys {
    const m = /\.s(\d+)$/.exec(runId);
    return this.shards[m ? Number(m[1]) % this.shards.length : 0]!;
  }

  /**
   * Sends one script (every script call goes through here): its reply as
   * ioredis gives it, decoded by the caller's definition.
   */
  private script(
    name: string,
    keys: ReadonlyArray<string>,
    argv: ReadonlyArray<Arg>,
  ): Promise<unknown> {
    return this.functions.send(name, keys, argv);
  }

  /** Runs a script by its definition: keys and arguments by label, a typed result. */
  private async call<KI, AI, R>(def: ScriptCall<KI, AI, R>, keys: KI, args: AI): Promise<R> {
    return def.reply(await this.script(def.name, def.keyList(keys), def.argList(args)));
  }

  /** Adds a script to a pipeline, by its definition; decode its reply with `def.reply`. */
  private pipeScript<KI, AI, R>(
    pipe: ChainableCommander,
    def: ScriptCall<KI, AI, R>,
    keys: KI,
    args: AI,
  ): void {
    sendScript(pipe, def.name, def.keyList(keys), def.argList(args));
  }

  /**
   * A connection for one blocking read at a time, from the idle ones of
   * `shard` (on a cluster each shard's connections talk to its node; on a
   * single Redis all are alike), or a new one.
   */
  private async blocking(shard: number): Promise<Client> {
    const key = this.cluster ? shard : 0;
    const idle = this.idleBlocking.get(key)?.pop();
    if (idle) return idle;
    const conn = this.duplicate(true);
    this.allBlocking.add(conn);
    if (conn instanceof Cluster) {
      try {
        await clusterReady(conn);
      } catch (e) {
        this.allBlocking.delete(conn);
        conn.disconnect();
        throw e;
      }
    }
    return conn;
  }

  /**
   * Reads `conn`'s client id for `CLIENT UNBLOCK` (`waitForWork`), not waited for: it is sent
   * before the connection's next command, so it costs no round trip of its own. Forgotten when
   * the connection closes: a reconnected connection has another id, read at its next wait.
   */
  private readClientId(conn: Client): void {
    conn.once("close", () => this.clientIds.delete(conn));
    const known: { id: number | undefined; read: Promise<number | undefined> } = {
      id: undefined,
      read: conn.client("ID").then(
        (id) => {
          known.id = id;
          return id;
        },
        () => undefined,
      ),
    };
    this.clientIds.set(conn, known);
  }

  private giveBack(conn: Client, shard: number): void {
    if (this.closed) {
      conn.disconnect();
      return;
    }
    const key = this.cluster ? shard : 0;
    const idle = this.idleBlocking.get(key);
    if (idle) idle.push(conn);
    else this.idleBlocking.set(key, [conn]);
  }

  /**
   * A new connection like the store's own, its errors silenced (the
   * command that meets one reports it). A cluster copy for blocking reads
   * (`blocking`) talks to one node only: it skips the ready check (a
   * `CLUSTER INFO` on a connection to some other node) and does not refresh
   * its slot map on a timer (a MOVED reply or a lost node refreshes it).
   */
  private duplicate(blocking: boolean): Client {
    const conn =
      this.redis instanceof Cluster
        ? this.redis.duplicate(
            [],
            blocking ? { slotsRefreshInterval: 0, enableReadyCheck: false } : {},
          )
        : this.redis.duplicate();
    conn.on("error", () => undefined);
    if (conn instanceof Cluster) conn.on("node error", () => undefined);
    return conn;
  }

  /**
   * Runs a script whose answer acknowledges a write (a submission's
   * commit, a completion, a failure, a cancel, a lock) and, with replicated
   * durability, `WAIT 1 <replicationTimeoutMs>` behind it in the same
   * pipeline: on the same connection, so the wait covers the script's
   * write. The script goes by FCALL when it is in the function library
   * (the library is loaded when the node lacks it, and the call sent
   * again), else by EVALSHA, by EVAL when the node lacks it (NOSCRIPT: a
   * promoted replica, a flushed script cache), so that the wait always
   * comes after it. A pipeline that meets a connection failure
   * (a primary killed under it) or a cluster redirect (MOVED, ASK,
   * TRYAGAIN, CLUSTERDOWN, READONLY: the slot moved, or is moving; ioredis
   * follows those for single commands, not for a pipeline holding a WAIT) is
   * sent again, with the slot map refreshed, up to `DURABLE_SENDS` times:
   * every script is safe to run twice, and its second answer says what the
   * first did.
   */
  private durable<KI, AI, R>(
    tag: string,
    def: ScriptCall<KI, AI, R>,
    keys: KI,
    args: AI,
  ): Promise<R> {
    // (not an async function: the call's promise itself, no promise resolved with it, a
    // completion's answer a few microtask turns sooner)
    return this.replicated ? this.replicatedCall(tag, def, keys, args) : this.call(def, keys, args);
  }

  /** {@link durable} with replicated durability: the script and a `WAIT` in one pipeline. */
  private async replicatedCall<KI, AI, R>(
    tag: string,
    def: ScriptCall<KI, AI, R>,
    keys: KI,
    args: AI,
  ): Promise<R> {
    const keyList = def.keyList(keys);
    const values = def.argList(args).map(asArg);
    let source = false;
    let loaded = false;
    for (let send = 1; ; send++) {
      const pipe = this.redis.pipeline();
      const fn = this.functions.functionOf(def.name);
      if (fn !== undefined) pipe.callBuffer("fcall", fn, keyList.length, ...keyList, ...values);
      else if (source)
        pipe.callBuffer("eval", scriptSource(def.name), keyList.length, ...keyList, ...values);
      else pipe.callBuffer("evalsha", scriptSha(def.name), keyList.length, ...keyList, ...values);
      const waited = this.waitReplica(pipe, tag);
      let res: Array<[Error | null, unknown]>;
      try {
        res = (await pipe.exec()) ?? [];
      } catch (e) {
        if (send >= DURABLE_SENDS || !sendAgain(e)) throw e;
        await this.beforeResend();
        continue;
      }
      const [err, reply] = res[0] ?? [new Error("no reply"), null];
      if (err && !source && /^NOSCRIPT\b/.test(err.message)) {
        source = true;
        continue;
      }
      // a node without the library loads it, once (or refuses functions: EVALSHA from then on)
      if (err && fn !== undefined && libraryMissing(err) && !loaded) {
        loaded = true;
        await this.functions.load();
        continue;
      }
      if (err && fn !== undefined && functionsRefused(err)) {
        this.functions.refused();
        continue;
      }
      const waitErr = waited ? res[1]?.[0] : null;
      const failed = err ?? waitErr;
      if (failed) {
        if (send < DURABLE_SENDS && sendAgain(failed)) {
          await this.beforeResend();
          continue;
        }
        throw failed;
      }
      if (waited) this.replicatedAnswer(tag, res[1]);
      return def.reply(reply);
    }
  }

  /** Waits before a durable write is sent again: a pause, and on a cluster a fresh slot map. */
  private async beforeResend(): Promise<void> {
    await pause(DURABLE_PAUSE_MS);
    const redis = this.redis;
    if (redis instanceof Cluster)
      await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
  }

  /**
   * Adds `WAIT 1 <replicationTimeoutMs>` to a pipeline when writes to the
   * slot of `tag` are to be replicated (and no wait timed out there in the
   * last `UNREPLICATED_SKIP_MS`); returns whether it did.
   */
  private waitReplica(pipe: ChainableCommander, tag: string): boolean {
    if (!this.replicated) return false;
    const until = this.unreplicatedUntil.get(tag);
    if (until !== undefined) {
      if (until > Date.now()) return false;
      this.unreplicatedUntil.delete(tag);
    }
    pipe.wait(1, this.replicationTimeoutMs);
    return true;
  }

  /** Reads a WAIT's answer: no replica acknowledged in time, so that slot's writes skip the wait for a while. */
  private replicatedAnswer(tag: string, answer: [Error | null, unknown] | undefined): void {
    if (!answer || answer[0] !== null || Number(answer[1]) >= 1) return;
    this.unreplicatedUntil.set(tag, Date.now() + UNREPLICATED_SKIP_MS);
    try {
      this.onShortfall?.({
        tag,
        replicas: Number(answer[1]),
        timeoutMs: this.replicationTimeoutMs,
      });
    } catch {
      // a listener's bug must not fail the write it reports on
    }
  }

  /**
   * Runs one command per item in one pipeline per shard (a pipeline on a
   * cluster must stay on one slot), all pipelines in flight at once, and
   * returns the replies in the items' order.
   */
  private async pipelineByShard<T extends { readonly runId: string }>(
    items: ReadonlyArray<T>,
    add: (pipe: ChainableCommander, item: T, s: ShardKeys) => void,
  ): Promise<Array<[Error | null, unknown]>> {
    const groups = new Map<ShardKeys, number[]>();
    items.forEach((it, i) => {
      const s = this.shardOfRun(it.runId);
      const g = groups.get(s);
      if (g) g.push(i);
      else groups.set(s, [i]);
    });
    const out: Array<[Error | null, unknown]> = new Array(items.length);
    await Promise.all(
      [...groups].map(async ([s, indexes]) => {
        const pipe = this.redis.pipeline();
        for (const i of indexes) add(pipe, items[i]!, s);
        const res = (await pipe.exec()) ?? [];
        indexes.forEach((i, j) => {
          out[i] = res[j] ?? [new Error("no reply"), null];
        });
      }),
    );
    return out;
  }
}

/** A registry entry, or `undefined` when it is not a registration (corrupt, or written by something else). */
/** A registration's `finished` counts: queues whose counts are not two numbers are left out. */
const parseFinished = (v: unknown): Record<string, FinishedCounts> => {
  const out: Record<string, FinishedCounts> = {};
  if (typeof v !== "object" || v === null) return out;
  for (const [queue, c] of Object.entries(v as Record<string, unknown>)) {
    const { succeeded, failed } = (c ?? {}) as Partial<FinishedCounts>;
    if (typeof succeeded === "number" && typeof failed === "number")
      out[queue] = { succeeded, failed };
  }
  return out;
};

const parseRegistration = (json: string): Registration | undefined => {
  try {
    const v = JSON.parse(json) as Partial<Registration> | null;
    if (typeof v?.id !== "string" || typeof v.until !== "number" || typeof v.seenAt !== "number")
      return undefined;
    return {
      id: v.id,
      host: String(v.host ?? ""),
      pid: Number(v.pid ?? 0),
      queues: Array.isArray(v.queues) ? v.queues.map(String) : [],
      tasks: Array.isArray(v.tasks) ? v.tasks.map(String) : [],
      concurrency: Number(v.concurrency ?? 0),
      startedAt: Number(v.startedAt ?? 0),
      ...(v.finished === undefined ? {} : { finished: parseFinished(v.finished) }),
      seenAt: v.seenAt,
      until: v.until,
    };
  } catch {
    return undefined;
  }
};

/** Names of the {@link Store} methods. */
type StoreMethod = {
  [K in keyof Store]-?: NonNullable<Store[K]> extends (...args: never[]) => Promise<unknown>
    ? K
    : never;
}[keyof Store];

/** Every method of the Store contract: each one's errors are translated (see the constructor). */
/** Whether `target` looks like an ioredis `Redis` or `Cluster` (of any copy of ioredis: not `instanceof`). */
const isConnection = (target: unknown): boolean =>
  typeof target === "object" &&
  target !== null &&
  typeof Reflect.get(target, "options") === "object" &&
  typeof Reflect.get(target, "sendCommand") === "function";

/** What script `submit` answers for one chunk. */
type SubmitReply = ReturnType<(typeof SCRIPTS)["submit"]["reply"]>;

/** Runs of one shard `listRuns` looks at, at most, to find those that match its filters. */
const LIST_SCAN_MAX = 10_000;

/** Parked nodes per queue and shard whose tasks `queueStats` counts. */
const PARKED_LOOKED_AT = 1_000;

/** `text` with the glob characters of a SCAN MATCH pattern escaped. */
const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&");

/**
 * A node's result: after its record in field `n<i>` (`rec`), or apart in
 * `r<i>` (`apart`, a run written before 2026-12-05); `undefined` when it
 * has none (or the record cannot be read: its reader says so).
 */
const resultOf = (
  rec: Buffer | null | undefined,
  apart: Buffer | null | undefined,
): Buffer | undefined => {
  if (apart) return apart;
  if (!rec) return undefined;
  try {
    return resultAfterRecord(rec);
  } catch {
    return undefined;
  }
};

const STORE_METHODS = [
  "submit",
  "submitMany",
  "readEvents",
  "claim",
  "complete",
  "completeMany",
  "replace",
  "addToChord",
  "fail",
  "heartbeat",
  "release",
  "park",
  "progress",
  "maintain",
  "nextDueAt",
  "subscribe",
  "registerWorker",
  "unregisterWorker",
  "listWorkers",
  "cancel",
  "redrive",
  "getRun",
  "getResult",
  "getOutput",
  "listRuns",
  "queueStats",
  "pauseQueue",
  "resumeQueue",
  "listLocks",
  "leaseExpiries",
  "waitForRun",
  "waitForOutput",
  "acquireLock",
  "renewLock",
  "releaseLock",
  "getMemo",
  "putMemo",
  "waitForWork",
  "close",
] as const satisfies ReadonlyArray<StoreMethod>;

/** The nodes a run's output shape names, each once, in its order. */
const outputIds = (output: Shape): number[] => flatten(output, false);

/** The fields of output nodes `ids` an output read reads, four per node: record, spec, error, result. */
const outputFields = (ids: ReadonlyArray<number>): string[] =>
  ids.flatMap((i) => [`n${i}`, `s${i}`, `e${i}`, `r${i}`]);

/**
 * How long the pub/sub connection stays open once nothing listens or waits
 * on it, ms (`RedisStore.releaseSubscriber`).
 */
const SUBSCRIBER_LINGER_MS = 30_000;

/** Runs read by one `waitrunmany` call (a few µs each in Redis). */
const WAIT_READS_PER_CALL = 200;

/** A `waitrun` read waiting to be sent with the others of its turn (`RedisStore.waitRead`). */
interface WaitRead {
  readonly record: string;
  readonly mode: string;
  readonly quiet: number;
  readonly fields: ReadonlyArray<string>;
  readonly resolve: (r: ReturnType<typeof SCRIPTS.waitrun.reply>) => void;
  readonly reject: (e: unknown) => void;
}

/** The run record fields `waitrun` answers: those `readRunRecord` reads, then the error. */
const WAIT_FIELDS: ReadonlyArray<string> = [...RUN_FIELDS, "err"];

/** The fields a waiter's stop reads (`waitrun` answers nothing else a stop needs). */
const STOP_FIELDS: ReadonlyArray<string> = ["status"];

/** The lists {@link waitFieldsWith} made, by their output nodes (a comma list); at most 256. */
const WAIT_FIELD_LISTS = new Map<string, ReadonlyArray<string>>();

/**
 * The fields an output wait reads: {@link WAIT_FIELDS}, `out`, then the
 * fields of output nodes `ahead`. One list per `ahead` (kept for the 256
 * last met): the waits of a turn that share it send it once (`waitrunmany`).
 */
const waitFieldsWith = (ahead: ReadonlyArray<number>): ReadonlyArray<string> => {
  const key = ahead.join(",");
  let fields = WAIT_FIELD_LISTS.get(key);
  if (fields === undefined) {
    if (WAIT_FIELD_LISTS.size >= 256) WAIT_FIELD_LISTS.clear();
    fields = [...WAIT_FIELDS, "out", ...outputFields(ahead)];
    WAIT_FIELD_LISTS.set(key, fields);
  }
  return fields;
};

/** Every method of the schedule part of the contract: their errors are translated too. */
const SCHEDULE_METHODS = [
  "putSchedule",
  "getSchedule",
  "listSchedules",
  "removeSchedule",
  "pauseSchedule",
  "advanceSchedule",
] as const satisfies ReadonlyArray<keyof ScheduleStore>;

// a method added to the Store contract must be listed above: this fails to compile otherwise
const allListed: Exclude<StoreMethod, (typeof STORE_METHODS)[number]> extends never ? true : never =
  true;
void allListed;

/**
 * The run id an idempotency key's value names: msgpack `[fingerprint, runId]`,
 * or, for a key written before keys held a fingerprint, the bare run id.
 */
const idempotencyRun = (value: Buffer): string => {
  try {
    const v = decode(value) as unknown;
    if (Array.isArray(v) && typeof v[1] === "string") return v[1];
  } catch {
    // not msgpack: the bare run id
  }
  return value.toString();
};

/** The spec shown for a node whose stored spec cannot be decoded. */
const placeholderSpec = (id: number): DagNode => ({
  id,
  task: "(corrupt spec)",
  queue: "",
  priority: 0,
  bind: { kind: "immutable" },
  bound: undefined,
  arg: null,
  deps: [],
  dependents: [],
  settledDependents: [],
  tolerant: false,
  options: {},
  path: [],
});

/** Dependency outcomes given inline by a script (`depResults` in lua/includes/attempt.lua). */
const inlineDeps = (
  deps: ReadonlyArray<ReplyValue>,
): { deps: DepResult[]; depSpans?: string[] } => {
  const out: DepResult[] = [];
  // after the (ok, bytes) pairs, the span ids joined by "," when some dependency recorded one
  const traced = deps.length % 2 === 0;
  const end = traced ? deps.length - 1 : deps.length;
  for (let i = 1; i < end; i += 2) {
    const v = deps[i + 1] as Buffer;
    out.push(
      Number(deps[i]) === 1
        ? { ok: true, value: v }
        : {
            ok: false,
            error: decodeError(v) ?? missingResultInfo(),
          },
    );
  }
  return traced ? { deps: out, depSpans: String(deps[end]).split(",") } : { deps: out };
};

/** Refuses options that cannot work, before anything connects. */
const checkOptions = (opts: RedisStoreOptions): void => {
  if (typeof opts !== "object" || opts === null || Array.isArray(opts)) {
    throw new InvalidConnectionOptions(
      `RedisStore.connect's options must be an object ({ prefix, shards, ... }), got ${described(opts)}`,
    );
  }
  const unknown = Object.keys(opts).filter((k) => !STORE_OPTIONS.has(k));
  if (unknown.length > 0) {
    throw new InvalidConnectionOptions(
      `unknown option ${unknown.map((k) => JSON.stringify(k)).join(", ")}; RedisStore.connect takes ${[...STORE_OPTIONS].join(", ")}`,
    );
  }
  const p = opts.prefix;
  if (p !== undefined && !(typeof p === "string" && /^[^{}\s]+$/.test(p))) {
    throw new InvalidConnectionOptions(
      `prefix must be a non-empty string without braces or spaces (braces would change the keys' hash tags), got ${described(p)}`,
    );
  }
  if (opts.cluster !== undefined && typeof opts.cluster !== "boolean") {
    throw new InvalidConnectionOptions(
      `cluster must be true or false, got ${described(opts.cluster)}`,
    );
  }
  const n = opts.shards;
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 1_000)) {
    throw new InvalidConnectionOptions(
      `shards must be an integer from 1 to 1000, got ${JSON.stringify(n)}`,
    );
  }
  const t = opts.replicationTimeoutMs;
  if (t !== undefined && !(Number.isInteger(t) && t >= 1)) {
    throw new InvalidConnectionOptions(
      `replicationTimeoutMs must be a positive integer (ms), got ${JSON.stringify(t)}`,
    );
  }
  const e = opts.eventsMaxLen;
  if (e !== undefined && !(Number.isInteger(e) && e >= 100 && e <= 10_000_000)) {
    throw new InvalidConnectionOptions(
      `eventsMaxLen must be an integer from 100 to 10000000, got ${JSON.stringify(e)}`,
    );
  }
  // (0 would loop for ever: a chunk of no nodes, a budget that never moves the work on)
  for (const name of ["submitChunk", "budget", "abandonAfterMs", "connectTimeoutMs"] as const) {
    const v = opts[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new InvalidConnectionOptions(
        `${name} must be an integer >= 1${name.endsWith("Ms") ? " (ms)" : ""}, got ${described(v)}`,
      );
    }
  }
  if (opts.functions !== undefined && typeof opts.functions !== "boolean") {
    throw new InvalidConnectionOptions(
      `functions must be true or false, got ${described(opts.functions)}`,
    );
  }
  if (
    opts.onReplicationShortfall !== undefined &&
    typeof opts.onReplicationShortfall !== "function"
  ) {
    throw new InvalidConnectionOptions(
      `onReplicationShortfall must be a function, got ${described(opts.onReplicationShortfall)}`,
    );
  }
  const d = opts.durability;
  if (d !== undefined && d !== "primary" && d !== "replicated") {
    throw new InvalidConnectionOptions(
      `durability must be "primary" or "replicated", got ${JSON.stringify(d)}`,
    );
  }
};

/** Dependency results a node's input reads in one `HMGET`, past the 256 a claim answers inline. */
const DEPS_CHUNK = 500;

/**
 * The `HMGET`s of {@link DEPS_CHUNK} results in flight at once. Reading a
 * 100,000-node hash's fields on this project's machines (slow log): 100
 * reads of 1,000 sent together took 0.25–0.35 ms each at the median and up
 * to 5–17 ms; 4 reads of 500 at a time 0.15 ms at the median and at most
 * 0.4 ms, the whole read no slower (docs/benchmarks.md).
 */
const DEPS_IN_FLIGHT = 4;

/** Why a chunk of a submission found its run gone. */
const RUN_GONE =
  "the run was gone while it was being written (discarded as abandoned, or lost by a Redis restart)";

/**
 * The names of {@link RedisStoreOptions}' fields: any other is refused (a
 * misspelt option would be ignored). A record, so that the compiler asks
 * for each new option here.
 */
const STORE_OPTIONS: ReadonlySet<string> = new Set(
  Object.keys({
    prefix: true,
    shards: true,
    cluster: true,
    durability: true,
    replicationTimeoutMs: true,
    onReplicationShortfall: true,
    connectTimeoutMs: true,
    tls: true,
    submitChunk: true,
    budget: true,
    abandonAfterMs: true,
    eventsMaxLen: true,
    functions: true,
  } satisfies Record<keyof RedisStoreOptions, true>),
);

/** `host:port,host:port` of a cluster client's seed nodes, for its name. */
const seedsOf = (cluster: Cluster): string => {
  const seeds = (cluster as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
  return seeds
    .map((n) => {
      if (typeof n === "object" && n !== null) {
        const { host, port } = n as { host?: unknown; port?: unknown };
        return `${typeof host === "string" ? host : "localhost"}:${typeof port === "number" ? port : 6379}`;
      }
      return String(n);
    })
    .join(",");
};

/** Resolves once a cluster client is ready for commands (connecting it if it is lazy). */
const clusterReady = async (c: Cluster): Promise<void> => {
  if (c.status === "ready") return;
  if (c.status === "wait") return c.connect();
  await new Promise<void>((resolve, reject) => {
    const ok = () => {
      c.off("end", gone);
      resolve();
    };
    const gone = () => {
      c.off("ready", ok);
      reject(new Error("Connection is closed."));
    };
    c.once("ready", ok);
    c.once("end", gone);
  });
};
