/**
 * Schedules end to end on a private Redis: `weft schedules add`, three
 * `weft beat` processes (through `dist/bin.js`, the built `weft`) firing the
 * same schedule, `weft runs --tag --json` reading back one run per tick,
 * then `schedules list --json`, `pause`, `resume`, `trigger` and `remove`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { RedisStore } from "@weft/redis";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScheduleView } from "../src/schedules.ts";
import { captureCli } from "./support.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const weft = fileURLToPath(new URL("../dist/bin.js", import.meta.url));

interface RunJson {
  readonly id: string;
  readonly status: string;
  readonly tags: ReadonlyArray<string>;
  readonly createdAt: number;
}

describe("weft beat and weft schedules on a real Redis", () => {
  let redis: RedisServer;
  const beats: ChildProcess[] = [];
  let log = "";

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    for (const b of beats) if (b.exitCode === null && b.signalCode === null) b.kill("SIGKILL");
    await redis?.stop();
  });

  const cli = (argv: ReadonlyArray<string>) =>
    captureCli([...argv, "--redis", redis.url, "--prefix", "sched"]);

  const runsTagged = async (tag: string): Promise<RunJson[]> => {
    const r = await cli(["runs", "--tag", tag, "--json", "-n", "1000"]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as RunJson[];
  };

  it("three beats fire each tick of a schedule once; list, pause, resume, trigger, remove", async () => {
    const added = await cli([
      "schedules",
      "add",
      "tick",
      "--every",
      "1000",
      "--task",
      "math.add",
      "--input",
      '{"a":1,"b":2}',
      "--overlap",
      "allow",
    ]);
    expect(added).toMatchObject({ code: 0, stdout: "schedule tick added\n" });
    const bad = await cli(["schedules", "add", "bad", "--cron", "61 * * * *", "--task", "x"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid schedule "bad": cron');
    const neither = await cli(["schedules", "add", "bad", "--task", "x"]);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain("give exactly one of --cron and --every");

    for (let i = 0; i < 3; i++) {
      const child = spawn(
        process.execPath,
        [weft, "beat", "--redis", redis.url, "--prefix", "sched", "--poll", "200"],
        { cwd: pkgDir, env: { ...process.env, WEFT_LOG_LEVEL: "warn" }, stdio: "pipe" },
      );
      child.stdout.on("data", (d) => {
        log += d;
      });
      child.stderr.on("data", (d) => {
        log += d;
      });
      beats.push(child);
    }
    // wait for the real condition: five ticks fired
    let runs: RunJson[] = [];
    while (runs.length < 5) {
      runs = await runsTagged("schedule:tick");
      if (beats.some((b) => b.exitCode !== null)) throw new Error(`a beat exited: ${log}`);
      if (runs.length < 5) await new Promise((r) => setTimeout(r, 100));
    }
    const exits = beats.map((b) => once(b, "exit"));
    for (const b of beats) b.kill("SIGTERM");
    for (const [code, signal] of await Promise.all(exits)) {
      expect({ code, signal }, log).toEqual({ code: 0, signal: null });
    }

    runs = await runsTagged("schedule:tick");
    const ticks = runs
      .map((r) => Number(r.tags.find((t) => t.startsWith("tick:"))!.slice(5)))
      .sort((a, b) => a - b);
    // one run per tick, no tick missed between the first and the last
    expect(new Set(ticks).size).toBe(ticks.length);
    ticks.forEach((t, i) => {
      expect(t % 1000).toBe(0);
      if (i > 0) expect(t - ticks[i - 1]!).toBe(1000);
    });
    expect(runs[0]!.tags).toEqual(["schedule:tick", expect.stringMatching(/^tick:\d+$/)]);

    const listed = await cli(["schedules", "list", "--json"]);
    const views = JSON.parse(listed.stdout) as ScheduleView[];
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({ id: "tick", everyMs: 1000, overlap: "allow", paused: false });
    expect(views[0]!.lastRun?.tick).toBe(ticks[ticks.length - 1]);
    expect(views[0]!.lastRun?.status).toBe("running");
    const table = await cli(["schedules", "list"]);
    expect(table.stdout).toMatch(/^tick +every 1000 ms +math\.add +allow /m);

    expect((await cli(["schedules", "pause", "tick"])).stdout).toBe("schedule tick paused\n");
    expect((await cli(["schedules", "list"])).stdout).toMatch(/allow +paused/);
    expect((await cli(["schedules", "resume", "tick"])).stdout).toBe("schedule tick resumed\n");

    const trig = await cli(["schedules", "trigger", "tick"]);
    expect(trig.code, trig.stderr).toBe(0);
    const store = await RedisStore.connect(redis.url, { prefix: "sched" });
    try {
      const snap = await store.getRun(trig.stdout.trim());
      expect(snap?.run.tags).toContain("trigger");
    } finally {
      await store.close();
    }

    expect((await cli(["schedules", "remove", "tick"])).stdout).toBe("schedule tick removed\n");
    const again = await cli(["schedules", "remove", "tick"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no schedule "tick"');
    expect((await cli(["schedules", "list"])).stdout).toBe("no schedules\n");
  });
});
