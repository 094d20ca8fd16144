import { inspect } from "node:util";
import { StoreUnavailable } from "@weft/core";
import { ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { classify, sanitizeError, storeError, urlSecrets } from "../src/index.ts";

const PASSWORD = "p@ss/w:rd#1%";
const URL_ = `redis://app:${encodeURIComponent(PASSWORD)}@127.0.0.1:6390`;
const secrets = urlSecrets(URL_);

/** An error as ioredis builds it: the command it answers attached, with its arguments. */
const withCommand = (e: Error, name: string, args: unknown[]): Error =>
  Object.assign(e, { command: { name, args } });

const reply = (message: string): Error => new ReplyError(message) as Error;

const named = (name: string, message: string): Error => {
  const e = new Error(message);
  Object.defineProperty(e, "name", { value: name });
  return e;
};

const coded = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe("sanitizeError", () => {
  it("drops command arguments everywhere errors nest, keeps command names, masks secrets", () => {
    const hello = withCommand(
      reply("WRONGPASS invalid username-password pair or user is disabled."),
      "hello",
      ["3", "AUTH", "app", PASSWORD],
    );
    const previous = withCommand(reply("ERR previous"), "auth", ["app", PASSWORD]);
    const node = withCommand(reply("ERR node"), "cluster", ["slots", PASSWORD]);
    const top = withCommand(new Error(`gave up (password was ${PASSWORD})`), "evalsha", [
      "sha",
      1,
      "key",
      PASSWORD,
    ]);
    Object.assign(top, {
      cause: hello,
      previousErrors: [previous],
      lastNodeError: node,
      errors: [new Error(`in an aggregate: ${encodeURIComponent(PASSWORD)}`)],
    });

    expect(sanitizeError(top, secrets)).toBe(top);
    const shown = [inspect(top, { depth: 10 }), JSON.stringify(top), top.stack ?? ""].join("\n");
    expect(shown).not.toContain("w:rd#1");
    expect(shown).not.toContain(encodeURIComponent(PASSWORD));
    expect((top as unknown as { command: unknown }).command).toEqual({ name: "evalsha" });
    expect((hello as unknown as { command: unknown }).command).toEqual({ name: "hello" });
    expect((previous as unknown as { command: unknown }).command).toEqual({ name: "auth" });
    expect((node as unknown as { command: unknown }).command).toEqual({ name: "cluster" });
    expect(top.message).toBe("gave up (password was ***)");
  });

  it("ends on cycles and leaves non-errors alone", () => {
    const e = withCommand(new Error("loop"), "get", ["k"]);
    Object.assign(e, { cause: e });
    expect(sanitizeError(e)).toBe(e);
    expect(sanitizeError("text")).toBe("text");
    expect(sanitizeError(undefined)).toBeUndefined();
  });
});

describe("classify", () => {
  it.each([
    [coded("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:6390"), "unreachable"],
    [coded("ENOTFOUND", "getaddrinfo ENOTFOUND nowhere"), "unreachable"],
    [coded("ETIMEDOUT", "connect ETIMEDOUT"), "unreachable"],
    [
      named("MaxRetriesPerRequestError", "Reached the max retries per request limit"),
      "unreachable",
    ],
    [new Error("Connection is closed."), "unreachable"],
    [new Error("Command timed out"), "unreachable"],
    [named("ClusterAllFailedError", "Failed to refresh slots cache."), "unreachable"],
    [reply("WRONGPASS invalid username-password pair or user is disabled."), "auth"],
    [reply("NOAUTH Authentication required."), "auth"],
    [reply("NOPERM this user has no permissions to run the 'evalsha' command"), "permission"],
    [
      reply(
        "ERR The user executing the script can't run this command or subcommand script: 49cc, on @user_script:555.",
      ),
      "permission",
    ],
    [reply("LOADING Redis is loading the dataset in memory"), "unavailable"],
    [reply("CLUSTERDOWN The cluster is down"), "unavailable"],
    [reply("READONLY You can't write against a read only replica."), "unavailable"],
    [reply("TRYAGAIN Multiple keys request during rehashing of slot"), "unavailable"],
    [reply("NOREPLICAS Not enough good replicas to write."), "unavailable"],
    [
      reply("UNBLOCKED force unblock from blocking operation, instance state changed"),
      "unavailable",
    ],
    [
      new Error("Too many Cluster redirections. Last error: Error: Connection is closed."),
      "unavailable",
    ],
    [new Error("Cluster isn't ready and enableOfflineQueue options is false"), "unreachable"],
    [new Error("Cluster is ended."), "unreachable"],
    [reply("CROSSSLOT Keys in request don't hash to the same slot"), undefined],
    [reply("MOVED 3999 127.0.0.1:7001"), "unavailable"],
    [reply("ASK 3999 127.0.0.1:7002"), "unavailable"],
    [coded("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"), "tls"],
    [coded("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match"), "tls"],
    [reply("ERR Error running script (call to f_1): @user_script:3: oops"), undefined],
    [new TypeError("x is not a function"), undefined],
  ])("%s → %s", (error, failure) => {
    expect(classify(error)).toBe(failure);
  });
});

describe("storeError", () => {
  const ctx = { url: "redis://app:***@127.0.0.1:6390", secrets };

  it("turns a connection failure into StoreUnavailable, cause sanitised", () => {
    const cause = withCommand(coded("ECONNREFUSED", "connect ECONNREFUSED"), "evalsha", [PASSWORD]);
    Object.assign(cause, { address: "127.0.0.1", port: 6390 });
    const e = storeError(cause, ctx) as StoreUnavailable;
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect(e.failure).toBe("unreachable");
    expect(e.message).toBe(
      "cannot reach the store at redis://app:***@127.0.0.1:6390: connection refused (ECONNREFUSED 127.0.0.1:6390)",
    );
    expect(e.cause).toBe(cause);
    expect(inspect(e, { depth: 10 })).not.toContain("w:rd#1");
  });

  it("hints at rediss:// for a reset while connecting, not for one on a connection that was ready (CLIENT KILL)", () => {
    const reset = () => coded("ECONNRESET", "read ECONNRESET");
    expect((storeError(reset(), ctx) as StoreUnavailable).message).toMatch(
      /; if the server expects TLS, use a rediss:\/\/ URL$/,
    );
    const live = storeError(reset(), { ...ctx, connected: true }) as StoreUnavailable;
    expect(live.failure).toBe("unreachable");
    expect(live.message).toMatch(/connection reset \(ECONNRESET\)$/);
  });

  it("names a refused password when a command only gave up after it", () => {
    const gaveUp = named("MaxRetriesPerRequestError", "Reached the max retries per request limit");
    const last = withCommand(
      reply("WRONGPASS invalid username-password pair or user is disabled."),
      "hello",
      ["3", "AUTH", "app", PASSWORD],
    );
    const e = storeError(gaveUp, {
      ...ctx,
      lastConnectionError: sanitizeError(last, secrets),
    }) as StoreUnavailable;
    expect(e.failure).toBe("auth");
    expect(e.message).toMatch(
      /^authentication failed at the store at redis:\/\/app:\*\*\*@127\.0\.0\.1:6390: WRONGPASS/,
    );
    expect(e.message).not.toContain("cannot reach");
  });

  it("names what a cluster node met when the cluster client only says it could not read the slot map", () => {
    const refused = withCommand(
      reply("WRONGPASS invalid username-password pair or user is disabled."),
      "auth",
      ["app", PASSWORD],
    );
    const gaveUp = Object.assign(named("ClusterAllFailedError", "Failed to refresh slots cache."), {
      lastNodeError: refused,
    });
    const e = storeError(gaveUp, {
      url: "redis+cluster://app:***@10.0.0.1:7000,10.0.0.2:7000",
      secrets,
    }) as StoreUnavailable;
    expect(e.failure).toBe("auth");
    expect(e.message).toMatch(
      /^authentication failed at the store at redis\+cluster:\/\/app:\*\*\*@10\.0\.0\.1:7000,10\.0\.0\.2:7000: WRONGPASS/,
    );
    expect(inspect(e, { depth: 10 })).not.toContain("w:rd#1");
    const down = Object.assign(named("ClusterAllFailedError", "Failed to refresh slots cache."), {
      lastNodeError: Object.assign(coded("ECONNREFUSED", "connect ECONNREFUSED"), {
        address: "10.0.0.1",
        port: 7000,
      }),
    });
    expect((storeError(down, ctx) as StoreUnavailable).message).toMatch(
      /: connection refused \(ECONNREFUSED 10\.0\.0\.1:7000\)$/,
    );
  });

  it("returns any other error itself, without command arguments", () => {
    const script = withCommand(reply("ERR Error running script"), "evalsha", ["sha", PASSWORD]);
    expect(storeError(script, ctx)).toBe(script);
    expect((script as unknown as { command: unknown }).command).toEqual({ name: "evalsha" });
    const unavailable = new StoreUnavailable({ url: "u", reason: "r" });
    expect(storeError(unavailable, ctx)).toBe(unavailable);
  });
});
