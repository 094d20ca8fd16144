/**
 * Keeping credentials and data out of errors, and naming connection
 * failures. ioredis attaches the command an error answers to the error
 * (`command: { name, args }`): for a failed handshake that is
 * `HELLO 3 AUTH <user> <password>`, for a script its keys and arguments.
 * A logger that serialises the error (pino does) prints them. Every error a
 * {@link RedisStore} raises passes through {@link storeError} first: it drops
 * command arguments (keeping the command's name), masks known secrets in
 * messages and stacks, and turns connection failures into
 * `StoreUnavailable` saying what happened.
 */
import { type StoreFailure, StoreUnavailable } from "@weft/core";
import { redactSecrets } from "./RedisUrl.ts";

/** Properties through which errors hold other errors (`cause`; ioredis's `previousErrors`, `lastNodeError`; `AggregateError.errors`). */
const NESTED = ["cause", "previousErrors", "lastNodeError", "errors"] as const;

/**
 * Removes what an error must not carry to a log or a caller, in place, and
 * returns it: the arguments of an attached `command` (its `name` is kept),
 * recursively through `cause`, `previousErrors`, `lastNodeError` and
 * `errors`; and every occurrence of `secrets` in messages and stacks (see
 * `redactSecrets`). Anything that is not an object is returned as is. Never
 * throws.
 *
 * @example
 * sanitizeError(err, urlSecrets(url)) // err.command is now { name: "hello" }
 */
export const sanitizeError = <E>(error: E, secrets: ReadonlyArray<string> = []): E => {
  const seen = new Set<object>();
  const walk = (e: unknown, depth: number): void => {
    if (typeof e !== "object" || e === null || seen.has(e) || depth > 8) return;
    seen.add(e);
    const x = e as Record<string, unknown>;
    try {
      const command = x.command;
      if (typeof command === "object" && command !== null && "args" in command) {
        x.command = { name: (command as { name?: unknown }).name };
      }
      if (e instanceof Error && secrets.length > 0) {
        e.message = redactSecrets(e.message, secrets);
        if (e.stack) e.stack = redactSecrets(e.stack, secrets);
      }
    } catch {
      // a frozen or exotic error: leave what cannot be changed
    }
    for (const key of NESTED) {
      const v = x[key];
      if (Array.isArray(v)) for (const item of v) walk(item, depth + 1);
      else walk(v, depth + 1);
    }
  };
  walk(error, 0);
  return error;
};

/** Socket error codes that mean "no connection". */
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EPIPE",
  "EADDRNOTAVAIL",
  "ERR_SOCKET_CLOSED",
]);

/** What each network code means, for people. */
const NETWORK_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/** ioredis messages that mean the command lost its connection. */
const DISCONNECTED = [
  /^Connection is closed/,
  /^Command aborted due to connection close/,
  /^Stream isn't writeable/,
  /^Command timed out/,
  /^Reached the max retries per request limit/,
  /^None of startup nodes is available/,
  /^Failed to refresh slots cache/,
  // a Redis Cluster client that lost every node (it fails calls at once, see CLUSTER_SETTINGS)
  /^Cluster isn't ready/,
  /^Cluster is ended/,
];

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
};

const messageOf = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === "string" ? e : String(e);

/**
 * Which kind of store failure `error` is, or `undefined` when it is not one
 * (a Lua error, a bad argument: the call itself was wrong). Reads the
 * error's `code` (ECONNREFUSED, TLS verification codes), its name
 * (`MaxRetriesPerRequestError`, `ClusterAllFailedError`) and the first word of
 * a Redis error reply (NOAUTH, WRONGPASS, NOPERM, LOADING, CLUSTERDOWN,
 * MASTERDOWN, READONLY, TRYAGAIN, UNBLOCKED, NOREPLICAS, MOVED, ASK), and a Redis
 * Cluster client's "Too many Cluster redirections" (a failover that
 * outlasted its retries).
 */
export const classify = (error: unknown): StoreFailure | undefined => {
  if (typeof error !== "object" || error === null) return undefined;
  const code = codeOf(error);
  const message = messageOf(error);
  const name = (error as { name?: unknown }).name;
  if (/^(NOAUTH|WRONGPASS)\b/.test(message) || /invalid (username-)?password/i.test(message))
    return "auth";
  // an ACL refusal inside a script (a PUBLISH without channel or command rights)
  if (/^NOPERM\b|^ERR The user executing the script can't run this command/.test(message))
    return "permission";
  if (/^(LOADING|CLUSTERDOWN|MASTERDOWN|READONLY|TRYAGAIN|UNBLOCKED|NOREPLICAS)\b/.test(message))
    return "unavailable";
  if (/^Too many Cluster redirections/.test(message)) return "unavailable";
  // a slot that moved, left to the caller (ioredis follows these for single commands)
  if (/^(MOVED|ASK) \d+ /.test(message)) return "unavailable";
  if (
    code !== undefined &&
    (/^ERR_(TLS|SSL)_|CERT|^EPROTO$/.test(code) || /^(DEPTH_ZERO|UNABLE_TO|SELF_SIGNED)/.test(code))
  )
    return "tls";
  if (code !== undefined && NETWORK.has(code)) return "unreachable";
  if (name === "MaxRetriesPerRequestError" || name === "ClusterAllFailedError")
    return "unreachable";
  if (DISCONNECTED.some((r) => r.test(message))) return "unreachable";
  return undefined;
};

/** A failure's one-line description, no secrets (the error must be sanitised already). */
const describe = (error: unknown, failure: StoreFailure): string => {
  const code = codeOf(error);
  const message = messageOf(error).split("\n")[0]!.trim();
  if (failure === "unreachable" && code !== undefined && NETWORK_WORDS[code]) {
    const where = (error as { address?: unknown; port?: unknown }).address;
    const port = (error as { port?: unknown }).port;
    return `${NETWORK_WORDS[code]} (${code}${typeof where === "string" ? ` ${where}${typeof port === "number" ? `:${port}` : ""}` : ""})`;
  }
  if (/^NOAUTH\b/.test(message)) return "NOAUTH: Redis requires a password, and none was given";
  if ((error as { name?: unknown }).name === "MaxRetriesPerRequestError")
    return "the connection was lost and could not be re-established in time";
  if (/^Connection is closed/.test(message)) return "the connection is closed";
  if (/^Command timed out/.test(message)) return "no reply within the command timeout";
  if (failure === "tls" && code !== undefined && !message.includes(code))
    return `${message} (${code})`;
  return message;
};

/** What {@link storeError} needs to know about the store. */
export interface StoreErrorContext {
  /** The store's URL, password masked. */
  readonly url: string;
  /** Secrets to mask in messages (see `urlSecrets`). */
  readonly secrets: ReadonlyArray<string>;
  /**
   * The last error the connection reported (its `error` event), sanitised,
   * if it has not been ready since: it names the cause best when a command
   * only reports that it gave up (`MaxRetriesPerRequestError`,
   * "Connection is closed").
   */
  readonly lastConnectionError?: unknown;
  /**
   * True once the store's connection was ready: a connection reset is then
   * not a server that expects TLS (no hint to use `rediss://`).
   */
  readonly connected?: boolean;
}

/**
 * What a store raises for `error`: a `StoreUnavailable` (URL masked, what
 * happened, `cause` the sanitised error) when the connection failed, else
 * `error` itself, sanitised. A `StoreUnavailable` is returned unchanged.
 */
export const storeError = (error: unknown, ctx: StoreErrorContext): unknown => {
  if (error instanceof StoreUnavailable) return error;
  sanitizeError(error, ctx.secrets);
  const failure = classify(error);
  if (failure === undefined) return error;
  // a command that only says it gave up ("Connection is closed", max retries, timed out, a
  // cluster client's "Failed to refresh slots cache") is best explained by what a connection
  // itself met (ECONNREFUSED, WRONGPASS, a TLS code): the node error the cluster client
  // attached (`lastNodeError`), else the last error the connection reported
  const nested = (error as { lastNodeError?: unknown }).lastNodeError;
  const nestedFailure = nested === undefined ? undefined : classify(nested);
  const last = ctx.lastConnectionError;
  const lastFailure = last === undefined ? undefined : classify(last);
  const gaveUp = failure === "unreachable" && codeOf(error) === undefined;
  const [source, kind] =
    gaveUp && nestedFailure !== undefined
      ? [nested, nestedFailure]
      : gaveUp && lastFailure !== undefined
        ? [last, lastFailure]
        : [error, failure];
  const code = codeOf(source);
  const hint =
    code === "ECONNRESET" && /^redis:/i.test(ctx.url) && ctx.connected !== true
      ? "; if the server expects TLS, use a rediss:// URL"
      : code === "ETIMEDOUT" && /^rediss:/i.test(ctx.url)
        ? "; check that this port serves TLS"
        : "";
  return new StoreUnavailable({
    url: ctx.url,
    reason: redactSecrets(describe(source, kind) + hint, ctx.secrets),
    failure: kind,
    cause: error,
  });
};
