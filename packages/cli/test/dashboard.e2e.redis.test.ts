/**
 * `weft dashboard` on a private Redis: it serves the API until stopped,
 * and refuses a non-loopback host without --auth.
 */
import { createClient } from "@weft/core";
import { deferred } from "@weft/core/store";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/index.ts";
import { double } from "./fixtures/tasks.ts";
import { captureCli } from "./support.ts";

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe("weft dashboard", () => {
  it("serves the runs of the store until stopped", async () => {
    const store = await RedisStore.connect(redis.url, { prefix: "dash" });
    try {
      const run = await createClient(store).submit(double.si(3));
      const stop = new AbortController();
      const listening = deferred<string>();
      let out = "";
      const done = runCli(
        ["dashboard", "--port", "0", "--redis", redis.url, "--prefix", "dash", "--read-only"],
        {
          stdout: (s) => {
            out += s;
            const url = /dashboard on (\S+)/.exec(out)?.[1];
            if (url) listening.resolve(url);
          },
          stderr: (s) => listening.reject(new Error(s)),
          env: {},
          signal: stop.signal,
        },
      );
      const url = await listening.promise;
      expect(out).toContain("(read-only)");
      const runs = (await (await fetch(new URL("/api/runs", url))).json()) as {
        runs: Array<{ id: string }>;
      };
      expect(runs.runs.map((r) => r.id)).toEqual([run.runId]);
      const cancel = await fetch(new URL(`/api/runs/${run.runId}/cancel`, url), {
        method: "POST",
        headers: { "X-Weft-Action": "1" },
      });
      expect(cancel.status).toBe(403);
      stop.abort();
      expect(await done).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("refuses a non-loopback host without --auth", async () => {
    const r = await captureCli(["dashboard", "--host", "0.0.0.0", "--redis", redis.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--auth");
  });
});
