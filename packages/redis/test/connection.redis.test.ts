/**
 * What a RedisStore does when its connection fails: every call fails with
 * StoreUnavailable saying what happened (never a raw ioredis error, never a
 * password), and the store reconnects by itself when Redis is back.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import {
  chain,
  createClient,
  handle,
  Schema,
  StoreUnavailable,
  startWorker,
  task,
} from "@weft/core";
import { freePort, type RedisServer, startRedisServer } from "@weft/testing";
import { Cluster, Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CONNECTION_SETTINGS, InvalidConnectionOptions, RedisStore } from "../src/index.ts";

const echo = task({ name: "echo", input: Schema.Int, output: Schema.Int });
/** A task on a queue no worker of these tests serves: its runs stay queued. */
const unserved = task({ name: "unserved", input: Schema.Int, output: Schema.Int, queue: "none" });
/** A password with every character that broke URL masking. */
const PASSWORD = "p@ss/w:rd#1%";

const servers: RedisServer[] = [];
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => undefined);
  for (const s of servers.splice(0)) await s.stop();
});

/** A private Redis that requires PASSWORD, and an admin connection to it. */
const passwordServer = async (opts: { port?: number } = {}) => {
  const server = await startRedisServer(["--requirepass", PASSWORD], opts);
  servers.push(server);
  const admin = new Redis({ port: server.port, host: "127.0.0.1", password: PASSWORD });
  admin.on("error", () => undefined); // it loses its server too
  closers.push(async () => admin.disconnect());
  return { server, admin };
};

const connect = async (url: string) => {
  const store = await RedisStore.connect(url, { prefix: "conn" });
  closers.push(() => store.close());
  return store;
};

/** Everything an error shows when printed or logged, nested causes included. */
const shown = (e: unknown) => `${inspect(e, { depth: 10 })}\n${JSON.stringify(e)}`;

const rejection = (p: Promise<unknown>) =>
  p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${inspect(v)}`);
    },
    (e: unknown) => e,
  );

describe("connecting", () => {
  it("reads an unencoded or a percent-encoded awkward password", async () => {
    const { server } = await passwordServer();
    for (const written of [PASSWORD, encodeURIComponent(PASSWORD)]) {
      const store = await connect(`redis://:${written}@127.0.0.1:${server.port}`);
      const run = await createClient(store).submit(echo.si(1));
      expect((await store.getRun(run.runId))?.run.status).toBe("running");
      expect(store.name).toBe(`redis://:***@127.0.0.1:${server.port}`);
    }
  });

  it("says authentication failed for a wrong password or none, never showing it", async () => {
    const { server } = await passwordServer();
    const wrong = await rejection(
      RedisStore.connect(
        `redis://app:${encodeURIComponent("Wr0ng@pass")}@127.0.0.1:${server.port}`,
      ),
    );
    expect(wrong).toBeInstanceOf(StoreUnavailable);
    expect((wrong as StoreUnavailable).failure).toBe("auth");
    expect((wrong as StoreUnavailable).message).toMatch(
      /^authentication failed at the store at redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/,
    );
    expect(shown(wrong)).not.toContain("Wr0ng");

    const none = await rejection(RedisStore.connect(`redis://127.0.0.1:${server.port}`));
    expect((none as StoreUnavailable).failure).toBe("auth");
    expect((none as StoreUnavailable).message).toMatch(/^authentication failed .*NOAUTH/);
  });

  it("runs as an ACL user with the grants docs/operations.md lists, and names a missing one", async () => {
    const { server, admin } = await passwordServer();
    // the rule docs/operations.md gives, for the key prefix "conn"
    const grants = ["resetkeys", "~conn:*", "resetchannels", "&conn:*", "-@all"];
    // +@pubsub: cancel.lua PUBLISHes the signal (without it a cancel fails), workers SUBSCRIBE
    grants.push("+@read", "+@write", "+@scripting", "+@connection", "+@blocking", "+@pubsub");
    grants.push("-@dangerous", "+info");
    await admin.acl("SETUSER", "weft", "on", ">s3cret-weft", ...grants);
    const reader = ["on", ">s3cret-reader", "~*", "&*", "+@all", "-@scripting"];
    await admin.acl("SETUSER", "reader", ...reader);
    const store = await connect(`redis://weft:s3cret-weft@127.0.0.1:${server.port}`);
    const worker = startWorker({
      store,
      handlers: [handle(echo, (n) => n + 1)],
      logger: pino({ level: "silent" }),
      idleMs: 50,
    });
    try {
      const run = await createClient(store).submit(chain(echo.si(1), echo.s(), echo.s()), {
        idempotencyKey: "acl",
      });
      expect(await run.result({ timeout: 20_000 })).toBe(4);
      expect(
        await store.acquireLock({ name: "acl", owner: "me", ttlMs: 1_000, now: Date.now() }),
      ).toBeGreaterThan(0);
      expect((await store.listRuns({ limit: 5 })).map((r) => r.id)).toEqual([run.runId]);
      const queued = await createClient(store).submit(unserved.si(5));
      expect(await store.cancel(queued.runId, { now: Date.now() })).toBe(true);
    } finally {
      await worker.stop();
    }

    const limited = await connect(`redis://reader:s3cret-reader@127.0.0.1:${server.port}`);
    const e = await rejection(createClient(limited).submit(echo.si(2)));
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("permission");
    expect((e as StoreUnavailable).message).toMatch(
      /^the store at redis:\/\/reader:\*\*\*@127\.0\.0\.1:\d+ refused a command to this user: NOPERM/,
    );
    expect(shown(e)).not.toContain("s3cret-reader");
  });

  it("connects through a Unix socket path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-sock-"));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const socket = join(dir, "redis.sock");
    servers.push(await startRedisServer(["--unixsocket", socket]));
    const store = await connect(socket);
    expect(store.name).toBe(socket);
    await createClient(store).submit(echo.si(1));
    expect(await rejection(RedisStore.connect(socket, { tls: {} }))).toBeInstanceOf(
      InvalidConnectionOptions,
    );
  });

  it("refuses a database the server does not have, instead of writing to database 0", async () => {
    const server = await startRedisServer(["--databases", "4"]);
    servers.push(server);
    const url = `redis://127.0.0.1:${server.port}`;
    for (const written of [`${url}/9`, `${url}?db=9`]) {
      const e = await rejection(RedisStore.connect(written));
      expect(e).toBeInstanceOf(InvalidConnectionOptions);
      expect((e as Error).message).toMatch(
        /names database 9, which the server refuses: .*out of range/,
      );
    }
    // a database it has is used: the run's keys are there and not in database 0
    const store = await connect(`${url}/3`);
    await createClient(store).submit(echo.si(1));
    const admin = new Redis(`${url}/0`);
    closers.push(async () => admin.disconnect());
    expect(await admin.dbsize()).toBe(0);
    await admin.select(3);
    expect(await admin.dbsize()).toBeGreaterThan(0);
  });

  it("refuses a target that is neither a URL nor an ioredis instance, naming what it got", async () => {
    // what a JavaScript caller may write: connect({ url }), connect(undefined)
    const wrong: unknown[] = [{ url: "redis://localhost:6379" }, undefined, 6379];
    const messages = [];
    for (const target of wrong) {
      const e = await rejection(RedisStore.connect(target as string));
      expect(e).toBeInstanceOf(InvalidConnectionOptions);
      messages.push((e as Error).message.replace(/^.*; it got /, ""));
    }
    expect(messages).toEqual(["an object with keys url", "undefined", "number 6379"]);
  });

  it("wraps an ioredis instance: its failures are StoreUnavailable too, named by host and port", async () => {
    const { server } = await passwordServer();
    // with Weft's connection settings, or a call would wait through ioredis's default 20 retries
    const redis = new Redis({
      host: "127.0.0.1",
      port: server.port,
      password: PASSWORD,
      ...CONNECTION_SETTINGS,
    });
    closers.push(async () => redis.disconnect());
    const store = await RedisStore.connect(redis, { prefix: "wrapped" });
    expect(store.name).toBe(`redis://127.0.0.1:${server.port}`);
    await createClient(store).submit(echo.si(1));
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const e = await rejection(store.listRuns({ limit: 1 }));
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).message).toMatch(
      new RegExp(`^cannot reach the store at redis://127\\.0\\.0\\.1:${server.port}: `),
    );
    expect(shown(e)).not.toContain("w:rd#1");
    await store.close(); // not the instance's owner: leaves it open
    expect(redis.status).not.toBe("end");
  });

  it("names an unreachable Redis Cluster: connection refused, the password masked", async () => {
    const url = `redis+cluster://app:s3cret-cl@127.0.0.1:${await freePort()}`;
    const e = await rejection(RedisStore.connect(url, { connectTimeoutMs: 3_000 }));
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("unreachable");
    expect((e as StoreUnavailable).message).toMatch(
      /^cannot reach the store at redis\+cluster:\/\/app:\*\*\*@127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED/,
    );
    expect(shown(e)).not.toContain("s3cret-cl");
  });

  it("refuses options that cannot work, before connecting, saying which and why", async () => {
    const url = "redis://127.0.0.1:1"; // never reached
    const cases: Array<[Parameters<typeof RedisStore.connect>[1], RegExp]> = [
      [{ shards: 0 }, /^shards must be an integer from 1 to 1000, got 0$/],
      [{ shards: 2.5 }, /^shards must be an integer from 1 to 1000, got 2\.5$/],
      [
        { replicationTimeoutMs: 0 },
        /^replicationTimeoutMs must be a positive integer \(ms\), got 0$/,
      ],
      [
        { durability: "quorum" as "replicated" },
        /^durability must be "primary" or "replicated", got "quorum"$/,
      ],
      // from JavaScript: not an object, a misspelt option, a bad prefix or cluster flag
      [null as never, /^RedisStore.connect's options must be an object .*, got null$/],
      [{ shard: 4 } as never, /^unknown option "shard"; RedisStore.connect takes prefix, shards,/],
      [{ prefix: 42 } as never, /^prefix must be a non-empty string .*, got number 42$/],
      [{ prefix: "" }, /^prefix must be a non-empty string/],
      [{ prefix: "app{1}" }, /^prefix must be a non-empty string without braces/],
      [{ cluster: "yes" } as never, /^cluster must be true or false, got/],
      // 0 would loop for ever (a chunk of no nodes, a budget that never moves work on)
      [{ submitChunk: 0 }, /^submitChunk must be an integer >= 1, got number 0$/],
      [{ budget: 0 }, /^budget must be an integer >= 1, got number 0$/],
      [{ budget: 2.5 }, /^budget must be an integer >= 1, got number 2\.5$/],
      [{ abandonAfterMs: -1 }, /^abandonAfterMs must be an integer >= 1 \(ms\), got number -1$/],
      [{ connectTimeoutMs: 0 }, /^connectTimeoutMs must be an integer >= 1 \(ms\), got number 0$/],
      [{ functions: "yes" } as never, /^functions must be true or false, got a string "yes"$/],
      [{ onReplicationShortfall: 5 } as never, /^onReplicationShortfall must be a function/],
    ];
    for (const [opts, message] of cases) {
      const e = await rejection(RedisStore.connect(url, opts));
      expect(e).toBeInstanceOf(InvalidConnectionOptions);
      expect((e as Error).message).toMatch(message);
    }
    const redis = new Redis({ port: 1, lazyConnect: true });
    const e = await rejection(RedisStore.connect(redis, { cluster: true }));
    expect(e).toBeInstanceOf(InvalidConnectionOptions);
    expect((e as Error).message).toMatch(/pass an ioredis Cluster instance/);
    const c = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    expect(
      await rejection(RedisStore.connect(c, { tls: { rejectUnauthorized: false } })),
    ).toBeInstanceOf(InvalidConnectionOptions);
    expect(await rejection(RedisStore.connect("redis+cluster://127.0.0.1:1/2"))).toBeInstanceOf(
      InvalidConnectionOptions,
    );
  });
});

describe("a healthy connection", () => {
  it("waits for work longer than the command timeout without failing", async () => {
    const { server } = await passwordServer();
    const store = await connect(`redis://:${PASSWORD}@127.0.0.1:${server.port}`);
    // one blocking read is capped under commandTimeout; a longer wait is not an error
    const waited = store.waitForWork(["default"], CONNECTION_SETTINGS.commandTimeout + 5_000);
    await expect(waited).resolves.toBeUndefined();
  });
});

describe("while Redis is down", () => {
  it("fails a submit with StoreUnavailable, and works again once Redis is back", async () => {
    const first = await passwordServer();
    const port = first.server.port;
    const url = `redis://:${PASSWORD}@127.0.0.1:${port}`;
    const store = await connect(url);
    const client = createClient(store);
    await client.submit(echo.si(1));

    await first.server.stop();
    servers.splice(servers.indexOf(first.server), 1);
    for (const call of [
      () => client.submit(echo.si(2)),
      () => store.claim({ workerId: "w", queues: ["default"], max: 1, leaseMs: 1_000, now: 0 }),
      () => store.listRuns({ limit: 5 }),
      () => store.waitForWork(["default"], 100),
    ]) {
      const e = await rejection(call());
      expect(e).toBeInstanceOf(StoreUnavailable);
      expect((e as StoreUnavailable).failure).toBe("unreachable");
      expect((e as StoreUnavailable).message).toMatch(
        new RegExp(`^cannot reach the store at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: `),
      );
      const cause = (e as StoreUnavailable).cause as { command?: unknown } | undefined;
      expect(cause).toBeInstanceOf(Error);
      if (cause?.command !== undefined)
        expect(Object.keys(cause.command as object)).toEqual(["name"]);
      expect(shown(e)).not.toContain("w:rd#1");
    }

    const ready = once(store.redis, "ready");
    await passwordServer({ port });
    await ready; // reconnected by itself
    const run = await client.submit(echo.si(3));
    expect((await store.getRun(run.runId))?.run.status).toBe("running");
  });

  it("says authentication failed when the password changes under a connected store", async () => {
    const { server, admin } = await passwordServer();
    const store = await connect(`redis://:${PASSWORD}@127.0.0.1:${server.port}`);
    const client = createClient(store);
    await client.submit(echo.si(1));

    const dropped = once(store.redis, "reconnecting");
    await admin.config("SET", "requirepass", "an0ther-passw0rd");
    await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    await dropped;
    const e = await rejection(client.submit(echo.si(2)));
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("auth");
    expect((e as StoreUnavailable).message).toMatch(
      /^authentication failed at the store .*WRONGPASS/,
    );
    expect(shown(e)).not.toContain("w:rd#1");
    expect(shown(e)).not.toContain(encodeURIComponent(PASSWORD));
  });
});
