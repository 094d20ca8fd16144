/**
 * `rediss://` with a private CA, on a real TLS redis-server (its CA and
 * certificate generated with openssl for this test).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, Schema, StoreUnavailable, task } from "@weft/core";
import { startTlsRedisServer, type TlsRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidConnectionOptions, RedisStore, type RedisStoreOptions } from "../src/index.ts";

const echo = task({ name: "echo", input: Schema.Int, output: Schema.Int });
const PASSWORD = "tl$-p@ss/word#9";

let server: TlsRedisServer;
let url: string;
beforeAll(async () => {
  server = await startTlsRedisServer(["--requirepass", PASSWORD]);
  url = `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.tlsPort}`;
});
afterAll(async () => {
  await server?.stop();
});

/** Connects, submits a run and reads it back over TLS. */
const roundTrip = async (target: string, opts: RedisStoreOptions) => {
  const store = await RedisStore.connect(target, { prefix: "tls", ...opts });
  try {
    const run = await createClient(store).submit(echo.si(7));
    expect((await store.getRun(run.runId))?.run.status).toBe("running");
    expect(store.name).toBe(`rediss://:***@127.0.0.1:${server.tlsPort}`);
  } finally {
    await store.close();
  }
};

const failure = (target: string, opts: RedisStoreOptions) =>
  RedisStore.connect(target, { connectTimeoutMs: 5_000, ...opts }).then(
    async (s) => {
      await s.close();
      throw new Error("connected, but should not have");
    },
    (e: unknown) => e,
  );

describe("rediss:// with a private CA", () => {
  it("connects with the CA as a file, or as PEM text", async () => {
    await roundTrip(url, { tls: { caFile: server.caFile } });
    await roundTrip(url, { tls: { ca: server.ca } });
  });

  it("checks the certificate's name: `servername` names the one it carries", async () => {
    await roundTrip(url, { tls: { caFile: server.caFile, servername: "redis.test" } });
    const e = await failure(url, { tls: { caFile: server.caFile, servername: "other.test" } });
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("tls");
    expect((e as StoreUnavailable).message).toMatch(
      /^TLS handshake with the store at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ failed: .*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  it("refuses the server without the CA, saying the TLS handshake failed", async () => {
    const e = await failure(url, {});
    expect(e).toBeInstanceOf(StoreUnavailable);
    expect((e as StoreUnavailable).failure).toBe("tls");
    expect((e as StoreUnavailable).message).toMatch(/^TLS handshake with the store at .* failed/);
    expect((e as StoreUnavailable).message).not.toContain("w:rd#9");
  });

  it("accepts any certificate with rejectUnauthorized: false", async () => {
    await roundTrip(url, { tls: { rejectUnauthorized: false } });
  });

  it("names bad TLS settings before connecting", async () => {
    const missing = await failure(url, { tls: { caFile: join(server.caFile, "..", "nope.pem") } });
    expect(missing).toBeInstanceOf(InvalidConnectionOptions);
    expect((missing as Error).message).toMatch(
      /^cannot read the TLS CA file ".*nope\.pem": ENOENT/,
    );

    const notPem = join(server.caFile, "..", "not-pem.txt");
    writeFileSync(notPem, "hello");
    const bad = await failure(url, { tls: { caFile: notPem } });
    expect((bad as Error).message).toMatch(/holds no PEM certificate/);
    expect(await failure(url, { tls: { ca: "/etc/ssl/ca.pem" } })).toBeInstanceOf(
      InvalidConnectionOptions,
    );

    const plain = await failure(url.replace("rediss:", "redis:"), {
      tls: { caFile: server.caFile },
    });
    expect((plain as Error).message).toBe(
      `TLS options (a CA, a server name) need a rediss:// URL, got redis://:***@127.0.0.1:${server.tlsPort}`,
    );
  });
});
