/**
 * What the Lua scripts answer. Every script replies with a list whose first
 * element is a reply code, one of {@link ReplyCode}, and whose other
 * elements are values (counts, flags, tokens, records); each script's
 * definition (`Scripts.ts`) lists the codes it may answer and turns a reply
 * into a typed result with a {@link ReplyReader}. A reply that is not one of
 * its script's (a code it does not list, a value of the wrong kind) is an
 * {@link UnexpectedReply}. (BullMQ names its scripts' codes in one enum,
 * `src/enums/error-code.ts`, and turns them into errors in one function,
 * `src/classes/finished-errors.ts`.)
 */

/**
 * Every reply code, by name. The Lua reads them from the table `R`, which
 * holds the codes of its own script only (see `Scripts.ts`).
 */
import { ErrorTag } from "@weft/core";
export const ReplyCode = {
  /** Done as asked. */
  OK: "OK",
  /**
   * This very call had already been done (a command re-sent after a
   * reconnect, recognised by its token, nonce or request id): nothing
   * changed, and the reply says what the first call did.
   */
  REPLAYED: "REPLAYED",
  /**
   * The call's fencing token no longer holds its lease (or its lock): it
   * expired and the node was re-delivered, the node is no longer runnable, or
   * the lock was lost. Nothing changed.
   */
  STALE: "STALE",
  /**
   * The run was cancelled: a completion ends its node `cancelled` without
   * recording its result; a heartbeat or progress report still holds the
   * lease but tells the handler to stop.
   */
  CANCELLED: "CANCELLED",
  /** A record cannot be decoded: the caller runs `corrupt`, which fails the node and its run. */
  CORRUPT: "CORRUPT",
  /**
   * A re-delivered node went over its `maxStalls` and failed (`Stalled`); its
   * dependents are left for `drain`.
   */
  STALLED_OUT: "STALLED_OUT",
  /**
   * A node to start was past its `expiresAt` and ended `expired`; its
   * dependents are left for `drain`.
   */
  EXPIRED: "EXPIRED",
  /** A submission finds its run already there with the same fingerprint, or its idempotency key names a live run. */
  EXISTS: "EXISTS",
  /** A submission's idempotency key names a live run of another fingerprint (`IdempotencyConflict`). */
  CONFLICT: "CONFLICT",
  /** A submission's idempotency key changed since the caller read it: read it again and retry. */
  RETRY: "RETRY",
  /** The run does not exist (never written, expired, or discarded while being submitted). */
  GONE: "GONE",
  /** Another node's replacement (`replace`) is being written to the run: try again. */
  BUSY: "BUSY",
  /** A submission's run id is taken by a run of another fingerprint (`DuplicateRun`). */
  DUPLICATE: "DUPLICATE",
  /**
   * A submission's idempotency key names a run of the same fingerprint that is
   * not committed yet (its call failed midway, or is still writing it): submit
   * again under that run id, which writes and commits it.
   */
  ADOPT: "ADOPT",
  /** A cancel finds its run already ended. */
  ENDED: "ENDED",
  /** A re-drive finds its run succeeded. */
  SUCCEEDED: "SUCCEEDED",
  /** A re-drive finds its run not ended (pending or running). */
  NOTENDED: "NOTENDED",
  /** A re-drive finds a node of its ended run still running. */
  NOTQUIET: "NOTQUIET",
  /** A re-drive's edited node is not a node of the run that will run again. */
  BADNODE: "BADNODE",
  /** A lock is held by another owner. */
  LOCKED: "LOCKED",
  /** A pending submission is kept: it was committed, or written after the cutoff. */
  KEPT: "KEPT",
} as const;

/** One of {@link ReplyCode}. */
export type ReplyCode = (typeof ReplyCode)[keyof typeof ReplyCode];

/** A reply value as ioredis hands it over (Buffer replies): bulk strings as Buffers, Lua `nil` and `false` as `null`. */
export type ReplyValue = Buffer | number | null | ReplyValue[];

/**
 * A script answered something its definition does not allow: a code it
 * does not list, or a value of the wrong kind. The Lua and the TypeScript of
 * this process disagree (a bug), so nothing is inferred from the reply.
 * Not retryable.
 */
export class UnexpectedReply extends Error {
  override readonly name = "UnexpectedReply";
  readonly _tag = ErrorTag.UnexpectedReply;
  readonly retryable = false;
  constructor(
    /** The script's name (`complete`). */
    readonly script: string,
    /** What was wrong, with the value found. */
    readonly detail: string,
  ) {
    super(`script ${script} answered an unexpected reply: ${detail}`);
  }
}

const show = (v: unknown): string =>
  Buffer.isBuffer(v) ? JSON.stringify(v.toString()) : v === undefined ? "nothing" : String(v);

/**
 * Reads the values of one reply (after its code), by position, each checked
 * for its kind: a value of another kind raises {@link UnexpectedReply}.
 */
export class ReplyReader {
  constructor(
    /** The script's name, for errors. */
    readonly script: string,
    /** The reply. */
    private readonly values: ReadonlyArray<ReplyValue>,
    /** Where the values this reader reads start in `values` (after the code). */
    private readonly start = 0,
  ) {}

  private at(i: number): ReplyValue | undefined {
    return this.values[this.start + i];
  }

  private wrong(i: number, kind: string): UnexpectedReply {
    return new UnexpectedReply(this.script, `value ${i + 1} is ${show(this.at(i))}, not ${kind}`);
  }

  /** An integer. */
  int(i: number): number {
    const v = this.at(i);
    if (typeof v !== "number") throw this.wrong(i, "an integer");
    return v;
  }

  /** A flag: the integer 1 (true) or 0 (false). */
  flag(i: number): boolean {
    const v = this.int(i);
    if (v !== 0 && v !== 1) throw this.wrong(i, "a flag (0 or 1)");
    return v === 1;
  }

  /** A string. */
  text(i: number): string {
    const v = this.at(i);
    if (!Buffer.isBuffer(v)) throw this.wrong(i, "a string");
    return v.toString();
  }

  /**
   * Bytes, or `null` where the Lua had nothing (a hash field that is not
   * there): Lua ends a list at its first `nil`, so a missing value also
   * ends the reply.
   */
  bytesOrNull(i: number): Buffer | null {
    const v = this.at(i);
    if (v === undefined || v === null) return null;
    if (!Buffer.isBuffer(v)) throw this.wrong(i, "bytes");
    return v;
  }

  /**
   * Whether value i is the integer 0 by which a batch script answers an item whose reply
   * is `{ OK, 0 }` (submitmany.lua, completemany.lua).
   */
  isZero(i: number): boolean {
    return this.at(i) === 0;
  }

  /** Whether value i is a string's bytes (a reply whose items take one of two shapes tells them apart so). */
  isBytes(i: number): boolean {
    return Buffer.isBuffer(this.at(i));
  }

  /** Whether value i is a nested list (a reply whose items take one of two shapes tells them apart so). */
  isList(i: number): boolean {
    return Array.isArray(this.at(i));
  }

  /** A nested list. */
  list(i: number): ReadonlyArray<ReplyValue> {
    const v = this.at(i);
    if (!Array.isArray(v)) throw this.wrong(i, "a list");
    return v;
  }

  /** A reader of the nested list at position `i`. */
  sub(i: number): ReplyReader {
    return new ReplyReader(this.script, this.list(i));
  }

  /** The values from position `from` on. */
  rest(from: number): ReadonlyArray<ReplyValue> {
    return this.values.slice(this.start + from);
  }

  /** How many values the reply has. */
  get length(): number {
    return this.values.length - this.start;
  }
}

/**
 * Splits a raw reply into its code, checked against the codes its script
 * may answer, and a reader of its values.
 *
 * @throws UnexpectedReply when the reply is not a list that starts with one of `codes`.
 */
export const readReply = <Code extends ReplyCode>(
  script: string,
  codes: ReadonlyArray<Code>,
  raw: unknown,
): { readonly code: Code; readonly reader: ReplyReader } => {
  if (!Array.isArray(raw) || !Buffer.isBuffer(raw[0])) {
    throw new UnexpectedReply(script, `${show(raw)} is not a list that starts with a reply code`);
  }
  const text = raw[0].toString();
  for (const code of codes) {
    if (code === text) return { code, reader: new ReplyReader(script, raw, 1) };
  }
  throw new UnexpectedReply(script, `code ${text} is not one of ${codes.join(", ")}`);
};
