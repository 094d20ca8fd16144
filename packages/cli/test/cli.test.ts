import { fileURLToPath } from "node:url";
import {
  chain,
  createClient,
  OVERLAP_POLICIES,
  type RunSnapshot,
  type Store,
  StoreUnavailable,
} from "@weft/core";
import { deferred, encode } from "@weft/core/store";
import { maskUrl as redisMaskUrl } from "@weft/redis";
import { MemoryStore } from "@weft/testing";
import { describe, expect, it } from "vitest";
import { type CliIo, maskUrl, type StoreTarget } from "../src/index.ts";
import { add, boom, count, double } from "./fixtures/tasks.ts";
import { captureCli, runToEnd, T0 } from "./support.ts";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** Runs the CLI with captured output, on `store` when given (never Redis). */
const cli = (argv: ReadonlyArray<string>, io: CliIo & { store?: Store } = {}) => {
  const { store, ...rest } = io;
  return captureCli(argv, {
    cwd: fixtures,
    ...(store === undefined
      ? { openStore: () => Promise.reject(new Error("no store in this test")) }
      : { openStore: async () => store }),
    ...rest,
  });
};

describe("parsing", () => {
  it("prints help listing every command, exit 0", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    for (const cmd of ["worker", "submit", "inspect", "runs", "cancel"])
      expect(r.stdout).toContain(cmd);
    const w = await cli(["worker", "--help"]);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain("--queues <names>");
    expect(w.stdout).toContain('(default: "weft")');
  });

  it("prints the version", async () => {
    const r = await cli(["--version"]);
    expect(r).toMatchObject({ code: 0, stdout: "0.1.0\n" });
  });

  it("rejects an unknown command with exit 1", async () => {
    const r = await cli(["inspcet", "abc"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: unknown command 'inspcet'");
    expect(r.stderr).toContain("(Did you mean inspect?)");
  });

  it("rejects a missing argument and a bad number", async () => {
    const a = await cli(["inspect"]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("missing required argument 'runId'");
    const b = await cli(["runs", "--limit", "0"]);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('--limit takes a positive integer, got "0"');
    const c = await cli(["worker", "x.ts", "--queues", " , "]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("--queues takes comma-separated queue names");
    const d = await cli(["worker", "x.ts", "--log-level", "loud"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain("Allowed choices are fatal, error");
    const e = await cli(["worker", "x.ts", "--prefetch", "1.5"]);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('--prefetch takes a whole number >= 0, got "1.5"');
  });

  it("masks the password of REDIS_URL in help", async () => {
    const r = await cli(["runs", "--help"], { env: { REDIS_URL: "redis://app:s3cret@db:6379/2" } });
    expect(r.stdout).toContain("redis://app:***@db:6379/2");
    expect(r.stdout).not.toContain("s3cret");
  });

  it("passes --redis and --prefix (default REDIS_URL) to the store", async () => {
    const targets: unknown[] = [];
    const io = {
      env: { REDIS_URL: "redis://from-env:6379" },
      openStore: async (t: unknown) => {
        targets.push(t);
        return new MemoryStore();
      },
    };
    await cli(["runs"], io);
    await cli(["runs", "--redis", "redis://other:1", "--prefix", "p"], io);
    expect(targets).toEqual([
      { url: "redis://from-env:6379", prefix: "weft" },
      { url: "redis://other:1", prefix: "p" },
    ]);
  });

  it("prints a store error as one line, exit 1", async () => {
    const r = await cli(["runs"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "error: no store in this test\n" });
  });

  it("masks the URL's password in anything it prints, help and errors alike", async () => {
    const password = "p@ss/w:rd#1%";
    const url = `redis://app:${password}@db:6379`;
    const io = {
      openStore: () =>
        Promise.reject(new Error(`cannot use ${url} (${encodeURIComponent(password)})`)),
    };
    const viaFlag = await cli(["runs", "--redis", url], io);
    const viaEnv = await cli(["inspect", "r1"], { ...io, env: { REDIS_URL: url } });
    const help = await cli(["runs", "--help"], { env: { REDIS_URL: url } });
    expect(viaFlag.stderr).toBe("error: cannot use redis://app:***@db:6379 (***)\n");
    expect(viaEnv.stderr).toBe(viaFlag.stderr);
    expect(help.stdout).toContain("redis://app:***@db:6379");
    expect(JSON.stringify([viaFlag, viaEnv, help])).not.toContain("w:rd#1");
  });

  it("uses @weft/redis's one URL masker", () => {
    expect(maskUrl).toBe(redisMaskUrl);
  });

  it("passes --tls-ca (default REDIS_TLS_CA) to the store", async () => {
    const targets: StoreTarget[] = [];
    const io = {
      env: { REDIS_URL: "rediss://db:6380", REDIS_TLS_CA: "/etc/weft/env-ca.pem" },
      openStore: async (t: StoreTarget) => {
        targets.push(t);
        return new MemoryStore();
      },
    };
    for (const cmd of [["runs"], ["inspect", "r1"], ["cancel", "r1"]]) {
      await cli([...cmd, "--tls-ca", "/etc/weft/ca.pem"], io);
    }
    await cli(["runs"], io);
    const stop = new AbortController();
    stop.abort();
    await cli(["worker", "handlers.ts", "--log-level", "silent", "--tls-ca", "ca.pem"], {
      ...io,
      signal: stop.signal,
    });
    expect(targets.map((t) => t.tlsCa)).toEqual([
      "/etc/weft/ca.pem",
      "/etc/weft/ca.pem",
      "/etc/weft/ca.pem",
      "/etc/weft/env-ca.pem",
      "ca.pem",
    ]);
    const help = await cli(["runs", "--help"]);
    expect(help.stdout).toContain("--tls-ca <file>");
  });
});

describe("inspect, runs, cancel", () => {
  it("inspects a run as a tree with inputs and results, or as JSON with them", async () => {
    const { store, snapshot } = await runToEnd(chain(add.si({ a: 1, b: 2 }), double.s()));
    const id = snapshot.run.id;
    const r = await cli(["inspect", id], { store, now: () => 0 });
    expect(r.code).toBe(0);
    const tree = r.stdout
      .trimEnd()
      .split("\n")
      .slice(-6)
      .map((l) => l.replace(/ +\d+ ms +/, " _ "));
    expect(tree).toEqual([
      "chain",
      "├─ #0 math.add     succeeded  1 attempt _ w1",
      '│    input {"a":1,"b":2}',
      "│    result 3",
      "└─ #1 math.double  succeeded  1 attempt _ w1",
      "     result 6",
    ]);
    const j = await cli(["inspect", id, "--json"], { store });
    const parsed = JSON.parse(j.stdout) as Pick<RunSnapshot, "run"> & {
      nodes: Array<{ input?: unknown; result?: unknown }>;
    };
    expect(parsed.run).toEqual(JSON.parse(JSON.stringify(snapshot.run)));
    expect(parsed.nodes.map((n) => [n.input, n.result])).toEqual([
      [{ a: 1, b: 2 }, 3],
      [undefined, 6],
    ]);
  });

  it("says a run is not found, exit 1", async () => {
    const r = await cli(["inspect", "nope"], { store: new MemoryStore() });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "error: run nope not found (unknown id, or expired after its retention)\n",
    );
  });

  it("lists runs newest first, as a table or JSON, up to --limit", async () => {
    const store = new MemoryStore();
    let clock = T0;
    const client = createClient(store, () => clock);
    const a = await client.submit(count.si({ n: 1 }), { tags: ["first"] });
    clock += 1_000;
    const b = await client.submit(count.si({ n: 2 }), { tags: ["second"] });
    const r = await cli(["runs"], { store });
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^ID +TASK +STATUS +NODES +CREATED +DURATION +TAGS$/);
    expect(rows.slice(1).map((l) => l.split(/ +/).slice(0, 2))).toEqual([
      [b.runId, "spam.count"],
      [a.runId, "spam.count"],
    ]);
    const j = await cli(["runs", "--json", "--limit", "1"], { store });
    expect(JSON.parse(j.stdout)).toMatchObject([{ id: b.runId, tags: ["second"] }]);
    expect((await cli(["runs"], { store: new MemoryStore() })).stdout).toBe("no runs\n");
  });

  it("cancels a run once, and says so", async () => {
    const store = new MemoryStore();
    const run = await createClient(store).submit(chain(add.si({ a: 1, b: 2 }), double.s()));
    const first = await cli(["cancel", run.runId], { store });
    expect(first).toEqual({ code: 0, stdout: `cancelled run ${run.runId}\n`, stderr: "" });
    const again = await cli(["cancel", run.runId], { store });
    expect(again.stdout).toBe(`run ${run.runId} not cancelled: it had already ended (cancelled)\n`);
    const missing = await cli(["cancel", "nope"], { store });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("run nope not found");
  });

  it("retry re-drives a failed run, the failed node with an edited input; inspect shows the earlier attempt", async () => {
    const { store, snapshot } = await runToEnd(chain(add.si({ a: 1, b: 2 }), boom.s(), double.s()));
    const id = snapshot.run.id;
    expect(snapshot.run).toMatchObject({ status: "failed", failedNode: 1 });
    const r = await cli(["retry", id, "--input", "5"], { store });
    expect(r).toEqual({
      code: 0,
      stdout: `re-drove run ${id}: 1 node queued; node 1 runs with the input given\n`,
      stderr: "",
    });
    const lease = { workerId: "w2", queues: ["default"], max: 1, leaseMs: 10_000 };
    const [b] = await store.claim({ ...lease, now: T0 + 1 });
    expect(b).toMatchObject({ nodeId: 1, attempt: 1 });
    expect(b!.spec.bound).toBe(5);
    const done = { workerId: "w2", queues: ["default"], nextMax: 0, leaseMs: 10_000 };
    expect((await store.complete(b!, encode(5), { ...done, now: T0 + 2 })).ok).toBe(true);
    const [c] = await store.claim({ ...lease, now: T0 + 3 });
    expect((await store.complete(c!, encode(10), { ...done, now: T0 + 4 })).ok).toBe(true);
    const shown = await cli(["inspect", id], { store, now: () => T0 + 5 });
    expect(shown.stdout).toMatch(/redriven +1 time\n/);
    expect(shown.stdout).toContain("attempt 1 failed on w1");
    expect(shown.stdout).toMatch(/#1 math\.boom +succeeded/);
    const again = await cli(["retry", id], { store });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("cannot be re-driven (succeeded)");
    const missing = await cli(["retry", "nope"], { store });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("run nope not found");
    const bad = await cli(["retry", id, "--node", "-1", "--input", "1"], { store });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--node takes a node id");
  });
});

describe("worker", () => {
  it("runs the handlers a module exports until stopped, then closes the store", async () => {
    const store = new MemoryStore();
    let closed = 0;
    const close = store.close.bind(store);
    store.close = async () => {
      closed += 1;
      await close();
    };
    const stop = new AbortController();
    const worker = cli(["worker", "handlers.ts", "--log-level", "silent", "-c", "2"], {
      store,
      signal: stop.signal,
    });
    const run = await createClient(store).submit(
      chain(add.si({ a: 1, b: 2 }), double.s(), double.s()),
    );
    expect(await run.result({ timeout: 10_000 })).toBe(12);
    expect(closed).toBe(0);
    stop.abort();
    expect(await worker).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(closed).toBe(1);
  });

  it("holds --rate-limit across the store's claims, and refuses a bad one", async () => {
    const store = new MemoryStore();
    const limits: unknown[] = [];
    const claim = store.claim.bind(store);
    store.claim = (req) => {
      limits.push(req.rateLimits);
      return claim(req);
    };
    const stop = new AbortController();
    const worker = cli(
      ["worker", "handlers.ts", "--log-level", "silent", "--rate-limit", "default=2/3600000"],
      { store, signal: stop.signal },
    );
    const run = await createClient(store).submit(
      chain(add.si({ a: 1, b: 2 }), double.s(), double.s()),
    );
    // the real condition: two nodes ran, the third waits for the limit
    for (;;) {
      const snap = await store.getRun(run.runId);
      if (snap?.nodes[1]?.state === "succeeded") break;
      await new Promise((r) => setTimeout(r, 5));
    }
    stop.abort();
    expect((await worker).code).toBe(0);
    expect(limits[0]).toEqual({ default: { limit: 2, intervalMs: 3_600_000 } });
    expect((await store.getRun(run.runId))?.nodes[2]?.state).toBe("queued");
    const bad = await cli(["worker", "x.ts", "--rate-limit", "email=0/1000"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--rate-limit takes <queue>=<limit>/<ms>");
  });

  it("offers every overlap policy in schedules add (listed without loading @weft/core)", async () => {
    const help = await cli(["schedules", "add", "--help"]);
    expect(help.code).toBe(0);
    const choices = /choices: ([^)]*?)(?:, default: [^)]*)?\)/.exec(
      help.stdout.replace(/\s+/g, " "),
    )?.[1];
    expect(choices?.split(", ").map((c) => JSON.parse(c))).toEqual([...OVERLAP_POLICIES]);
  });

  it("accepts a default export and routes to --queues", async () => {
    const store = new MemoryStore();
    const stop = new AbortController();
    const worker = cli(
      [
        "worker",
        `${fixtures}default-handlers.ts`,
        "--queues",
        "fast, default",
        "--log-level",
        "silent",
      ],
      { store, signal: stop.signal, cwd: "/" },
    );
    const run = await createClient(store).submit(double.si(4).with({ queue: "fast" }));
    expect(await run.result({ timeout: 10_000 })).toBe(8);
    stop.abort();
    expect((await worker).code).toBe(0);
  });

  it("waits for a store it cannot reach at startup, saying so, then runs", async () => {
    const store = new MemoryStore();
    const stop = new AbortController();
    let opened = 0;
    const lines: string[] = [];
    const running = deferred();
    const worker = cli(["worker", "handlers.ts", "--redis", "redis://:s3cret!@db:6379"], {
      openStore: async () => {
        opened += 1;
        if (opened < 3) {
          throw new StoreUnavailable({
            url: "redis://:***@db:6379",
            reason: "connection refused (ECONNREFUSED)",
          });
        }
        return store;
      },
      log: (line) => {
        lines.push(line);
        if (line.includes("worker started")) running.resolve();
      },
      signal: stop.signal,
    });
    await running.promise;
    const run = await createClient(store).submit(chain(add.si({ a: 2, b: 3 }), double.s()));
    expect(await run.result({ timeout: 10_000 })).toBe(10);
    stop.abort();
    expect(await worker).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(opened).toBe(3);
    const retries = lines.map((l) => JSON.parse(l)).filter((l) => l.attempt !== undefined);
    expect(retries.map((l) => [l.level, l.attempt])).toEqual([
      [40, 1],
      [40, 2],
    ]);
    expect(retries[0].msg).toMatch(
      /^cannot reach the store at redis:\/\/:\*\*\*@db:6379: connection refused \(ECONNREFUSED\); retrying in \d\.\d s \(attempt 1\)$/,
    );
    expect(lines.join("")).not.toContain("s3cret!");
  });

  it("stops waiting for the store when stopped, exit 0", async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    const r = await cli(["worker", "handlers.ts"], {
      openStore: async () => {
        throw new StoreUnavailable({ url: "redis://db:6379", reason: "connection refused" });
      },
      log: (line) => {
        lines.push(line);
        if (line.includes("retrying")) stop.abort();
      },
      signal: stop.signal,
    });
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(lines.at(-1)).toContain("stopped while waiting for the store");
  });

  it("fails at once, exit 1, when the store refuses the credentials", async () => {
    let opened = 0;
    const r = await cli(["worker", "handlers.ts", "--log-level", "silent"], {
      openStore: async () => {
        opened += 1;
        throw new StoreUnavailable({
          url: "redis://:***@db:6379",
          reason: "WRONGPASS invalid username-password pair",
          failure: "auth",
        });
      },
    });
    expect(opened).toBe(1);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "error: authentication failed at the store at redis://:***@db:6379: WRONGPASS invalid username-password pair (check the user name and password)\n",
    });
  });

  it("refuses a module without handlers, before connecting", async () => {
    const r = await cli(["worker", "no-handlers.ts"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: handlers module no-handlers.ts must export "handlers" (an array of handlers made with handle(task, fn)) or a default export that is one; its "handlers" export is object\n',
    );
    const tasks = await cli(["worker", "tasks.ts"]);
    expect(tasks.stderr).toContain("it exports add, boom, count, double, sum");
    const missing = await cli(["worker", "missing.ts"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("handlers module missing.ts not found (looked at ");
  });
});

describe("workers, and inspect's hint about tasks no live worker handles", () => {
  const info = (id: string, tasks: ReadonlyArray<string>, queues = ["default"]) => ({
    id,
    host: "box-1",
    pid: 7,
    queues,
    tasks,
    concurrency: 8,
    startedAt: T0,
  });

  it("lists registered workers as a table, or as JSON", async () => {
    expect((await cli(["--help"])).stdout).toMatch(
      /^ {2}workers \[options\] +list registered workers/m,
    );
    const store = new MemoryStore();
    expect((await cli(["workers"], { store })).stdout).toBe("no workers\n");
    await store.registerWorker(info("w-1", ["math.add", "math.double"]), {
      now: T0,
      ttlMs: 30_000,
    });
    await store.registerWorker(info("w-2", ["spam.count"], ["io"]), { now: T0, ttlMs: 1_000 });
    const r = await cli(["workers"], { store, now: () => T0 + 5_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toEqual([
      "ID   HOST           QUEUES   TASKS                 CONCURRENCY  LAST SEEN   ALIVE",
      "w-1  box-1 (pid 7)  default  math.add,math.double  8            5.00 s ago  yes",
      "w-2  box-1 (pid 7)  io       spam.count            8            5.00 s ago  no",
    ]);
    const j = await cli(["workers", "--json"], { store, now: () => T0 + 5_000 });
    expect(JSON.parse(j.stdout)).toMatchObject([
      { id: "w-1", alive: true, tasks: ["math.add", "math.double"], lastSeenAt: T0 },
      { id: "w-2", alive: false },
    ]);
  });

  it("says when no live worker handles a queued node's task, until one registers", async () => {
    const store = new MemoryStore();
    const run = await createClient(store, () => T0).submit(
      chain(add.si({ a: 1, b: 2 }), double.s()),
    );
    // a live worker on the queue without the task, and a dead one with it
    await store.registerWorker(info("lacks-add", ["math.double"]), { now: T0, ttlMs: 60_000 });
    await store.registerWorker(info("dead", ["math.add"]), { now: T0 - 120_000, ttlMs: 60_000 });
    const before = (await cli(["inspect", run.runId], { store, now: () => T0 })).stdout;
    expect(before).toContain(
      "  waiting   1 node: no live worker handles task math.add on queue default\n",
    );
    expect(before).toContain(
      '├─ #0 math.add     queued   -  -  -\n│    input {"a":1,"b":2}\n│    no live worker handles task math.add on queue default\n',
    );
    // the waiting node #1 is not queued yet: no hint
    expect(before.match(/no live worker/g)).toHaveLength(2);
    await store.registerWorker(info("has-add", ["math.add"]), { now: T0, ttlMs: 60_000 });
    const after = (await cli(["inspect", run.runId], { store, now: () => T0 })).stdout;
    expect(after).not.toContain("no live worker");
  });
});

describe("submit (a task by name)", () => {
  it("submits the named task on the JSON input and prints the run id; the same idempotency key prints the same id", async () => {
    const store = new MemoryStore();
    const argv = ["submit", "math.add", "--input", '{"a":1,"b":2}', "--queue", "fast"];
    const first = await cli([...argv, "--idempotency-key", "k-1", "--tag", "cli", "ops"], {
      store,
    });
    expect(first.code, first.stderr).toBe(0);
    const runId = first.stdout.trim();
    expect(first.stdout).toBe(`${runId}\n`);
    const snap = await createClient(store).get(runId);
    expect(snap.run.tags).toEqual(["cli", "ops"]);
    expect(snap.nodes.map((n) => [n.spec.task, n.spec.queue, n.spec.bound])).toEqual([
      ["math.add", "fast", { a: 1, b: 2 }],
    ]);
    const again = await cli([...argv, "--idempotency-key", "k-1", "--tag", "cli", "ops"], {
      store,
    });
    expect(again).toEqual({
      code: 0,
      stdout: `${runId}\n`,
      stderr: `run ${runId} already existed (same idempotency key); nothing was submitted\n`,
    });
    // a worker with the task runs it; a reader types the result with the declaration
    const stop = new AbortController();
    const worker = cli(["worker", "handlers.ts", "-q", "fast", "--log-level", "silent"], {
      store,
      signal: stop.signal,
    });
    const run = await createClient(store).handle(runId, add);
    expect(await run.result({ timeout: 10_000 })).toBe(3);
    stop.abort();
    expect((await worker).code).toBe(0);
  });

  it("refuses input that is not JSON, a bad priority, a bad task name and a missing --input, exit 1, submitting nothing", async () => {
    const store = new MemoryStore();
    const json = await cli(["submit", "math.add", "--input", "{a:1}"], { store });
    expect(json.code).toBe(1);
    expect(json.stderr).toContain(
      `--input takes JSON (e.g. '{"email":"ada@example.com"}'), got "{a:1}"`,
    );
    const prio = await cli(["submit", "math.add", "-i", "1", "--priority", "16"], { store });
    expect(prio.stderr).toContain(
      '--priority takes an integer from 0 (lowest) to 15 (highest), got "16"',
    );
    const name = await cli(["submit", "math add", "-i", "1"], { store });
    expect(name).toMatchObject({ code: 1, stdout: "" });
    expect(name.stderr).toContain('error: invalid canvas: task name "math add" must match');
    const missing = await cli(["submit", "math.add"], { store });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '-i, --input <json>' not specified");
    expect(await store.listRuns({ limit: 10 })).toEqual([]);
  });
});

describe("configuration by environment", () => {
  it("reads the prefix from WEFT_PREFIX and the worker's concurrency from WEFT_CONCURRENCY; flags win; bad values are named", async () => {
    const targets: StoreTarget[] = [];
    const store = new MemoryStore();
    const io = {
      env: { WEFT_PREFIX: "shop", WEFT_CONCURRENCY: "3" },
      openStore: async (t: StoreTarget) => {
        targets.push(t);
        return store;
      },
    };
    await cli(["runs"], io);
    await cli(["runs", "--prefix", "other"], io);
    expect(targets.map((t) => t.prefix)).toEqual(["shop", "other"]);
    // the worker registers itself with its concurrency: wait for that call
    const registered = deferred<number>();
    const register = store.registerWorker.bind(store);
    store.registerWorker = async (info, opts) => {
      await register(info, opts);
      registered.resolve(info.concurrency);
    };
    const stop = new AbortController();
    const worker = cli(["worker", "handlers.ts", "--log-level", "silent"], {
      ...io,
      signal: stop.signal,
    });
    expect(await registered.promise).toBe(3);
    stop.abort();
    expect((await worker).code).toBe(0);
    const bad = await cli(["worker", "handlers.ts"], { ...io, env: { WEFT_CONCURRENCY: "many" } });
    expect(bad).toMatchObject({ code: 1 });
    expect(bad.stderr).toContain('WEFT_CONCURRENCY takes a positive integer, got "many"');
    const level = await cli(["worker", "handlers.ts"], { ...io, env: { WEFT_LOG_LEVEL: "loud" } });
    expect(level).toMatchObject({ code: 1 });
    expect(level.stderr).toContain(
      'WEFT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  });
});
