/**
 * `weft dashboard` on a private Redis: it serves the API until stopped,
 * and refuses a non-loopback host without --auth.
 */
import { createClient, upsertSchedule } from "@weft/core";
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

  it("weft worker --metrics-port serves the worker's attempt metrics", async () => {
    const store = await RedisStore.connect(redis.url, { prefix: "wmetrics" });
    const stop = new AbortController();
    const serving = deferred<string>();
    const done = runCli(
      [
        "worker",
        "test/fixtures/handlers.ts",
        "--metrics-port",
        "0",
        "--trace",
        "--redis",
        redis.url,
        "--prefix",
        "wmetrics",
      ],
      {
        stdout: () => undefined,
        stderr: (s) => serving.reject(new Error(s)),
        log: (line) => {
          const url = (JSON.parse(line) as { url?: string }).url;
          if (url) serving.resolve(url);
        },
        env: {},
        signal: stop.signal,
      },
    );
    try {
      const url = await serving.promise;
      const run = await createClient(store).submit(double.si(3));
      expect(await run.result({ timeout: 10_000 })).toBe(6);
      const text = await (await fetch(url)).text();
      expect(text).toContain('weft_attempts_total{task="math.double",outcome="succeeded"} 1');
      expect(text).toContain("weft_attempt_duration_seconds_bucket");
      expect((await fetch(new URL("/other", url))).status).toBe(404);
    } finally {
      stop.abort();
      expect(await done).toBe(0);
      await store.close();
    }
  });

  it("weft beat --metrics-port serves the beat's schedule lag metrics", async () => {
    const store = await RedisStore.connect(redis.url, { prefix: "bmetrics" });
    await upsertSchedule(store, {
      id: "each-second",
      everyMs: 1_000,
      overlap: "allow",
      target: { task: "math.double", input: 3 },
    });
    const stop = new AbortController();
    const serving = deferred<string>();
    // "tick fired" is logged just before the beat's onFire hook, in the same turn
    const fired = deferred<void>();
    const done = runCli(
      [
        "beat",
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--redis",
        redis.url,
        "--prefix",
        "bmetrics",
      ],
      {
        stdout: () => undefined,
        stderr: (s) => serving.reject(new Error(s)),
        log: (line) => {
          const entry = JSON.parse(line) as { url?: string; msg?: string; schedule?: string };
          if (entry.url) serving.resolve(entry.url);
          if (entry.msg === "tick fired" && entry.schedule === "each-second") fired.resolve();
        },
        env: {},
        signal: stop.signal,
      },
    );
    try {
      const url = await serving.promise;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      await fired.promise;
      const text = await (await fetch(url)).text();
      expect(text).toMatch(/^weft_schedule_fires_total\{schedule="each-second"\} [1-9]\d*$/m);
      expect(text).toMatch(/^weft_schedule_lag_seconds_count\{schedule="each-second"\} [1-9]\d*$/m);
      expect((await fetch(new URL("/other", url))).status).toBe(404);
    } finally {
      stop.abort();
      expect(await done).toBe(0);
      await store.close();
    }
  });

  it("refuses a non-loopback host without --auth", async () => {
    const r = await captureCli(["dashboard", "--host", "0.0.0.0", "--redis", redis.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--auth");
  });
});
