/**
 * The `weft` command, parsed with commander: `worker`, `submit`, `inspect`,
 * `runs`, `cancel`, `retry`, `workers`, `beat`, `schedules`. {@link runCli} takes the arguments and returns the exit
 * code; it never calls `process.exit` (but for a second SIGTERM/SIGINT to a
 * worker), so tests and other programs can run it.
 *
 * Secrets: the password of every Redis URL the command was given is masked in
 * everything it prints (help, errors, the worker's log lines), on top of the
 * store's own sanitising of its errors.
 */
import { readFileSync } from "node:fs";
// Only types are imported statically from @weft/core (Effect and the runtimes), pino and
// ./handlers.ts: each command loads what it needs when it runs, so `weft --help` and usage
// errors start in a few tens of ms (npm run bench:cli -w @weft/bench measures it).
import type {
  BeatStore,
  OverlapPolicy,
  RateLimit,
  RetryPolicy,
  RunStatus,
  Store,
} from "@weft/core";
import { redactSecrets, urlSecrets } from "@weft/redis/url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Logger } from "pino";
import {
  defaultRedisUrl,
  maskUrl,
  type OpenStore,
  openRedisStore,
  type StoreTarget,
} from "./connect.ts";
import { addDashboardCommand } from "./dashboard.ts";
import { addOpsCommands } from "./ops.ts";
import { renderInspect, renderRuns, renderWorkers, toJson } from "./render.ts";
import { nodeValues, withValues } from "./values.ts";

/** This package's version, read from its package.json (one level above both src/ and dist/). */
const version = (): string =>
  (
    JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;

/** Where {@link runCli} reads and writes; every field defaults to the process's own. */
export interface CliIo {
  /** Standard output. Default `process.stdout.write`. */
  readonly stdout?: (text: string) => void;
  /** Standard error. Default `process.stderr.write`. */
  readonly stderr?: (text: string) => void;
  /**
   * Environment (`REDIS_URL`, `REDIS_TLS_CA`, `WEFT_PREFIX`,
   * `WEFT_CONCURRENCY`, `WEFT_LOG_LEVEL`, `NO_COLOR`, `FORCE_COLOR`,
   * `WEFT_DEBUG`). Default `process.env`.
   */
  readonly env?: NodeJS.ProcessEnv;
  /** Directory a worker's handlers module is resolved against. Default `process.cwd()`. */
  readonly cwd?: string;
  /** ANSI colours. Default: stdout is a TTY and `NO_COLOR` is unset, or `FORCE_COLOR` is set. */
  readonly color?: boolean;
  /** Opens the store. Default: `RedisStore.connect(url, { prefix })`. */
  readonly openStore?: OpenStore;
  /** Stops `weft worker` (or its wait for the store) when aborted. Default: SIGTERM / SIGINT stop it. */
  readonly signal?: AbortSignal;
  /** Where `weft worker` writes its log lines (pino JSON). Default: standard output. */
  readonly log?: (line: string) => void;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
}

interface StoreOpts {
  readonly redis: string;
  readonly prefix: string;
  readonly tlsCa?: string;
}

const targetOf = (opts: StoreOpts): StoreTarget => ({
  url: opts.redis,
  prefix: opts.prefix,
  ...(opts.tlsCa === undefined ? {} : { tlsCa: opts.tlsCa }),
});

/**
 * How `weft worker` waits for a store it cannot reach at startup: 0.5 s,
 * doubling up to 10 s, equal jitter, until it is stopped.
 */
const STARTUP_RETRY: RetryPolicy = {
  maxAttempts: Number.POSITIVE_INFINITY,
  backoff: { kind: "exponential", baseMs: 500, factor: 2, maxMs: 10_000 },
  jitter: "equal",
  maxStalls: 0,
};

/** @weft/core's runtime, loaded by the commands that use it. */
const core = () => import("@weft/core");

/** Failures that may pass by themselves (Redis restarting, not yet up); wrong settings do not. */
const transient = async (e: unknown): Promise<boolean> =>
  e instanceof (await core()).StoreUnavailable &&
  (e.failure === undefined || e.failure === "unreachable" || e.failure === "unavailable");

/** Every printed form of the passwords in the URLs given in `argv` and the environment. */
const secretsOf = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): ReadonlyArray<string> => {
  const urls = [env.REDIS_URL ?? ""];
  argv.forEach((a, i) => {
    if (a === "--redis") urls.push(argv[i + 1] ?? "");
    else if (a.startsWith("--redis=")) urls.push(a.slice("--redis=".length));
  });
  return [...new Set(urls.flatMap(urlSecrets))].sort((a, b) => b.length - a.length);
};
/** The overlap policies (`OVERLAP_POLICIES` of @weft/core, listed here so that `--help` needs no import). */
const OVERLAP_CHOICES: ReadonlyArray<OverlapPolicy> = [
  "allow",
  "skip",
  "cancel-previous",
  "buffer-one",
];
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const RUN_STATUSES: RunStatus[] = ["pending", "running", "succeeded", "failed", "cancelled"];

/**
 * A parser for an option taking an integer of at least `min`, naming `flag`
 * and what it takes (`what`) when refused.
 */
const intAtLeast =
  (min: number, what: string) =>
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${flag} takes ${what}, got ${JSON.stringify(value)}`);
    }
    return n;
  };

const positiveInt = intAtLeast(1, "a positive integer");

/** Parses one `--rate-limit queue=limit/ms` into the limits given so far. */
const rateLimitSpec = (
  value: string,
  previous: Readonly<Record<string, RateLimit>>,
): Readonly<Record<string, RateLimit>> => {
  const m = /^([^=\s]+)=(\d+)\/(\d+)$/.exec(value.trim());
  const limit = Number(m?.[2]);
  const intervalMs = Number(m?.[3]);
  if (
    !m ||
    !Number.isSafeInteger(limit) ||
    limit < 1 ||
    !Number.isSafeInteger(intervalMs) ||
    intervalMs < 1
  ) {
    throw new InvalidArgumentError(
      `--rate-limit takes <queue>=<limit>/<ms> with two integers >= 1 (e.g. email=10/1000), got ${JSON.stringify(value)}`,
    );
  }
  return { ...previous, [m[1]!]: { limit, intervalMs } };
};

const wholeNumber = intAtLeast(0, "a whole number >= 0");

const nonNegativeInt = intAtLeast(0, "a whole number of ms >= 0");

const portNumber =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0 || n > 65_535) {
      throw new InvalidArgumentError(`${flag} takes 0 to 65535, got ${JSON.stringify(value)}`);
    }
    return n;
  };

/** `WEFT_CONCURRENCY` when set: a positive integer, or a clear error naming the variable. */
const envConcurrency = (env: NodeJS.ProcessEnv): number | undefined => {
  const v = env.WEFT_CONCURRENCY;
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`WEFT_CONCURRENCY takes a positive integer, got ${JSON.stringify(v)}`);
  return n;
};

/** Parses `--node`: a node id, an integer ≥ 0. */
const nodeId = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || value.trim() === "")
    throw new InvalidArgumentError(
      `--node takes a node id (an integer ≥ 0), got ${JSON.stringify(value)}`,
    );
  return n;
};

/** Parses `--input`: any JSON value. */
const jsonInput = (value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new InvalidArgumentError(
      `--input takes JSON (e.g. '{"email":"ada@example.com"}'), got ${JSON.stringify(value.slice(0, 80))}: ${messageOf(e)}`,
    );
  }
};

const priorityOf = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 15) {
    throw new InvalidArgumentError(
      `--priority takes an integer from 0 (lowest) to 15 (highest), got ${JSON.stringify(value)}`,
    );
  }
  return n;
};

const queueList = (value: string): ReadonlyArray<string> => {
  const names = value
    .split(",")
    .map((q) => q.trim())
    .filter((q) => q !== "");
  if (names.length === 0) {
    throw new InvalidArgumentError(
      `--queues takes comma-separated queue names, got ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(names)];
};

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const colorOf = (io: CliIo, env: NodeJS.ProcessEnv): boolean => {
  if (io.color !== undefined) return io.color;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return io.stdout === undefined && process.stdout.isTTY === true;
};

/**
 * Runs the `weft` command line and resolves with its exit code: 0 on
 * success, 1 on an error (a usage error, a run not found, a store that
 * cannot be reached). Errors are printed as one line, without a stack
 * trace (set `WEFT_DEBUG=1` for it).
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2))
 */
export const runCli = async (argv: ReadonlyArray<string>, io: CliIo = {}): Promise<number> => {
  const env = io.env ?? process.env;
  const secrets = secretsOf(argv, env);
  const safe = (s: string) => redactSecrets(s, secrets);
  const rawOut = io.stdout ?? ((s: string) => void process.stdout.write(s));
  const rawErr = io.stderr ?? ((s: string) => void process.stderr.write(s));
  const out = (s: string) => rawOut(safe(s));
  const err = (s: string) => rawErr(safe(s));
  const cwd = io.cwd ?? process.cwd();
  const now = io.now ?? Date.now;
  const open = io.openStore ?? openRedisStore;
  const color = colorOf(io, env);
  const redisUrl = defaultRedisUrl(env);
  let code = 0;

  const withStore = async (opts: StoreOpts, f: (store: Store) => Promise<void>) => {
    const store = await open(targetOf(opts));
    try {
      await f(store);
    } finally {
      await store.close().catch(() => undefined);
    }
  };

  /**
   * Opens the worker's store, waiting with backoff while it cannot be reached
   * (saying so in the log), then runs `f` until the worker stops. SIGTERM or
   * SIGINT (or `io.signal`) stops the wait or the worker; a second signal
   * exits at once (code 130).
   */
  const runWorker = async (
    opts: StoreOpts,
    log: Logger,
    f: (store: Store, stop: AbortSignal) => Promise<void>,
  ): Promise<void> => {
    const stop = new AbortController();
    let signals = 0;
    const onSignal = () => {
      signals += 1;
      if (signals > 1) process.exit(130);
      stop.abort("signal");
    };
    if (io.signal === undefined) {
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    } else if (io.signal.aborted) stop.abort("stopped");
    else io.signal.addEventListener("abort", () => stop.abort("stopped"), { once: true });
    try {
      const { delay, liveClock } = await core();
      let store: Store | undefined;
      for (let attempt = 1; store === undefined; attempt++) {
        try {
          store = await open(targetOf(opts));
          if (attempt > 1) log.info({ attempts: attempt }, "store reached; starting");
        } catch (e) {
          if (!(await transient(e))) throw e;
          const wait = delay(STARTUP_RETRY, attempt, Math.random);
          log.warn(
            { attempt, retryInMs: wait },
            `${messageOf(e)}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt})`,
          );
          await liveClock.sleep(wait, stop.signal);
          if (stop.signal.aborted) {
            log.info("stopped while waiting for the store");
            return;
          }
        }
      }
      try {
        await f(store, stop.signal);
      } finally {
        await store.close().catch(() => undefined);
      }
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  };

  const withStoreOptions = (cmd: Command) =>
    cmd
      .addOption(
        new Option(
          "--redis <url>",
          "Redis URL: redis://, rediss:// (TLS), or redis+cluster://host:port,host:port for a Redis Cluster (env REDIS_URL)",
        ).default(redisUrl, maskUrl(redisUrl)),
      )
      .option(
        "--prefix <prefix>",
        "key prefix of the Weft data in Redis (env WEFT_PREFIX)",
        env.WEFT_PREFIX === undefined || env.WEFT_PREFIX === "" ? "weft" : env.WEFT_PREFIX,
      )
      .addOption(
        new Option(
          "--tls-ca <file>",
          "PEM file of the CA that signed the Redis server's certificate, for a rediss:// or rediss+cluster:// URL (env REDIS_TLS_CA)",
        ).default(env.REDIS_TLS_CA === "" ? undefined : env.REDIS_TLS_CA),
      );

  const storeCommand = (name: string) => withStoreOptions(program.command(name));

  const program = new Command("weft")
    .description(
      "Weft: typed workflows on Redis. Run workers, submit tasks by name, list, inspect, cancel and re-drive runs, list workers, run beats and manage schedules.",
    )
    .version(version(), "-V, --version")
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err })
    .showHelpAfterError("(run with --help for usage)");

  storeCommand("worker")
    .description("run a worker: claim ready nodes from queues and run their handlers")
    .argument(
      "<module>",
      'module exporting "handlers" (or a default export): an array of handle(task, fn)',
    )
    .addOption(
      new Option("-q, --queues <names>", "queues to consume, comma-separated")
        .argParser(queueList)
        .default(["default"], "default"),
    )
    .option(
      "-c, --concurrency <n>",
      "handlers run at once (env WEFT_CONCURRENCY, default 8)",
      positiveInt("--concurrency"),
    )
    .option(
      "--prefetch <n>",
      "nodes held beyond the running ones while attempts are short (default: the concurrency + 2 × min(8 × the concurrency, 128), two claims' worth; 0: none)",
      wholeNumber("--prefetch"),
    )
    .option("--lease <ms>", "lease length, ms (default 30000)", positiveInt("--lease"))
    .option(
      "--rate-limit <queue=limit/ms...>",
      "a queue's rate limit, held across every worker: at most <limit> claims in any <ms> (e.g. email=10/1000); give every worker of the queue the same",
      rateLimitSpec,
      {},
    )
    .option(
      "--grace <ms>",
      "on SIGTERM/SIGINT, how long to let running handlers finish, ms (default 10000)",
      positiveInt("--grace"),
    )
    .addOption(
      new Option("--log-level <level>", "log level (env WEFT_LOG_LEVEL)")
        .choices(LOG_LEVELS)
        .default(env.WEFT_LOG_LEVEL ?? "info"),
    )
    .option(
      "--metrics-port <port>",
      "serve Prometheus metrics at http://<metrics-host>:<port>/metrics (0: any free port)",
      portNumber("--metrics-port"),
    )
    .option("--metrics-host <host>", "interface of the metrics server", "127.0.0.1")
    .option(
      "--trace",
      "trace attempts with OpenTelemetry (@opentelemetry/api: a no-op until an SDK is registered, e.g. node --import)",
    )
    .action(
      async (
        module: string,
        opts: StoreOpts & {
          queues: ReadonlyArray<string>;
          concurrency?: number;
          prefetch?: number;
          lease?: number;
          grace?: number;
          logLevel: string;
          rateLimit: Readonly<Record<string, RateLimit>>;
          metricsPort?: number;
          metricsHost: string;
          trace?: boolean;
        },
      ) => {
        const concurrency = opts.concurrency ?? envConcurrency(env) ?? 8;
        // commander checks --log-level's choices, not a default taken from the environment
        if (!LOG_LEVELS.includes(opts.logLevel))
          throw new Error(
            `WEFT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(opts.logLevel)}`,
          );
        const { loadHandlers } = await import("./handlers.ts");
        const handlers = await loadHandlers(module, cwd);
        const [{ pino }, { startWorker }] = await Promise.all([import("pino"), core()]);
        const logger = pino(
          { level: opts.logLevel, hooks: { streamWrite: safe } },
          io.log === undefined ? undefined : { write: io.log },
        );
        const { observe } = await import("./observe.ts");
        const observing = await observe({
          ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
          metricsHost: opts.metricsHost,
          trace: opts.trace ?? false,
        });
        if (observing.url) logger.info({ url: observing.url }, "serving metrics");
        try {
          await runWorker(opts, logger, async (store, stop) => {
            const worker = startWorker({
              store,
              handlers,
              queues: opts.queues,
              concurrency,
              logger,
              ...(opts.prefetch === undefined ? {} : { prefetch: opts.prefetch }),
              ...(opts.lease === undefined ? {} : { leaseMs: opts.lease }),
              ...(Object.keys(opts.rateLimit).length === 0 ? {} : { rateLimits: opts.rateLimit }),
              ...(observing.hooks === undefined ? {} : { hooks: observing.hooks }),
            });
            if (stop.aborted) void worker.stop(opts.grace);
            else stop.addEventListener("abort", () => void worker.stop(opts.grace), { once: true });
            await worker.done;
          });
        } finally {
          await observing.close();
        }
      },
    );

  storeCommand("submit")
    .description(
      "submit a task by name (Celery's send_task) and print the run id; the worker that runs it checks the input against its declaration",
    )
    .argument("<task>", 'the task\'s name, e.g. "email.send"')
    .requiredOption("-i, --input <json>", "the task's input, as JSON", jsonInput)
    .option("-q, --queue <name>", 'queue the task\'s worker consumes (default "default")')
    .option("--priority <n>", "0 (lowest) to 15 (highest), default 5", priorityOf)
    .option(
      "-k, --idempotency-key <key>",
      "a second submit with the same key (within 24 h, while its run exists) prints the first run's id",
    )
    .option("-t, --tag <tag...>", "tags of the run")
    .action(
      async (
        taskName: string,
        opts: StoreOpts & {
          input: unknown;
          queue?: string;
          priority?: number;
          idempotencyKey?: string;
          tag?: ReadonlyArray<string>;
        },
      ) => {
        const { createClient } = await core();
        await withStore(opts, async (store) => {
          const run = await createClient(store, now).submitByName(taskName, opts.input, {
            ...(opts.queue === undefined ? {} : { queue: opts.queue }),
            ...(opts.priority === undefined ? {} : { priority: opts.priority }),
            ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }),
            ...(opts.tag === undefined ? {} : { tags: opts.tag }),
          });
          out(`${run.runId}\n`);
          if (run.existing)
            err(`run ${run.runId} already existed (same idempotency key); nothing was submitted\n`);
        });
      },
    );

  storeCommand("inspect")
    .description(
      "show a run and its nodes as a tree of its canvas; says which queued nodes no live worker can run",
    )
    .argument("<runId>", "the run's id")
    .option(
      "--json",
      "print the run snapshot as JSON, each node with its input and result (long ones truncated)",
    )
    .option("--all", "show every member of wide groups instead of a summary line")
    .action(async (runId: string, opts: StoreOpts & { json?: boolean; all?: boolean }) => {
      await withStore(opts, async (store) => {
        const snap = await store.getRun(runId);
        if (!snap) {
          err(`error: ${new (await core()).RunNotFound({ runId }).message}\n`);
          code = 1;
          return;
        }
        const values = await nodeValues(store, snap);
        if (opts.json) {
          out(toJson(withValues(snap, values)));
          return;
        }
        const workers = await store.listWorkers({ now: now() });
        // running nodes' leases: one ZSCORE each, in one pipelined round trip
        const running = snap.nodes.filter((n) => n.state === "running" && n.token !== undefined);
        const expiries = await store.leaseExpiries(
          running.map((n) => ({ runId, nodeId: n.id, queue: n.spec.queue, token: n.token! })),
        );
        const leases = new Map<number, number>();
        running.forEach((n, i) => {
          const until = expiries[i];
          if (until !== undefined) leases.set(n.id, until);
        });
        out(
          renderInspect(snap, {
            color,
            all: opts.all ?? false,
            now: now(),
            workers,
            values,
            leases,
          }),
        );
      });
    });

  storeCommand("runs")
    .description("list recent runs, newest first, with their first task")
    .option("-n, --limit <n>", "how many runs", positiveInt("--limit"), 20)
    .addOption(new Option("--status <status>", "only runs with this status").choices(RUN_STATUSES))
    .option("--task <name>", "only runs whose first task is this one")
    .option("--tag <tag>", "only runs with this tag")
    .option("--json", "print the runs as JSON")
    .action(
      async (
        opts: StoreOpts & {
          limit: number;
          json?: boolean;
          status?: RunStatus;
          task?: string;
          tag?: string;
        },
      ) => {
        await withStore(opts, async (store) => {
          const runs = await store.listRuns({
            limit: opts.limit,
            ...(opts.status === undefined ? {} : { status: opts.status }),
            ...(opts.task === undefined ? {} : { task: opts.task }),
            ...(opts.tag === undefined ? {} : { tag: opts.tag }),
          });
          out(opts.json ? toJson(runs) : renderRuns(runs, { color, now: now() }));
        });
      },
    );

  storeCommand("workers")
    .description(
      "list registered workers: queues, tasks, concurrency, last seen, alive (dead ones are kept for a day)",
    )
    .option("--json", "print the workers as JSON")
    .action(async (opts: StoreOpts & { json?: boolean }) => {
      await withStore(opts, async (store) => {
        const workers = await store.listWorkers({ now: now() });
        out(opts.json ? toJson(workers) : renderWorkers(workers, { color, now: now() }));
      });
    });

  storeCommand("cancel")
    .description(
      "cancel a run: queued nodes are cancelled, running handlers are signalled (exit 1 if the run does not exist)",
    )
    .argument("<runId>", "the run's id")
    .action(async (runId: string, opts: StoreOpts) => {
      await withStore(opts, async (store) => {
        const cancelled = await store.cancel(runId, { now: now() });
        const snap = await store.getRun(runId);
        if (!snap) {
          err(`error: ${new (await core()).RunNotFound({ runId }).message}\n`);
          code = 1;
        } else if (cancelled) {
          const running = snap.nodes.filter((n) => n.state === "running").length;
          out(
            `cancelled run ${runId}${
              running > 0
                ? `; ${running} running node${running === 1 ? " was" : "s were"} signalled to stop`
                : ""
            }\n`,
          );
        } else {
          out(`run ${runId} not cancelled: it had already ended (${snap.run.status})\n`);
        }
      });
    });

  /** The store as a schedule store, or a clear error (both Weft stores are). */
  const beatStore = async (store: Store): Promise<BeatStore> => {
    const { isScheduleStore } = await import("@weft/core/store");
    if (!isScheduleStore(store)) throw new Error(`store ${store.name} does not keep schedules`);
    return store;
  };
  const scheduleNotFound = async (id: string) => new (await core()).ScheduleNotFound({ id });

  storeCommand("beat")
    .description(
      "run a beat: fire due schedule ticks (any number of beats may run at once; each tick fires once)",
    )
    .option(
      "--poll <ms>",
      "longest sleep between two scans of the schedules, ms (default 1000)",
      positiveInt("--poll"),
    )
    .addOption(
      new Option("--log-level <level>", "log level (env WEFT_LOG_LEVEL)")
        .choices(LOG_LEVELS)
        .default(env.WEFT_LOG_LEVEL ?? "info"),
    )
    .option(
      "--metrics-port <port>",
      "serve the schedule lag metrics at http://<metrics-host>:<port>/metrics (0: any free port)",
      portNumber("--metrics-port"),
    )
    .option("--metrics-host <host>", "interface of the metrics server", "127.0.0.1")
    .action(
      async (
        opts: StoreOpts & {
          poll?: number;
          logLevel: string;
          metricsPort?: number;
          metricsHost: string;
        },
      ) => {
        if (!LOG_LEVELS.includes(opts.logLevel))
          throw new Error(
            `WEFT_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(opts.logLevel)}`,
          );
        const [{ pino }, { startBeat }] = await Promise.all([import("pino"), core()]);
        const logger = pino(
          { level: opts.logLevel, hooks: { streamWrite: safe } },
          io.log === undefined ? undefined : { write: io.log },
        );
        const { observeBeat } = await import("./observe.ts");
        const observing = await observeBeat({
          ...(opts.metricsPort === undefined ? {} : { metricsPort: opts.metricsPort }),
          metricsHost: opts.metricsHost,
        });
        if (observing.url) logger.info({ url: observing.url }, "serving metrics");
        try {
          await runWorker(opts, logger, async (store, stop) => {
            const beat = startBeat({
              store: await beatStore(store),
              logger,
              ...(opts.poll === undefined ? {} : { pollMs: opts.poll }),
              ...(observing.onFire === undefined ? {} : { onFire: observing.onFire }),
            });
            if (!stop.aborted)
              await new Promise((r) => stop.addEventListener("abort", r, { once: true }));
            await beat.stop();
          });
        } finally {
          await observing.close();
        }
      },
    );

  const schedules = program
    .command("schedules")
    .description("add, list, pause, resume, remove and trigger schedules (fired by weft beat)");

  withStoreOptions(schedules.command("add"))
    .description("add a schedule, or replace the one with this id (its firing state is kept)")
    .argument("<id>", "the schedule's id")
    .option("--cron <expr>", 'cron expression, e.g. "0 3 * * *" (croner syntax)')
    .option("--tz <zone>", 'IANA time zone of --cron, e.g. "Europe/Berlin" (default UTC)')
    .option("--every <ms>", "fire every this many ms instead of a cron", positiveInt("--every"))
    .requiredOption("--task <name>", "the task submitted at each tick, by name")
    .option("-i, --input <json>", "the task's input, as JSON (default null)", jsonInput)
    .addOption(
      new Option("--overlap <policy>", "what a tick does while the previous run is going")
        .choices(OVERLAP_CHOICES)
        .default("skip"),
    )
    .option(
      "--catchup <ms>",
      "a missed tick still fires within this many ms (default 60000)",
      nonNegativeInt("--catchup"),
    )
    .option("--jitter <ms>", "fire each tick up to this many ms late", nonNegativeInt("--jitter"))
    .option("-q, --queue <name>", "queue of the submitted task")
    .option("--paused", "add it paused")
    .action(
      async (
        id: string,
        opts: StoreOpts & {
          cron?: string;
          tz?: string;
          every?: number;
          task: string;
          input?: unknown;
          overlap: OverlapPolicy;
          catchup?: number;
          jitter?: number;
          queue?: string;
          paused?: boolean;
        },
      ) => {
        if ((opts.cron === undefined) === (opts.every === undefined))
          throw new Error("give exactly one of --cron and --every");
        const { upsertSchedule } = await core();
        await withStore(opts, async (store) => {
          const rec = await upsertSchedule(
            await beatStore(store),
            {
              id,
              ...(opts.cron === undefined ? {} : { cron: opts.cron }),
              ...(opts.tz === undefined ? {} : { timezone: opts.tz }),
              ...(opts.every === undefined ? {} : { everyMs: opts.every }),
              target: {
                task: opts.task,
                input: opts.input ?? null,
                ...(opts.queue === undefined ? {} : { options: { queue: opts.queue } }),
              },
              overlap: opts.overlap,
              ...(opts.catchup === undefined ? {} : { catchupWindowMs: opts.catchup }),
              ...(opts.jitter === undefined ? {} : { jitterMs: opts.jitter }),
              ...(opts.paused ? { paused: true } : {}),
            },
            now(),
          );
          out(`schedule ${rec.schedule.id} ${rec.state.version === 0 ? "added" : "updated"}\n`);
        });
      },
    );

  withStoreOptions(schedules.command("list"))
    .description("list schedules: when they fire, the next fire time, the last run and its status")
    .option("--json", "print the schedules as JSON")
    .action(async (opts: StoreOpts & { json?: boolean }) => {
      const { renderSchedules, scheduleView } = await import("./schedules.ts");
      await withStore(opts, async (store) => {
        const bs = await beatStore(store);
        const t = now();
        const views = await Promise.all(
          (await bs.listSchedules()).map((r) => scheduleView(bs, r, t)),
        );
        out(opts.json ? toJson(views) : renderSchedules(views));
      });
    });

  for (const [name, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    withStoreOptions(schedules.command(name))
      .description(
        paused
          ? "pause a schedule: its ticks pass without firing"
          : "resume a paused schedule (ticks that passed while paused do not fire)",
      )
      .argument("<id>", "the schedule's id")
      .action(async (id: string, opts: StoreOpts) => {
        await withStore(opts, async (store) => {
          if (!(await (await beatStore(store)).pauseSchedule(id, paused, { now: now() })))
            throw await scheduleNotFound(id);
          out(`schedule ${id} ${paused ? "paused" : "resumed"}\n`);
        });
      });
  }

  withStoreOptions(schedules.command("remove"))
    .description("remove a schedule (its runs are kept)")
    .argument("<id>", "the schedule's id")
    .action(async (id: string, opts: StoreOpts) => {
      await withStore(opts, async (store) => {
        if (!(await (await beatStore(store)).removeSchedule(id))) throw await scheduleNotFound(id);
        out(`schedule ${id} removed\n`);
      });
    });

  withStoreOptions(schedules.command("trigger"))
    .description("fire a schedule now, outside its ticks, and print the run id")
    .argument("<id>", "the schedule's id")
    .action(async (id: string, opts: StoreOpts) => {
      const { triggerSchedule } = await core();
      await withStore(opts, async (store) => {
        out(`${await triggerSchedule(await beatStore(store), id, now())}\n`);
      });
    });

  storeCommand("retry")
    .description(
      "re-drive a run that ended failed or cancelled: succeeded nodes keep their results and every attempt is kept; failed, skipped and cancelled nodes run again (exit 1 if refused)",
    )
    .argument("<runId>", "the run's id")
    .option(
      "--node <id>",
      "the node to run with --input (default: the node that failed the run)",
      nodeId,
    )
    .option(
      "-i, --input <json>",
      "run the failed node (or --node) with this input, as JSON, instead of its own",
      jsonInput,
    )
    .action(async (runId: string, opts: StoreOpts & { node?: number; input?: unknown }) => {
      await withStore(opts, async (store) => {
        const { createClient } = await core();
        const before = await store.getRun(runId);
        const edited = opts.input === undefined ? undefined : (opts.node ?? before?.run.failedNode);
        try {
          await createClient(store, now).redrive(runId, {
            ...(opts.node === undefined ? {} : { node: opts.node }),
            ...(opts.input === undefined ? {} : { input: opts.input }),
          });
        } catch (e) {
          err(`error: ${messageOf(e)}\n`);
          code = 1;
          return;
        }
        const snap = await store.getRun(runId);
        const queued = snap?.nodes.filter((n) => n.state === "queued").length ?? 0;
        out(
          `re-drove run ${runId}: ${queued} node${queued === 1 ? "" : "s"} queued${
            edited === undefined ? "" : `; node ${edited} runs with the input given`
          }\n`,
        );
      });
    });

  const opsContext = {
    storeCommand,
    withStore,
    out,
    color,
    now,
    exit: (c: number) => {
      code = c;
    },
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    ...(io.stdout === undefined && process.stdout.isTTY ? { tty: process.stdout } : {}),
  };
  addOpsCommands(opsContext);
  addDashboardCommand({ ...opsContext, env });

  try {
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (e) {
    // commander has already printed its own message (usage errors, --help, --version)
    if (e instanceof CommanderError) return e.exitCode;
    err(`error: ${messageOf(e)}\n`); // one line; masked by `err`
    if (env.WEFT_DEBUG && e instanceof Error && e.stack) err(`${e.stack}\n`);
    return 1;
  }
};
