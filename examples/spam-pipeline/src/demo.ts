/**
 * `npm run demo`: trains and evaluates a naive Bayes spam filter on the
 * SpamAssassin corpus as one Weft run, with live progress, then prints the
 * report, which worker ran what, and a per-task summary of the run's nodes.
 *
 * Store: `REDIS_URL` when set; else a private `redis-server` on a free port
 * (stopped when the demo exits); else the in-memory store with in-process
 * workers. `WEFT_DEMO_STORE=memory` forces the in-memory store.
 * Other knobs: `WEFT_DEMO_WORKERS` (worker processes, default 2),
 * `WEFT_DEMO_CHUNKS` (chunks per side of the split, default 8),
 * `WEFT_DEMO_LIMIT` (use only that many emails).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { renderInspect } from "@weft/cli";
import {
  createClient,
  type RunSnapshot,
  type Store,
  startWorker,
  TERMINAL_NODE_STATES,
  type Worker,
} from "@weft/core";
import { maskUrl, RedisStore, redactSecrets, urlSecrets } from "@weft/redis";
import { hasRedisServer, MemoryStore, type RedisServer, startRedisServer } from "@weft/testing";
import { Presets, SingleBar } from "cli-progress";
import { pino } from "pino";
import { buildCanvas } from "./canvas.ts";
import { loadCorpus } from "./corpus.ts";
import { handlers } from "./handlers.ts";
import type { Report } from "./tasks.ts";

const WORKER_ENTRY = fileURLToPath(new URL("./worker.ts", import.meta.url));
const EXAMPLE_DIR = fileURLToPath(new URL("..", import.meta.url));

const intEnv = (name: string, fallback: number | undefined): number | undefined => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};

/** A worker process spawned by the demo, with the tail of its output. */
interface WorkerProcess {
  readonly label: string;
  readonly proc: ChildProcess;
  /** Resolves with how the process ended: `code 1`, `signal SIGKILL`. */
  readonly exited: Promise<string>;
  output: string;
}

const spawnWorker = (index: number, url: string): WorkerProcess => {
  const proc = spawn(
    process.execPath,
    ["--conditions=@weft/source", "--import", "tsx", WORKER_ENTRY],
    {
      cwd: EXAMPLE_DIR,
      env: { ...process.env, REDIS_URL: url, WEFT_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const w: WorkerProcess = {
    label: `worker ${index} (pid ${proc.pid})`,
    proc,
    output: "",
    exited: new Promise((resolve) => {
      proc.once("close", (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`));
      proc.once("error", (e) => {
        w.output += `${e.message}\n`;
        resolve(`error ${e.message}`);
      });
    }),
  };
  const keep = (chunk: Buffer) => {
    w.output = (w.output + chunk.toString()).slice(-8_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  return w;
};

/** The store and workers the demo runs on, and how to tear them down. */
interface Backend {
  readonly store: Store;
  /** `redis://…` when on Redis. */
  readonly url?: string;
  /** Worker id → readable label. */
  readonly labelOf: (workerId: string) => string;
  /** Rejects when a worker process exits before it was asked to. */
  readonly crashed: Promise<never>;
  /** Stops the workers, closes the store and stops the private Redis; idempotent. */
  readonly close: () => Promise<void>;
  /** Output of worker processes that exited on their own, for error messages. */
  readonly failures: () => string;
}

const memoryBackend = (workers: number): Backend => {
  const store = new MemoryStore();
  const logger = pino({ level: "silent" });
  const running: Worker[] = Array.from({ length: workers }, (_, i) =>
    startWorker({ store, handlers, concurrency: 2, logger, workerId: `in-process-${i + 1}` }),
  );
  let closed: Promise<void> | undefined;
  return {
    store,
    labelOf: (id) => id.replace("in-process-", "in-process worker "),
    crashed: new Promise<never>(() => undefined),
    close: () => {
      closed ??= (async () => {
        await Promise.all(running.map((w) => w.stop()));
        await store.close();
      })();
      return closed;
    },
    failures: () => "",
  };
};

const redisBackend = async (workers: number): Promise<Backend> => {
  let server: RedisServer | undefined;
  let url = process.env.REDIS_URL;
  if (!url) {
    server = await startRedisServer();
    url = server.url;
  }
  let store: Store;
  try {
    store = await RedisStore.connect(url);
  } catch (e) {
    await server?.stop();
    throw e;
  }
  const procs = Array.from({ length: workers }, (_, i) => spawnWorker(i + 1, url));
  let stopping = false;
  const crashedOnes: string[] = [];
  const crashed = new Promise<never>((_, reject) => {
    for (const w of procs) {
      void w.exited.then((how) => {
        if (stopping) return;
        crashedOnes.push(`--- ${w.label} exited (${how}); its last output:\n${w.output.trimEnd()}`);
        reject(new Error(`${w.label} exited (${how}) before the run ended`));
      });
    }
  });
  crashed.catch(() => undefined);
  let closed: Promise<void> | undefined;
  return {
    store,
    url,
    labelOf: (id) => {
      const pid = Number(id.split(":")[1]);
      return procs.find((w) => w.proc.pid === pid)?.label ?? id;
    },
    crashed,
    close: () => {
      stopping = true;
      closed ??= (async () => {
        await Promise.all(
          procs.map(async (w) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) return;
            w.proc.kill("SIGTERM");
            const t = setTimeout(() => w.proc.kill("SIGKILL"), 15_000);
            await w.exited;
            clearTimeout(t);
          }),
        );
        await store.close().catch(() => undefined);
        await server?.stop();
      })();
      return closed;
    },
    failures: () => crashedOnes.join("\n"),
  };
};

/** Pads columns; the first row is the header. Numeric-looking cells are right-aligned. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>, indent = "  "): string => {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => {
          const w = widths[i] ?? 0;
          return /^[-\d.,% s]+$/.test(cell) && i > 0 ? cell.padStart(w) : cell.padEnd(w);
        })
        .join("  ")
        .trimEnd(),
    )
    .map((line) => indent + line)
    .join("\n");
};

const printReport = (r: Report) => {
  const f = (x: number) => x.toFixed(3);
  const c = r.confusion;
  console.log(`\nNaive Bayes spam filter: ${r.train} training emails, ${r.test} test emails,`);
  console.log(`${r.vocabulary} tokens in the model\n`);
  console.log(
    table([
      ["metric", "value"],
      ["accuracy", f(r.accuracy)],
      ["precision", f(r.precision)],
      ["recall", f(r.recall)],
      ["F1", f(r.f1)],
    ]),
  );
  console.log("\n  confusion matrix (rows: actual, columns: predicted)");
  console.log(
    table([
      ["", "spam", "ham"],
      ["spam", String(c.tp), String(c.fn)],
      ["ham", String(c.fp), String(c.tn)],
    ]),
  );
  console.log("\n  spammiest tokens in the test spam (log-likelihood ratio)");
  console.log(table([["token", "score"], ...r.topSpamTokens.map(([t, s]) => [t, s.toFixed(2)])]));
};

/**
 * Every printed form of the password of `REDIS_URL`: whatever the demo prints
 * about a failure (an error, a worker's last output) is masked with it, on
 * top of the store's own sanitising of its errors.
 */
const secrets = urlSecrets(process.env.REDIS_URL ?? "");
const safe = (text: string): string => redactSecrets(text, secrets);

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const printRun = (snap: RunSnapshot, labelOf: (id: string) => string) => {
  const byWorker = new Map<string, number>();
  const byTask = new Map<string, { states: Map<string, number>; ms: number }>();
  for (const n of snap.nodes) {
    if (n.worker) {
      const label = labelOf(n.worker);
      byWorker.set(label, (byWorker.get(label) ?? 0) + 1);
    }
    let t = byTask.get(n.spec.task);
    if (!t) {
      t = { states: new Map(), ms: 0 };
      byTask.set(n.spec.task, t);
    }
    t.states.set(n.state, (t.states.get(n.state) ?? 0) + 1);
    if (n.startedAt !== undefined && n.finishedAt !== undefined) t.ms += n.finishedAt - n.startedAt;
  }
  const wall =
    snap.run.finishedAt !== undefined
      ? `, ${seconds(snap.run.finishedAt - snap.run.createdAt)} from submission to the last result`
      : "";
  console.log(`\nrun ${snap.run.id}: ${snap.run.status}, ${snap.run.total} nodes${wall}\n`);
  console.log(
    table([
      ["worker", "nodes"],
      ...[...byWorker].sort(([a], [b]) => a.localeCompare(b)).map(([w, n]) => [w, String(n)]),
    ]),
  );
  console.log();
  console.log(
    table([
      ["task", "nodes", "states", "handler time"],
      ...[...byTask].map(([task, t]) => [
        task,
        String([...t.states.values()].reduce((a, b) => a + b, 0)),
        [...t.states].map(([s, n]) => `${n} ${s}`).join(", "),
        seconds(t.ms),
      ]),
    ]),
  );
};

/** Polls the run every 200 ms and draws nodes ended / total. */
const watch = (client: ReturnType<typeof createClient>, runId: string, total: number) => {
  const bar = new SingleBar(
    {
      format: "  {bar} {value}/{total} nodes | {detail}",
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0, { detail: "queued" });
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const snap = await client.get(runId);
      const ended = snap.nodes.filter((n) => TERMINAL_NODE_STATES.has(n.state)).length;
      const running = snap.nodes.filter((n) => n.state === "running");
      const detail =
        running.length === 0
          ? ended === 0
            ? "queued, waiting for the workers to start"
            : snap.run.status
          : running
              .map((n) => {
                const p = n.progress;
                const pct = p?.total ? ` ${Math.round((100 * p.current) / p.total)}%` : "";
                return `${n.spec.task.replace("spam.", "")}#${n.id}${pct}`;
              })
              .join(" ");
      bar.update(ended, { detail });
    } catch {
      // a missed poll only delays the bar
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), 200);
  return {
    stop: async () => {
      clearInterval(timer);
      while (busy) await new Promise((r) => setTimeout(r, 10));
      await tick();
      bar.stop();
    },
  };
};

const main = async (): Promise<number> => {
  /** Time spent starting Node and loading modules, ms. */
  const started = performance.now();
  const workers = intEnv("WEFT_DEMO_WORKERS", 2) ?? 2;
  const chunks = intEnv("WEFT_DEMO_CHUNKS", 8) ?? 8;
  const limit = intEnv("WEFT_DEMO_LIMIT", undefined);
  const forced = process.env.WEFT_DEMO_STORE;
  if (forced !== undefined && forced !== "memory" && forced !== "redis") {
    throw new Error(`WEFT_DEMO_STORE must be "memory" or "redis", not ${JSON.stringify(forced)}`);
  }
  const useRedis =
    forced === "redis" || (forced !== "memory" && (!!process.env.REDIS_URL || hasRedisServer()));
  if (!useRedis && forced !== "memory") {
    console.log(
      "No REDIS_URL and no redis-server on PATH: running on the in-memory store with in-process workers.",
    );
  }

  loadCorpus();
  const built = buildCanvas({ chunks, ...(limit === undefined ? {} : { limit }) });
  const backend = useRedis ? await redisBackend(workers) : memoryBackend(workers);
  const onSignal = () => {
    void backend.close().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  console.log(
    `Spam pipeline: ${built.train.length} training + ${built.test.length} test emails in ${built.nodes} nodes, on ` +
      (backend.url
        ? `${maskUrl(backend.url)}${process.env.REDIS_URL ? "" : " (private redis-server)"} with ${workers} worker processes`
        : `the in-memory store with ${workers} in-process workers`),
  );

  try {
    const client = createClient(backend.store);
    const handle = await client.submit(built.canvas, { tags: ["example", "spam-pipeline"] });
    console.log(`run ${handle.runId} submitted\n`);
    const progress = watch(client, handle.runId, built.nodes);
    let report: Report;
    try {
      report = await Promise.race([handle.result({ timeout: 600_000 }), backend.crashed]);
    } finally {
      await progress.stop();
    }
    printReport(report);
    const snapshot = await client.get(handle.runId);
    printRun(snapshot, backend.labelOf);
    console.log(`\nthe run as \`weft inspect\` shows it:\n\n${renderInspect(snapshot)}`);
    if (backend.url) {
      console.log(
        `\ninspect it with: npx weft inspect ${handle.runId} --redis ${maskUrl(backend.url)}`,
      );
      if (!process.env.REDIS_URL) {
        console.log(
          "(this private redis-server stops when the demo exits; run with REDIS_URL=redis://… to keep the run inspectable)",
        );
      }
    } else {
      console.log(
        "\n(the in-memory store ends with the demo; run with Redis to inspect the run with `npx weft inspect`)",
      );
    }
    await backend.close();
    console.log(
      `\ndemo took ${seconds(performance.now())}, ${seconds(started)} of it starting Node and loading modules`,
    );
    return 0;
  } catch (e) {
    const failures = backend.failures();
    await backend.close().catch(() => undefined);
    if (failures) console.error(safe(failures));
    throw e;
  }
};

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(safe(`demo failed: ${e instanceof Error ? e.message : String(e)}`));
    process.exit(1);
  },
);
