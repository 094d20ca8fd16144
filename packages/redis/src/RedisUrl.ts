/**
 * Redis URLs: reading the credentials out of `redis://[user[:password]@]host[:port][/db]`,
 * `rediss://...` (TLS) and `redis+cluster://host:port,host:port` (a Redis
 * Cluster), and showing a URL with its password masked.
 * Weft's one URL masker: the CLI, the examples and the store's own messages
 * use {@link maskUrl}.
 *
 * Passwords should be percent-encoded in a URL (`encodeURIComponent`), but an
 * unencoded `@`, `/`, `:`, `#`, `?` or `%` in a password is read correctly
 * too: the credentials end at the **last** `@` (a host never holds one), the
 * user name at the first `:` of the credentials. The host part is then read
 * by the WHATWG URL parser (Node's `URL`). An `@` after the host (in a query
 * string) must therefore be percent-encoded.
 *
 * This module loads nothing of ioredis, so that a command line can mask a URL
 * without loading the client (`@weft/redis/url`).
 */

/** A connection setting that cannot work: a URL that does not parse, a CA file that cannot be read. Not retryable. */
export class InvalidConnectionOptions extends Error {
  override readonly name = "InvalidConnectionOptions";
  readonly _tag = "InvalidConnectionOptions";
  /** Retrying cannot help: the settings must change. */
  readonly retryable = false;
}

/** A Redis URL split into its parts, credentials decoded. */
export interface RedisUrlParts {
  /** `redis` or `rediss` (TLS). */
  readonly scheme: "redis" | "rediss";
  /** ACL user name, percent-decoded; absent when the URL names none. */
  readonly username?: string;
  /** Password, percent-decoded (kept as written where it is not valid percent-encoding); absent when none. */
  readonly password?: string;
  /** The URL without its credentials: `scheme://host:port/db?query`. */
  readonly bare: string;
  /** The URL with the password masked, for messages: see {@link maskUrl}. */
  readonly masked: string;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

/** Splits `scheme://rest` and finds the credentials: everything before the last `@`. */
const split = (
  url: string,
): { scheme: string; userinfo: string | undefined; host: string } | undefined => {
  const m = SCHEME.exec(url);
  if (!m) return undefined;
  const rest = m[2]!;
  const at = rest.lastIndexOf("@");
  return at < 0
    ? { scheme: m[1]!, userinfo: undefined, host: rest }
    : { scheme: m[1]!, userinfo: rest.slice(0, at), host: rest.slice(at + 1) };
};

/** `user:password` → user and password as written (not decoded); no `:` → the whole is a password. */
const credentials = (userinfo: string): { user: string; password: string | undefined } => {
  const colon = userinfo.indexOf(":");
  return colon < 0
    ? { user: "", password: userinfo }
    : { user: userinfo.slice(0, colon), password: userinfo.slice(colon + 1) };
};

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a raw `%` in a password: take it as written
  }
};

/**
 * The URL with its password replaced by `***`; never throws. The user name,
 * host, port, database and query are kept as written. Credentials without a
 * `:` (`redis://secret@host`) are masked whole, since some clients read them
 * as a password. A string that is not a URL but holds an `@`
 * (`user:pw@host:6379`) has everything before its last `@` masked.
 *
 * @example
 * maskUrl("redis://app:s3cret@db:6379/0") // "redis://app:***@db:6379/0"
 * maskUrl("redis://:p@ss/w:rd#1%@db:6379") // "redis://:***@db:6379"
 */
export const maskUrl = (url: string): string => {
  const parts = split(url);
  if (!parts) {
    const at = url.lastIndexOf("@");
    return at < 0 ? url : `***${url.slice(at)}`;
  }
  const { userinfo } = parts;
  if (userinfo === undefined || userinfo === "") return url;
  const colon = userinfo.indexOf(":");
  const shown =
    colon < 0
      ? "***"
      : colon === userinfo.length - 1
        ? userinfo
        : `${userinfo.slice(0, colon)}:***`;
  return `${parts.scheme}://${shown}@${parts.host}`;
};

/**
 * Reads a `redis://` or `rediss://` URL: scheme, decoded credentials, the URL
 * without credentials (for the client to read host, port, database and
 * query options from) and the masked URL.
 *
 * @throws InvalidConnectionOptions when the scheme is not `redis` or `rediss`,
 *   or the host part does not parse; the message shows the URL masked.
 */
export const parseRedisUrl = (url: string): RedisUrlParts => {
  const masked = maskUrl(url);
  const parts = split(url);
  const scheme = parts?.scheme.toLowerCase();
  if (!parts || (scheme !== "redis" && scheme !== "rediss")) {
    throw new InvalidConnectionOptions(
      `not a Redis URL: ${JSON.stringify(masked)} (expected redis://[user:password@]host:port[/db], rediss://... for TLS, or redis+cluster://host:port[,host:port...] for a Redis Cluster)`,
    );
  }
  const bare = `${scheme}://${parts.host}`;
  try {
    new URL(bare);
  } catch {
    throw new InvalidConnectionOptions(
      `cannot parse the Redis URL ${JSON.stringify(masked)}: its host part ${JSON.stringify(parts.host)} is not valid`,
    );
  }
  const cred = parts.userinfo === undefined ? undefined : credentials(parts.userinfo);
  const username = cred && cred.user !== "" ? decode(cred.user) : undefined;
  const password =
    cred?.password !== undefined && cred.password !== "" ? decode(cred.password) : undefined;
  return {
    scheme,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    bare,
    masked,
  };
};

/** A node of a Redis Cluster to discover the others from. */
export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
}

/** A Redis Cluster URL split into its parts, credentials decoded. */
export interface RedisClusterUrlParts {
  /** `redis` or `rediss` (TLS), for every node of the cluster. */
  readonly scheme: "redis" | "rediss";
  /** ACL user name, percent-decoded; absent when the URL names none. */
  readonly username?: string;
  /** Password, percent-decoded (kept as written where it is not valid percent-encoding); absent when none. */
  readonly password?: string;
  /** The nodes listed, in order: ioredis discovers the others from the first that answers. */
  readonly seeds: ReadonlyArray<ClusterSeed>;
  /** The URL with the password masked, for messages: see {@link maskUrl}. */
  readonly masked: string;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;

/** Whether `url` names a Redis Cluster: `redis+cluster://...` or `rediss+cluster://...` (TLS). */
export const isClusterUrl = (url: string): boolean => CLUSTER_SCHEME.test(url);

/**
 * Reads a Redis Cluster URL, `redis+cluster://[user[:password]@]host:port[,host:port...]`
 * (`rediss+cluster://` for TLS), or, with `plain`, a `redis://`/`rediss://`
 * URL naming one node of the cluster. The credentials are read as
 * {@link parseRedisUrl} reads them and apply to every node. A port defaults
 * to 6379; an IPv6 address is written in brackets (`[::1]:7000`). A cluster
 * has one database: a path other than `/` or `/0` is refused, and so is a
 * query string.
 *
 * @throws InvalidConnectionOptions when the scheme is not a cluster scheme
 *   (or, with `plain`, not `redis`/`rediss`), no node is listed, a node does
 *   not parse, or a database or query is given; the message shows the URL masked.
 *
 * @example
 * parseClusterUrl("redis+cluster://weft:pw@10.0.0.1:7000,10.0.0.2:7000").seeds
 * // [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7000 }]
 */
export const parseClusterUrl = (
  url: string,
  opts: { readonly plain?: boolean } = {},
): RedisClusterUrlParts => {
  const masked = maskUrl(url);
  const parts = split(url);
  const named = parts?.scheme.toLowerCase();
  const scheme =
    named === "redis+cluster" || (opts.plain && named === "redis")
      ? "redis"
      : named === "rediss+cluster" || (opts.plain && named === "rediss")
        ? "rediss"
        : undefined;
  if (!parts || scheme === undefined) {
    throw new InvalidConnectionOptions(
      `not a Redis Cluster URL: ${JSON.stringify(masked)} (expected redis+cluster://[user:password@]host:port[,host:port...], or rediss+cluster://... for TLS)`,
    );
  }
  const bad = (why: string) =>
    new InvalidConnectionOptions(
      `cannot use the Redis Cluster URL ${JSON.stringify(masked)}: ${why}`,
    );
  const end = parts.host.search(/[/?#]/);
  const nodes = end < 0 ? parts.host : parts.host.slice(0, end);
  const rest = end < 0 ? "" : parts.host.slice(end);
  if (rest !== "" && rest !== "/" && rest !== "/0") {
    throw bad(
      `${JSON.stringify(rest)} is not allowed: a cluster has one database (0) and the URL takes no options`,
    );
  }
  const seeds = nodes.split(",").map((node): ClusterSeed => {
    let u: URL | undefined;
    try {
      u = node === "" ? undefined : new URL(`redis://${node}`);
    } catch {
      u = undefined;
    }
    if (!u || u.hostname === "" || u.pathname !== "" || u.username !== "" || u.password !== "") {
      throw bad(`the node ${JSON.stringify(node)} is not host:port`);
    }
    const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port: u.port === "" ? 6379 : Number(u.port) };
  });
  const cred = parts.userinfo === undefined ? undefined : credentials(parts.userinfo);
  const username = cred && cred.user !== "" ? decode(cred.user) : undefined;
  const password =
    cred?.password !== undefined && cred.password !== "" ? decode(cred.password) : undefined;
  return {
    scheme,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    seeds,
    masked,
  };
};

/**
 * The secrets a URL holds, in every form they may be printed in: as written,
 * percent-decoded, percent-encoded and JSON-escaped. Empty when the URL has no
 * password. Used with {@link redactSecrets}.
 */
export const urlSecrets = (url: string): ReadonlyArray<string> => {
  const at = url.lastIndexOf("@");
  const userinfo = split(url)?.userinfo ?? (at < 0 ? undefined : url.slice(0, at));
  if (userinfo === undefined) return [];
  const { password } = credentials(userinfo);
  return password === undefined || password === "" ? [] : secretForms(password, decode(password));
};

/** Every printed form of the given secrets (as given, encoded, JSON-escaped), longest first. */
export const secretForms = (...secrets: ReadonlyArray<string>): ReadonlyArray<string> => {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s === "") continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  return [...forms].sort((a, b) => b.length - a.length);
};

/**
 * Secrets shorter than this are not searched for in text: replacing every
 * `a` of a message because the password is `a` would make it unreadable.
 * The structural defences (no command arguments, masked URLs) still apply.
 */
export const MIN_SECRET_LENGTH = 4;

/**
 * `text` with every occurrence of each secret (of at least
 * {@link MIN_SECRET_LENGTH} characters) replaced by `***`.
 *
 * @example
 * redactSecrets("WRONGPASS for s3cret!", ["s3cret!"]) // "WRONGPASS for ***"
 */
export const redactSecrets = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text;
  for (const s of secrets) if (s.length >= MIN_SECRET_LENGTH) out = out.split(s).join("***");
  return out;
};
