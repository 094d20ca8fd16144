/**
 * Every Redis key Weft uses, built in one place (the versioned layout is
 * documented in docs/redis-layout.md). A run's keys and the queue
 * partitions its nodes go to share the shard's hash tag, so every script
 * touches one slot, on a single Redis or a Redis Cluster.
 */

/** Version of the key layout and record encoding; stored on every run. */
export const LAYOUT_VERSION = 1;

/** Keys of a lock: the lock and its fencing counter, under the lock's own hash tag. */
export const lockKeys = (
  prefix: string,
  name: string,
): { readonly lock: string; readonly fence: string } => {
  const tag = `${prefix}:{${prefix}:lock:${name}}`;
  return { lock: tag, fence: `${tag}:fence` };
};

/** Key of a recorded result under a task's idempotency key. */
export const memoKey = (prefix: string, task: string, key: string): string =>
  `${prefix}:{${prefix}:memo:${task}}:${key}`;

/** Keys of one shard. */
export interface ShardKeys {
  readonly tag: string;
  readonly run: (runId: string) => RunKeys;
  /** What every run hash's key starts with: `run(id).record` is `runPrefix + id` (claim.lua builds run keys from it). */
  readonly runPrefix: string;
  /** What every queue key starts with: `queue(q).ready` is `queuePrefix + q + ":ready"` (completemany.lua builds them). */
  readonly queuePrefix: string;
  readonly queue: (queue: string) => QueueKeys;
  /** Runs with leftover work (zset runId → time registered). */
  readonly work: string;
  /** Run events, trimmed (stream). */
  readonly events: string;
  /**
   * Committed runs, in commit order (stream; an entry lists the one run of a
   * `submit`, field `r` its id, or all the runs of one `submitmany` call: a
   * field `p`, the prefix their ids share, then a field `l`, each id's rest
   * led by its length in bytes; see RunList.ts for the forms of earlier
   * versions): `weft runs` lists it newest first, maintenance deletes an
   * entry once all its runs have expired. About 16.5 bytes per run in a
   * batch's entry, 43 alone, where a sorted set took 137.
   */
  readonly runList: string;
  /**
   * The run index written by versions before 2026-12-03 (zset runId →
   * created): still listed and pruned until its runs have expired, never
   * written.
   */
  readonly legacyRuns: string;
  /**
   * The shard's worker numbers (hash): `i:<worker id>` → `<number>,<day>`,
   * `n:<number>` → the worker id, `next` → the last number given. Node
   * records and attempt histories name a worker by its number
   * (lua/includes/workers.lua).
   */
  readonly workerNames: string;
  /** Submissions not yet committed (zset runId → created). */
  readonly pending: string;
  /** Fencing-token counter. */
  readonly tokens: string;
  /** Arrival counter for ready ordering. */
  readonly seq: string;
  readonly idempotency: (key: string) => string;
  /**
   * A worker's last claim request on this shard and what its calls leased
   * (a string: the request id, a NUL byte, then a msgpack list of each
   * call's leased members by part), expiring with the lease, so a re-sent
   * claim returns what the first one leased. (A hash at `<tag>:claim:<id>`
   * before 2026-12-04.)
   */
  readonly lastClaim: (workerId: string) => string;
}

/**
 * Keys of one run. `record`, `nodes`, `specs` and `results` name the same
 * hash today (fields are prefixed); scripts keep them apart so the layout
 * can split large runs' node fields later.
 */
export interface RunKeys {
  readonly record: string;
  readonly nodes: string;
  readonly specs: string;
  readonly results: string;
  readonly work: string;
}

/** Keys of one queue partition. */
export interface QueueKeys {
  /** Ready nodes (zset "runId#node" by priority, then arrival). */
  readonly ready: string;
  /**
   * Delayed nodes: retrying ones, and queued ones held by a delay (zset
   * "runId#node#priority" by due time, or by deadline when that is earlier).
   */
  readonly delayed: string;
  /** Leases (zset "runId#node#token" by expiry). */
  readonly leases: string;
  /** Wake-up token for idle workers (list of at most one element). */
  readonly wake: string;
  /**
   * Parked nodes: queued nodes whose task a worker lacked, handed only to
   * workers that name it (zset, every score 0, members
   * "task\0<ready score, 16 digits>\0runId#node", so `ZRANGEBYLEX` finds a
   * task's best node).
   */
  readonly parked: string;
  /**
   * Deadlines of queued and retrying nodes that have one (zset "runId#node"
   * by `expiresAt`): maintenance ends those past it `expired`.
   */
  readonly expiring: string;
  /**
   * The pause flag (string `"1"`, no expiry), set on every shard by
   * `pauseQueue` and removed by `resumeQueue`: claim.lua and complete.lua
   * lease none of the queue's nodes while it is set.
   */
  readonly paused: string;
}

/**
 * A shard's run-end channel: the id of a run that somebody waits for (field
 * `w` of its hash, waitrun.lua) is PUBLISHed on it when the run stops or ends
 * (its `run` and `run-ended` events). Named after the shard's events key.
 */
export const runEndChannel = (events: string): string => `${events}:ended`;

/** The pub/sub channel of store signals (a cancelled run's id). */
export const signalsChannel = (prefix: string): string => `${prefix}:signals`;

/** The sliding log of a rate-limited queue's claims (zset), under its own hash tag: one per queue, whatever the shards. */
export const limiterKey = (prefix: string, queue: string): string =>
  `${prefix}:{${prefix}:limit:${queue}}`;

/**
 * The sliding log of a rate-limited task (`options.rateLimit`), kept as a
 * queue's (ratelimit.lua), under its own hash tag.
 */
export const taskLimiterKey = (prefix: string, task: string): string =>
  `${prefix}:{${prefix}:tasklimit:${task}}`;

/**
 * The slots of a concurrency key (`options.concurrency`): a zset of lease
 * members by lease expiry (concurrency.lua), under its own hash tag.
 */
export const concurrencyKey = (prefix: string, key: string): string =>
  `${prefix}:{${prefix}:conc:${key}}`;

/**
 * Keys of the schedules, under one hash tag (so upsert and remove touch one
 * slot): the index (set of ids) and each schedule's hash (`def` msgpack,
 * `paused`, `state` msgpack, `version`, `createdAt`, `updatedAt`).
 */
export const scheduleKeys = (
  prefix: string,
): { readonly index: string; readonly schedule: (id: string) => string } => {
  const tag = `${prefix}:{${prefix}:schedules}`;
  return { index: `${tag}:index`, schedule: (id) => `${tag}:s:${id}` };
};

/** The worker registry (hash worker id → JSON registration). */
export const workersKey = (prefix: string): string => `${prefix}:workers`;

/** How many queues' keys a shard keeps built (`ShardKeys.queue`). */
const QUEUE_KEYS_CACHED = 1_024;

/** The keys of shard `shard` under `prefix`. */
export const shardKeys = (prefix: string, shard: number): ShardKeys => {
  const tag = `${prefix}:{${prefix}:s${String(shard).padStart(2, "0")}}`;
  const queues = new Map<string, QueueKeys>();
  return {
    tag,
    runPrefix: `${tag}:run:`,
    queuePrefix: `${tag}:q:`,
    run: (runId) => {
      // one hash holds the run record and every node's fields (n<i>, s<i>, d<i>,
      // r<i>, e<i>, p<i>, h<i>): one key, one expiry, and a small run stays a listpack
      const base = `${tag}:run:${runId}`;
      return { record: base, nodes: base, specs: base, results: base, work: `${base}:work` };
    },
    queue: (queue) => {
      // a queue's keys are built once (every claim and completion names them); a process that
      // names more queues than the cache holds starts it again
      let keys = queues.get(queue);
      if (keys === undefined) {
        const base = `${tag}:q:${queue}`;
        keys = Object.freeze({
          ready: `${base}:ready`,
          delayed: `${base}:delayed`,
          leases: `${base}:leases`,
          wake: `${base}:wake`,
          parked: `${base}:parked`,
          expiring: `${base}:expiring`,
          paused: `${base}:paused`,
        });
        if (queues.size >= QUEUE_KEYS_CACHED) queues.clear();
        queues.set(queue, keys);
      }
      return keys;
    },
    work: `${tag}:work`,
    events: `${tag}:events`,
    runList: `${tag}:runlist`,
    legacyRuns: `${tag}:runs`,
    workerNames: `${tag}:wnames`,
    pending: `${tag}:pending`,
    tokens: `${tag}:tokens`,
    seq: `${tag}:seq`,
    idempotency: (key) => `${tag}:idem:${key}`,
    lastClaim: (workerId) => `${tag}:lastclaim:${workerId}`,
  };
};

/**
 * The keys of a run's scripts, by the labels of their definitions
 * (`Scripts.ts`): the run's hash (as `record`, `nodes`, `specs`, `results`)
 * and work list, the shard's keys, and the keys of each of `queues` (the
 * run's queues, in its order). A script takes those its definition names.
 */
export const runScriptKeys = (s: ShardKeys, runId: string, queues: ReadonlyArray<string> = []) => {
  const r = s.run(runId);
  // one object literal: a spread into a new object costs V8 a slow path on every call
  return {
    record: r.record,
    nodes: r.nodes,
    specs: r.specs,
    results: r.results,
    work: r.work,
    shardWork: s.work,
    events: s.events,
    runList: s.runList,
    workerNames: s.workerNames,
    tokens: s.tokens,
    seq: s.seq,
    pending: s.pending,
    queues: queues.map((q) => s.queue(q)),
  };
};

/** FNV-1a, for spreading run ids and idempotency keys over shards (0, unhashed, for one shard). */
export const shardOf = (text: string, shards: number): number => {
  if (shards === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
};
