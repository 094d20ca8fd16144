/**
 * The Redis store: one Lua script per transition (`lua/`), every key a
 * script touches passed in KEYS, values in msgpack. A chain step costs one
 * round trip (completing a node leases its next node to the same worker);
 * claiming costs two per batch (pop + start, pipelined); large fan-outs,
 * fan-ins and cascades run in bounded steps (`drain`).
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  type Claim,
  type ClaimRequest,
  type CompleteOptions,
  checkProgress,
  corruptRecordInfo,
  type DagNode,
  type DepResult,
  DuplicateRun,
  decode,
  type ErrorInfo,
  encode,
  type FailOptions,
  fingerprint,
  IdempotencyConflict,
  type LeaseState,
  type LockRelease,
  type LockRenewal,
  type LockRequest,
  type MaintainReport,
  type Memo,
  type MemoRequest,
  missingResultInfo,
  type NodeRecord,
  type Progress,
  type ReportResult,
  RunNotFound,
  type RunRecord,
  type RunSnapshot,
  type Store,
  type StoreSignal,
  type Submission,
  SubmitInterrupted,
  type SubmitResult,
  TERMINAL_RUN_STATUSES,
  type WaitForRunOptions,
  type WorkerInfo,
  type WorkerPresence,
} from "@weft/core";
import type { ChainableCommander, Redis } from "ioredis";
import { BLOCK_MAX_MS, connectUrl, type RedisTlsOptions } from "./Connect.ts";
import { classify, sanitizeError, storeError } from "./Errors.ts";
import {
  lockKeys,
  memoKey,
  runScriptKeys,
  type ShardKeys,
  shardKeys,
  shardOf,
  signalsChannel,
  workersKey,
} from "./Keys.ts";
import {
  decodeError,
  decodeHistory,
  decodeNodeRecord,
  decodeProgress,
  decodeShape,
  decodeSpec,
  encodeDeps,
  encodeNodeRecord,
  encodeSpec,
  parseQueues,
  parseRunRecord,
  RUN_FIELDS,
  reason,
  runFields,
} from "./Records.ts";
import { InvalidConnectionOptions, secretForms } from "./RedisUrl.ts";
import { commandName, defineScripts, SCRIPTS, type ScriptName } from "./Scripts.ts";

/** Options of the Redis store. */
export interface RedisStoreOptions {
  /** Key prefix. Default `weft`. */
  readonly prefix?: string;
  /** Number of shards (hash tags). Default 1. */
  readonly shards?: number;
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
}

type Reply = Buffer | number | null | Reply[];
type Script = (...args: Array<string | number | Buffer | Uint8Array>) => Promise<Reply>;

const str = (r: Reply | undefined): string => (Buffer.isBuffer(r) ? r.toString() : String(r));

/** Due retries a claim promotes per queue before popping. */
const PROMOTE_PER_CLAIM = 100;
/**
 * Pruning a shard's runs index in `maintain`: the oldest entries in batches
 * (a small probe, then full batches while every entry of the last was
 * gone), and every `PRUNE_SCAN_EVERY_MS` one batch along a ZSCAN cursor.
 */
const PRUNE_PROBE = 10;
const PRUNE_BATCH = 200;
const PRUNE_PASSES = 25;
const PRUNE_SCAN_EVERY_MS = 10_000;
/** How long a dead worker's registration is kept, and how often `maintain` looks for such, ms. */
const DEAD_WORKER_KEPT_MS = 86_400_000;
const WORKER_PRUNE_EVERY_MS = 60_000;

/** A worker's registration as stored in the registry hash (JSON). */
interface Registration extends WorkerInfo {
  readonly seenAt: number;
  readonly until: number;
}

/** A {@link Store} on Redis. */
export class RedisStore implements Store {
  readonly name: string;
  private readonly shards: ShardKeys[];
  private readonly prefix: string;
  private readonly chunk: number;
  private readonly budget: number;
  private readonly abandonAfterMs: number;
  private readonly idleBlocking: Redis[] = [];
  private readonly allBlocking = new Set<Redis>();
  private closed = false;
  /** The pub/sub connection of `subscribe`, made on first use, and its listeners. */
  private subscriber: { readonly conn: Redis; readonly ready: Promise<unknown> } | undefined;
  private readonly listeners = new Set<(signal: StoreSignal) => void>();
  /** Per shard: where the next runs-index scan starts (ZSCAN cursor). */
  private readonly pruneCursor = new Map<number, string>();
  private scannedAt = Number.NEGATIVE_INFINITY;
  private workersPrunedAt = Number.NEGATIVE_INFINITY;

  /** What the connection last reported (its `error` event), sanitised; cleared when it is ready again. */
  private lastConnectionError: unknown;

  private constructor(
    readonly redis: Redis,
    private readonly owned: boolean,
    name: string,
    opts: RedisStoreOptions,
    private readonly secrets: ReadonlyArray<string>,
  ) {
    this.name = name;
    const prefix = opts.prefix ?? "weft";
    this.prefix = prefix;
    this.shards = Array.from({ length: Math.max(1, opts.shards ?? 1) }, (_, i) =>
      shardKeys(prefix, i),
    );
    this.chunk = opts.submitChunk ?? 250;
    this.budget = opts.budget ?? 500;
    this.abandonAfterMs = opts.abandonAfterMs ?? 60_000;
    defineScripts(redis);
    redis.on("error", (e: unknown) => {
      this.lastConnectionError = sanitizeError(e, secrets);
    });
    redis.on("ready", () => {
      this.lastConnectionError = undefined;
    });
    // every error a store method raises leaves through `failure`: sanitised, and
    // a `StoreUnavailable` when the connection failed (see Errors.ts)
    const self = this as unknown as Record<StoreMethod, (...args: unknown[]) => Promise<unknown>>;
    for (const method of STORE_METHODS) {
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
   * Connects to Redis by URL or wraps an ioredis instance (not closed by
   * `close`). URL forms: `redis://[[user]:password@]host[:port][/db]`,
   * `rediss://...` for TLS (with `tls` for a private CA); percent-encode
   * special characters of the password (an unencoded one is read correctly
   * too, see `parseRedisUrl`). A URL connection uses
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
   * @throws InvalidConnectionOptions for a URL that is not a Redis URL, TLS
   *   options without `rediss://`, or a CA that cannot be read.
   *
   * @example
   * const store = await RedisStore.connect("rediss://app:s3cret@redis.internal:6380", {
   *   tls: { caFile: "/etc/weft/redis-ca.pem" },
   * })
   */
  static async connect(target: string | Redis, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    if (typeof target !== "string") {
      if (opts.tls !== undefined) {
        throw new InvalidConnectionOptions(
          "the tls option applies to a URL; set tls on the ioredis instance instead",
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
    });
    return new RedisStore(conn.redis, true, conn.url, opts, conn.secrets);
  }

  /** The error a store method raises for `e`: see `storeError`. */
  private failure(e: unknown): unknown {
    return storeError(e, {
      url: this.name,
      secrets: this.secrets,
      lastConnectionError: this.lastConnectionError,
    });
  }

  async submit(sub: Submission): Promise<SubmitResult> {
    const key = sub.idempotencyKey;
    const shard =
      key === undefined ? shardOf(sub.runId, this.shards.length) : shardOf(key, this.shards.length);
    const runId = this.shards.length > 1 ? `${sub.runId}.s${shard}` : sub.runId;
    const s = this.shards[shard]!;
    const queues = sub.dag.queues;
    const window = key === undefined ? 0 : sub.idempotencyWindowMs;
    const idem = s.idempotency(key ?? runId);
    // the same nonce on every chunk and every re-send of this call: the scripts tell a re-send by it
    const nonce = sub.nonce ?? randomBytes(8).toString("hex");
    const hex = sub.fingerprint ?? fingerprint(sub.dag);
    // kept as its 32 bytes: half the memory of the hex text in every run hash
    const fp = /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, "hex") : hex;
    const out = encode(sub.dag.output);
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
      const keys = [...runScriptKeys(s, runId, queues), s.pending, idem, named];
      let retry = false;
      for (let from = 0; from < nodes.length && !retry; from += this.chunk) {
        const part = nodes.slice(from, from + this.chunk);
        const phase = (from === 0 ? "b" : "") + (from + this.chunk >= nodes.length ? "c" : "");
        const args: Array<string | number | Uint8Array> = [
          runId,
          sub.now,
          phase,
          nodes.length,
          queues.join(","),
          JSON.stringify(sub.tags),
          sub.retentionMs,
          window,
          queues.length,
          this.budget,
          fp,
          nonce,
          out,
          seen,
          sub.idempotencyReuse ?? "return-existing",
        ];
        for (const n of part)
          args.push(n.id, encodeNodeRecord(n, queues), encodeSpec(n), encodeDeps(n));
        const r = (await this.script("submit", keys, args)) as Reply[];
        const code = str(r[0]);
        if (code === "RETRY") retry = true;
        else if (code === "EXISTS") return { runId: str(r[1]), existing: true };
        else if (code === "CONFLICT")
          throw new IdempotencyConflict({ key: key!, runId: str(r[1]) });
        else if (code === "DUPLICATE") throw new DuplicateRun({ runId });
        else if (code === "GONE")
          throw new SubmitInterrupted({
            runId,
            reason: "the run was discarded while it was being written",
          });
        else if (Number(r[1]) === 1) await this.drain(s, runId, queues, sub.now);
      }
      if (!retry) return { runId, existing: false };
      if (attempt >= 10)
        throw new SubmitInterrupted({
          runId,
          reason: `its idempotency key ${JSON.stringify(key)} changed ${attempt} times while it was being written`,
        });
    }
  }

  async claim(req: ClaimRequest): Promise<ReadonlyArray<Claim>> {
    const out: Claim[] = [];
    for (const s of this.shards) {
      // a node that stalled out may make others ready: keep claiming while there is room
      let part = 0;
      while (out.length < req.max && (await this.claimBatch(s, req, out, part++)) > 0);
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
  ): Promise<number> {
    const keys = [s.tokens, s.seq, s.lastClaim(req.workerId)];
    for (const q of req.queues) {
      const k = s.queue(q);
      keys.push(k.ready, k.delayed, k.leases, k.wake, k.parked);
    }
    const popped = (await this.script("claim", keys, [
      req.now,
      req.max - out.length,
      req.leaseMs,
      req.requestId ?? "",
      part,
      PROMOTE_PER_CLAIM,
      ...(req.tasks ?? []),
    ])) as Reply[];
    if (popped.length === 0) return 0;
    const items: Array<{ queue: string; runId: string; nodeId: number; token: number }> = [];
    for (let i = 0; i < popped.length; i += 3) {
      const member = str(popped[i + 1]);
      const at = member.lastIndexOf("#");
      items.push({
        queue: req.queues[Number(popped[i]) - 1]!,
        runId: member.slice(0, at),
        nodeId: Number(member.slice(at + 1)),
        token: Number(popped[i + 2]),
      });
    }
    const pipe = this.redis.pipeline();
    for (const it of items) {
      const r = s.run(it.runId);
      this.pipeScript(
        pipe,
        "start",
        [r.record, r.nodes, r.specs, r.results, s.queue(it.queue).leases],
        [it.runId, it.nodeId, it.token, req.workerId, req.now, it.queue],
      );
    }
    const results = (await pipe.exec()) ?? [];
    let failures = 0;
    let firstError: unknown;
    for (let i = 0; i < items.length; i++) {
      const [err, reply] = results[i] ?? [new Error("no reply"), null];
      try {
        if (err) throw err;
        const claim = await this.started(s, items[i]!, reply as Reply[], req);
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
   * What one start reply gives: the claim, or nothing when the node was
   * refused, stalled out, or found corrupt (its node and run then fail as
   * `CorruptRecord`, and the rest of the batch runs).
   */
  private async started(
    s: ShardKeys,
    it: {
      readonly queue: string;
      readonly runId: string;
      readonly nodeId: number;
      readonly token: number;
    },
    r: Reply[],
    req: ClaimRequest,
  ): Promise<Claim | undefined> {
    const code = str(r[0]);
    if (code === "OK") {
      const claim = await this.toClaim(s, {
        runId: it.runId,
        nodeId: it.nodeId,
        token: it.token,
        attempt: Number(r[1]),
        stalls: Number(r[2]),
        spec: r[3] as Buffer,
        runQueues: str(r[4]).split(","),
        deps: r.slice(5),
        leaseUntil: req.now + req.leaseMs,
      });
      if (!("corrupt" in claim)) return claim;
      await this.failCorrupt(s, it, `s${it.nodeId}`, claim.corrupt, req.now);
    } else if (code === "CORRUPT") {
      await this.failCorrupt(s, it, str(r[1]), str(r[2]), req.now);
    } else if (code === "STALLED_OUT") {
      const queues = await this.queuesOf(s, it.runId);
      const so = (await this.script("stallout", runScriptKeys(s, it.runId, queues), [
        it.runId,
        it.nodeId,
        it.token,
        req.now,
        this.budget,
      ])) as Reply[];
      if (Number(so[1]) === 1) await this.drain(s, it.runId, queues, req.now);
    }
    return undefined;
  }

  /**
   * Fails a leased node whose record (`field`) cannot be read, and its run
   * (script `corrupt`). When the run's queue list is the corrupt part, only
   * the queue the node came from is passed, and the sweep looks in it for
   * every node.
   */
  private async failCorrupt(
    s: ShardKeys,
    it: {
      readonly queue: string;
      readonly runId: string;
      readonly nodeId: number;
      readonly token: number;
    },
    field: string,
    why: string,
    now: number,
  ): Promise<void> {
    const listed = parseQueues(await this.redis.hget(s.run(it.runId).record, "queues"));
    const trusted = field !== "queues" && listed?.includes(it.queue) === true;
    const queues = trusted ? listed! : [it.queue];
    const r = (await this.script("corrupt", runScriptKeys(s, it.runId, queues), [
      it.runId,
      it.nodeId,
      it.token,
      now,
      field,
      why,
      this.budget,
      queues.indexOf(it.queue) + 1,
      trusted ? "0" : "1",
    ])) as Reply[];
    if (Number(r[1]) === 1) await this.drain(s, it.runId, queues, now);
  }

  /** A run's queue list as stored; empty when the field is missing or corrupt. */
  private async queuesOf(s: ShardKeys, runId: string): Promise<string[]> {
    return parseQueues(await this.redis.hget(s.run(runId).record, "queues")) ?? [];
  }

  async complete(claim: Claim, result: Uint8Array, opts: CompleteOptions): Promise<ReportResult> {
    const s = this.shardOfRun(claim.runId);
    const served = claim.runQueues
      .map((q, i) => (opts.queues.includes(q) ? i + 1 : 0))
      .filter((i) => i > 0);
    const r = (await this.script("complete", runScriptKeys(s, claim.runId, claim.runQueues), [
      claim.runId,
      claim.nodeId,
      claim.token,
      result,
      opts.now,
      opts.workerId,
      opts.nextMax,
      opts.leaseMs,
      `,${served.join(",")},`,
      this.budget,
    ])) as Reply[];
    const code = str(r[0]);
    if (Number(r[1]) === 1) await this.drain(s, claim.runId, claim.runQueues, opts.now);
    if (code === "STALE") return { ok: false, reason: "stale" };
    if (code === "CANCELLED") return { ok: false, reason: "cancelled" };
    const next: Claim[] = [];
    for (const c of r.slice(2) as Reply[][]) {
      const [nodeId, token, attempt, stalls, spec, deps] = c as [
        number,
        number,
        number,
        number,
        Buffer,
        Reply[],
      ];
      const got = await this.toClaim(s, {
        runId: claim.runId,
        nodeId,
        token,
        attempt,
        stalls,
        spec,
        runQueues: claim.runQueues,
        deps,
        leaseUntil: opts.now + opts.leaseMs,
      });
      if (!("corrupt" in got)) next.push(got);
      else {
        const it = { queue: got.queue, runId: claim.runId, nodeId, token };
        await this.failCorrupt(s, it, `s${nodeId}`, got.corrupt, opts.now);
      }
    }
    return code === "REPLAYED" ? { ok: true, next, replayed: true } : { ok: true, next };
  }

  async fail(claim: Claim, error: ErrorInfo, opts: FailOptions): Promise<ReportResult> {
    const s = this.shardOfRun(claim.runId);
    const r = (await this.script("fail", runScriptKeys(s, claim.runId, claim.runQueues), [
      claim.runId,
      claim.nodeId,
      claim.token,
      encode(error),
      opts.now,
      opts.retryAt ?? -1,
      this.budget,
    ])) as Reply[];
    const code = str(r[0]);
    if (Number(r[1]) === 1) await this.drain(s, claim.runId, claim.runQueues, opts.now);
    if (code === "STALE") return { ok: false, reason: "stale" };
    return code === "REPLAYED" ? { ok: true, next: [], replayed: true } : { ok: true, next: [] };
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
    const pipe = this.redis.pipeline();
    for (const c of claims) {
      const s = this.shardOfRun(c.runId);
      this.pipeScript(
        pipe,
        "heartbeat",
        [s.queue(c.spec.queue).leases, s.run(c.runId).record],
        [`${c.runId}#${c.nodeId}#${c.token}`, opts.now + opts.leaseMs],
      );
    }
    const res = (await pipe.exec()) ?? [];
    // a command that failed for want of Redis (connection lost, timed out, not serving) says
    // nothing about the lease: raise (StoreUnavailable) rather than answer "lost", which would
    // abort a handler whose lease still holds
    const down = res.find(([err]) => err && classify(err) !== undefined);
    if (down) throw down[0];
    // any other error is this claim's own (a script error on its keys): its lease cannot be kept
    return res.map(([err, v]) =>
      err ? "lost" : v === 2 ? "cancelled" : v === 1 ? "held" : "lost",
    );
  }

  async release(claim: Claim, opts: { now: number }): Promise<void> {
    const s = this.shardOfRun(claim.runId);
    const q = s.queue(claim.spec.queue);
    const r = s.run(claim.runId);
    const released = await this.script(
      "release",
      [r.record, r.nodes, r.specs, r.results, q.leases, q.ready, q.wake, s.seq],
      [claim.runId, claim.nodeId, claim.token, opts.now],
    );
    if (Number(released) === -1) {
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
    const r = s.run(claim.runId);
    await this.script(
      "park",
      [r.record, r.nodes, r.specs, r.results, q.leases, q.parked, q.wake, s.seq],
      [claim.runId, claim.nodeId, claim.token, opts.now],
    );
  }

  async progress(claim: Claim, progress: Progress): Promise<LeaseState> {
    const checked = encode(checkProgress(progress));
    const s = this.shardOfRun(claim.runId);
    const r = s.run(claim.runId);
    const v = Number(
      await this.script(
        "progress",
        [s.queue(claim.spec.queue).leases, r.results, r.record],
        [`${claim.runId}#${claim.nodeId}#${claim.token}`, claim.nodeId, checked],
      ),
    );
    return v === 2 ? "cancelled" : v === 1 ? "held" : "lost";
  }

  async nextDueAt(queues: ReadonlyArray<string>): Promise<number | undefined> {
    const pipe = this.redis.pipeline();
    for (const s of this.shards)
      for (const q of queues) pipe.zrange(s.queue(q).delayed, "0", "0", "WITHSCORES");
    const due = ((await pipe.exec()) ?? []).flatMap(([, v]) => {
      const pair = v as string[] | null;
      return pair?.[1] === undefined ? [] : [Number(pair[1])];
    });
    return due.length === 0 ? undefined : Math.min(...due);
  }

  /**
   * Subscribes to the signals channel (`<prefix>:signals`, where cancel.lua
   * PUBLISHes a cancelled run's id) on one pub/sub connection per store,
   * opened on first use and closed when the last listener leaves. ioredis
   * re-subscribes after a reconnect; a message sent while disconnected is
   * lost (heartbeats remain the fallback). A listener that throws is ignored.
   */
  async subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    if (this.closed) return async () => undefined;
    let sub = this.subscriber;
    if (!sub) {
      const conn = this.redis.duplicate();
      conn.on("error", () => undefined);
      const channel = signalsChannel(this.prefix);
      conn.on("message", (from: string, message: string) => {
        if (from !== channel) return;
        const signal: StoreSignal = { kind: "cancelled", runId: message };
        for (const l of [...this.listeners]) {
          try {
            l(signal);
          } catch {
            // a listener's bug must not stop the others
          }
        }
      });
      sub = { conn, ready: conn.subscribe(channel) };
      this.subscriber = sub;
    }
    this.listeners.add(listener);
    try {
      await sub.ready;
    } catch (e) {
      this.listeners.delete(listener);
      this.dropSubscriber(sub);
      throw e;
    }
    return async () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.subscriber === sub) this.dropSubscriber(sub);
    };
  }

  private dropSubscriber(sub: { readonly conn: Redis }): void {
    if (this.subscriber === sub) this.subscriber = undefined;
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
    let promoted = 0;
    let redelivered = 0;
    const scan = opts.now - this.scannedAt >= PRUNE_SCAN_EVERY_MS;
    if (scan) this.scannedAt = opts.now;
    for (const s of this.shards) {
      const pipe = this.redis.pipeline();
      for (const q of opts.queues) {
        const k = s.queue(q);
        this.pipeScript(
          pipe,
          "promote",
          [k.delayed, k.ready, k.wake, s.seq],
          [opts.now, this.budget],
        );
        this.pipeScript(pipe, "reap", [k.leases, k.ready, k.wake, s.seq], [opts.now, this.budget]);
      }
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, v], i) => {
        if (err) throw err;
        if (i % 2 === 0) promoted += Number(v);
        else redelivered += Number(v);
      });
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
      await this.pruneRuns(s, this.shards.indexOf(s), scan);
      // submissions that died before their commit
      const cutoff = opts.now - this.abandonAfterMs;
      for (const runId of await this.redis.zrangebyscore(
        s.pending,
        "-inf",
        cutoff,
        "LIMIT",
        0,
        10,
      )) {
        const r = s.run(runId);
        await this.script(
          "discard",
          [r.record, r.nodes, r.specs, r.results, r.work, s.pending],
          [runId, cutoff],
        );
      }
    }
    if (opts.now - this.workersPrunedAt >= WORKER_PRUNE_EVERY_MS) {
      this.workersPrunedAt = opts.now;
      await this.pruneWorkers(opts.now);
    }
    return { promoted, redelivered };
  }

  /**
   * Removes expired runs from a shard's runs index (a run expires by key
   * expiry; the index is a zset by creation time): the oldest entries first,
   * in batches while every entry of a batch was gone (runs mostly expire in
   * creation order), and now and then a batch along a ZSCAN cursor for runs
   * with a short retention behind older, live ones.
   */
  private async pruneRuns(s: ShardKeys, shard: number, scan: boolean): Promise<void> {
    const gone = async (ids: ReadonlyArray<string>): Promise<string[]> => {
      if (ids.length === 0) return [];
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.exists(s.run(id).record);
      const res = (await pipe.exec()) ?? [];
      const dead = ids.filter((_, i) => res[i]?.[0] === null && res[i]?.[1] === 0);
      if (dead.length > 0) await this.redis.zrem(s.runs, ...dead);
      return dead;
    };
    for (let pass = 0; pass < PRUNE_PASSES; pass++) {
      const size = pass === 0 ? PRUNE_PROBE : PRUNE_BATCH;
      const oldest = await this.redis.zrange(s.runs, "0", String(size - 1));
      if ((await gone(oldest)).length < size) break;
    }
    if (!scan) return;
    const [cursor, flat] = await this.redis.zscan(
      s.runs,
      this.pruneCursor.get(shard) ?? "0",
      "COUNT",
      PRUNE_BATCH,
    );
    this.pruneCursor.set(shard, cursor);
    await gone(flat.filter((_, i) => i % 2 === 0));
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

  async cancel(runId: string, opts: { now: number }): Promise<boolean> {
    const s = this.shardOfRun(runId);
    const raw = await this.redis.hget(s.run(runId).record, "queues");
    if (raw === null) return false;
    // a corrupt queue list: the walk cannot find the queues; nodes left in one are refused when claimed
    const queues = parseQueues(raw) ?? [];
    // one id per call: a re-send of this very cancel answers what the first send did
    const r = (await this.script("cancel", runScriptKeys(s, runId, queues), [
      runId,
      opts.now,
      this.budget,
      randomUUID(),
      signalsChannel(this.prefix),
    ])) as number[];
    if (r[1] === 1) await this.drain(s, runId, queues, opts.now);
    return r[0] === 1;
  }

  async acquireLock({ name, owner, ttlMs, now }: LockRequest): Promise<number | undefined> {
    const k = lockKeys(this.prefix, name);
    const token = Number(await this.script("lock", [k.lock, k.fence], [owner, ttlMs, now]));
    return token > 0 ? token : undefined;
  }

  async renewLock({ name, owner, token, ttlMs, now }: LockRenewal): Promise<boolean> {
    const k = lockKeys(this.prefix, name);
    return Number(await this.script("renewlock", [k.lock], [owner, token, ttlMs, now])) === 1;
  }

  async releaseLock({ name, owner, token }: LockRelease): Promise<void> {
    await this.script("unlock", [lockKeys(this.prefix, name).lock], [owner, token]);
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
      .pexpire(k, ttlMs + 60_000)
      .exec();
  }

  async getRun(runId: string): Promise<RunSnapshot | undefined> {
    const s = this.shardOfRun(runId);
    const k = s.run(runId);
    const run = await this.readRunRecord(k.record);
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
    const out = decodeShape(await this.redis.hgetBuffer(k.record, "out"));
    return out === undefined ? { run, nodes } : { run, nodes, output: out };
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
    spec: Buffer | null | undefined,
    err: Buffer | null | undefined,
    prog: Buffer | null | undefined,
    hist: Buffer | null | undefined,
  ): RunSnapshot["nodes"][number] {
    const history = decodeHistory(hist, { key, field: `h${id}` });
    const error = decodeError(err, { key, field: `e${id}` });
    const progress = decodeProgress(prog);
    let node: NodeRecord;
    try {
      if (!rec) throw new Error("missing");
      node = decodeNodeRecord(rec, error, history);
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
      decoded = decodeSpec(spec);
    } catch (e) {
      decoded = placeholderSpec(id);
      node.error ??= corruptRecordInfo(key, `s${id}`, reason(e));
    }
    return { ...node, id, spec: decoded, ...(progress ? { progress } : {}) };
  }

  async getResult(runId: string, nodeId: number): Promise<Uint8Array | undefined> {
    const s = this.shardOfRun(runId);
    return (await this.redis.hgetBuffer(s.run(runId).results, `r${nodeId}`)) ?? undefined;
  }

  async listRuns(opts: {
    limit: number;
  }): Promise<ReadonlyArray<RunRecord & { readonly tags: ReadonlyArray<string> }>> {
    const all: Array<RunRecord & { tags: string[] }> = [];
    for (const s of this.shards) {
      const ids = await this.redis.zrevrange(s.runs, 0, opts.limit - 1);
      if (ids.length === 0) continue;
      const records = await Promise.all(ids.map((id) => this.readRunRecord(s.run(id).record)));
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const r = records[i];
        if (r) all.push(r);
        else gone.push(id);
      });
      if (gone.length > 0) await this.redis.zrem(s.runs, ...gone);
    }
    return all.sort((a, b) => b.createdAt - a.createdAt).slice(0, opts.limit);
  }

  async waitForRun(
    runId: string,
    timeoutMs: number,
    opts: WaitForRunOptions = {},
  ): Promise<RunRecord | undefined> {
    const s = this.shardOfRun(runId);
    const k = s.run(runId);
    const deadline = Date.now() + timeoutMs;
    const latest = await this.redis.xrevrange(s.events, "+", "-", "COUNT", 1);
    let last = latest[0]?.[0] ?? "0-0";
    const conn = await this.blocking();
    try {
      for (;;) {
        const run = await this.readRunRecord(k.record);
        if (!run) throw new RunNotFound({ runId });
        const quiet = !opts.quiet || run.finishedAt !== undefined;
        if (TERMINAL_RUN_STATUSES.has(run.status) && quiet) return run;
        const left = deadline - Date.now();
        if (left <= 0 || this.closed) return undefined;
        const res = await conn.xread(
          "COUNT",
          1000,
          "BLOCK",
          Math.min(left, 1_000),
          "STREAMS",
          s.events,
          last,
        );
        const entries = res?.[0]?.[1];
        if (entries && entries.length > 0) last = entries[entries.length - 1]![0];
      }
    } finally {
      this.giveBack(conn);
    }
  }

  async waitForWork(queues: ReadonlyArray<string>, timeoutMs: number): Promise<void> {
    if (this.closed) return;
    const conn = await this.blocking();
    try {
      const keys = this.shards.flatMap((s) => queues.map((q) => s.queue(q).wake));
      // blocks at most BLOCK_MAX_MS, well under the command timeout (an early return is a spurious wake-up)
      await conn.blpop(...keys, Math.max(0.01, Math.min(timeoutMs, BLOCK_MAX_MS) / 1000));
    } finally {
      this.giveBack(conn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.subscriber) this.dropSubscriber(this.subscriber);
    for (const c of this.allBlocking) c.disconnect();
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Reads a run's record (not its node fields), or `undefined` when the run does not exist. */
  private async readRunRecord(key: string): Promise<ReturnType<typeof parseRunRecord> | undefined> {
    const res = await this.redis
      .pipeline()
      .hmget(key, ...RUN_FIELDS)
      .hgetBuffer(key, "err")
      .exec();
    const values = res?.[0]?.[1] as Array<string | null> | undefined;
    // the run exists when any of its record fields does (a corrupt record may lack some)
    if (!values?.some((v) => v !== null)) return undefined;
    return parseRunRecord(runFields(values), (res?.[1]?.[1] as Buffer | null) ?? null, key);
  }

  /** Continues a run's leftover work until none is left. */
  private async drain(
    s: ShardKeys,
    runId: string,
    queues: ReadonlyArray<string>,
    now: number,
  ): Promise<void> {
    const keys = runScriptKeys(s, runId, queues);
    while (Number(await this.script("drain", keys, [runId, now, this.budget])) === 1) {
      // each call does at most `budget` work items
    }
  }

  /**
   * Builds a claim from a script's reply; reads dependency results itself
   * past 256 of them. A spec that cannot be decoded gives why, and the queue
   * the node was leased on (from the run's queue list), instead.
   */
  private async toClaim(
    s: ShardKeys,
    c: Omit<Claim, "spec" | "deps"> & { readonly spec: Buffer; readonly deps: Reply[] },
  ): Promise<Claim | { readonly corrupt: string; readonly queue: string }> {
    let spec: DagNode;
    try {
      spec = decodeSpec(c.spec);
    } catch (e) {
      return { corrupt: reason(e), queue: await this.leasedQueue(s, c.runId, c.nodeId) };
    }
    const deps =
      Number(c.deps[0]) === 1 ? inlineDeps(c.deps) : await this.readDeps(s, c.runId, spec.deps);
    return { ...c, spec, deps };
  }

  /** The queue a node is leased on, by its record's index into the run's queue list. */
  private async leasedQueue(s: ShardKeys, runId: string, nodeId: number): Promise<string> {
    const k = s.run(runId);
    const [rec, queues] = await Promise.all([
      this.redis.hgetBuffer(k.nodes, `n${nodeId}`),
      this.queuesOf(s, runId),
    ]);
    try {
      const index = (decode(rec!) as unknown[])[9] as number;
      return queues[index - 1] ?? queues[0] ?? "default";
    } catch {
      return queues[0] ?? "default";
    }
  }

  /** Reads dependency outcomes outside Lua (over 256 deps), in chunks: results never change once recorded. */
  private async readDeps(
    s: ShardKeys,
    runId: string,
    deps: ReadonlyArray<number>,
  ): Promise<DepResult[]> {
    const k = s.run(runId);
    const out: DepResult[] = [];
    for (let from = 0; from < deps.length; from += 1_000) {
      const ids = deps.slice(from, from + 1_000).map(String);
      const values = await this.redis.hmgetBuffer(k.results, ...ids.map((i) => `r${i}`));
      const missing = ids.filter((_, i) => !values[i]);
      const errors =
        missing.length > 0
          ? await this.redis.hmgetBuffer(k.results, ...missing.map((i) => `e${i}`))
          : [];
      let m = 0;
      values.forEach((v, i) => {
        if (v) out.push({ ok: true, value: v });
        else
          out.push({
            ok: false,
            error:
              decodeError(errors[m++], { key: k.results, field: `e${ids[i]}` }) ??
              missingResultInfo(),
          });
      });
    }
    return out;
  }

  private shardOfRun(runId: string): ShardKeys {
    const m = /\.s(\d+)$/.exec(runId);
    return this.shards[m ? Number(m[1]) % this.shards.length : 0]!;
  }

  private script(
    name: ScriptName,
    keys: string[],
    args: Array<string | number | Uint8Array>,
  ): Promise<Reply> {
    const fn = (this.redis as unknown as Record<string, Script>)[`${commandName(name)}Buffer`]!;
    return fn.call(this.redis, ...(fixedKeys(name) ? [] : [keys.length]), ...keys, ...args);
  }

  private pipeScript(
    pipe: ChainableCommander,
    name: ScriptName,
    keys: string[],
    args: Array<string | number>,
  ): void {
    const fn = (pipe as unknown as Record<string, (...a: Array<string | number>) => unknown>)[
      `${commandName(name)}Buffer`
    ]!;
    fn.call(pipe, ...(fixedKeys(name) ? [] : [keys.length]), ...keys, ...args);
  }

  private async blocking(): Promise<Redis> {
    const idle = this.idleBlocking.pop();
    if (idle) return idle;
    const conn = this.redis.duplicate();
    conn.on("error", () => undefined);
    this.allBlocking.add(conn);
    return conn;
  }

  private giveBack(conn: Redis): void {
    if (this.closed) conn.disconnect();
    else this.idleBlocking.push(conn);
  }
}

const fixedKeys = (name: ScriptName): boolean => SCRIPTS[name] !== undefined;

/** A registry entry, or `undefined` when it is not a registration (corrupt, or written by something else). */
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
      seenAt: v.seenAt,
      until: v.until,
    };
  } catch {
    return undefined;
  }
};

/** Names of the {@link Store} methods. */
type StoreMethod = {
  [K in keyof Store]: Store[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof Store];

/** Every method of the Store contract: each one's errors are translated (see the constructor). */
const STORE_METHODS = [
  "submit",
  "claim",
  "complete",
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
  "getRun",
  "getResult",
  "listRuns",
  "waitForRun",
  "acquireLock",
  "renewLock",
  "releaseLock",
  "getMemo",
  "putMemo",
  "waitForWork",
  "close",
] as const satisfies ReadonlyArray<StoreMethod>;

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

const inlineDeps = (deps: Reply[]): DepResult[] => {
  const out: DepResult[] = [];
  for (let i = 1; i < deps.length; i += 2) {
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
  return out;
};
