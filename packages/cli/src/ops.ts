/**
 * The operator commands of `weft` that read the event stream and the
 * store's listings: `watch <runId>`, `queues`, `locks` (see
 * packages/cli/README.md). Registered by `runCli` on its program.
 */
import type { Store } from "@weft/core";
import type { Command } from "commander";
import { toJson } from "./render.ts";
import { renderLocks, renderQueues } from "./render-ops.ts";

/** The connection options every store command takes (see `runCli`). */
interface StoreOpts {
  readonly redis: string;
  readonly prefix: string;
  readonly tlsCa?: string;
}

/** What `runCli` lends the commands of this module. */
export interface OpsContext {
  /** A new subcommand with the store options (`--redis`, `--prefix`, `--tls-ca`). */
  readonly storeCommand: (name: string) => Command;
  /** Opens the store, runs `f`, closes it. */
  readonly withStore: (opts: StoreOpts, f: (store: Store) => Promise<void>) => Promise<void>;
  readonly out: (text: string) => void;
  readonly color: boolean;
  readonly now: () => number;
  /** Sets the command's exit code. */
  readonly exit: (code: number) => void;
  /** Stops `watch` when aborted. */
  readonly signal?: AbortSignal;
  /** The terminal `watch` draws progress bars on, when standard output is one. */
  readonly tty?: NodeJS.WriteStream;
}

/** Adds `watch`, `queues` (with `queues pause|resume`) and `locks` to the program. */
export const addOpsCommands = (ctx: OpsContext): void => {
  ctx
    .storeCommand("watch")
    .description(
      "follow a run live until it ends: progress bars on a terminal, one line per event otherwise (exit 0 if it succeeded, 1 if not)",
    )
    .argument("<runId>", "the run's id")
    .option("--lines", "print one line per event even on a terminal")
    .action(async (runId: string, opts: StoreOpts & { lines?: boolean }) => {
      // loaded here, not at startup: `weft --help` stays fast (docs/packaging.md)
      const [{ createClient }, { watch }] = await Promise.all([
        import("@weft/core"),
        import("./watch.ts"),
      ]);
      await ctx.withStore(opts, async (store) => {
        const status = await watch({
          store,
          client: createClient(store, ctx.now),
          runId,
          out: ctx.out,
          color: ctx.color,
          now: ctx.now,
          ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
          ...(ctx.tty === undefined || opts.lines ? {} : { tty: ctx.tty }),
        });
        ctx.exit(status === "succeeded" ? 0 : 1);
      });
    });

  const queues = ctx
    .storeCommand("queues")
    .description(
      "per queue: ready, delayed, leased and parked nodes, throughput (attempts finished in the last 60 s by live workers) and live consumers; warns of paused queues, queues no live worker consumes and parked tasks no live worker handles (pause|resume <queue> to stop or restart a queue's claims)",
    )
    .option(
      "-q, --queue <name...>",
      "queues to show (default: the queues of live workers and of recent runs)",
    )
    .option("--json", "print the counts as JSON")
    .action(async (opts: StoreOpts & { queue?: string[]; json?: boolean }) => {
      await ctx.withStore(opts, async (store) => {
        const workers = await store.listWorkers({ now: ctx.now() });
        let names = opts.queue;
        if (!names) {
          const runs = await store.listRuns({ limit: 100 });
          names = [
            ...new Set([
              ...workers.filter((w) => w.alive).flatMap((w) => w.queues),
              ...runs.flatMap((r) => r.queues),
            ]),
          ].sort();
        }
        const stats = await store.queueStats(names);
        const { queueThroughput } = await import("@weft/core/store");
        const live = workers.filter((w) => w.alive);
        if (opts.json) {
          ctx.out(
            toJson(
              stats.map((s) => ({
                ...s,
                consumers: live.filter((w) => w.queues.includes(s.queue)).map((w) => w.id),
                throughput: queueThroughput(live, s.queue),
              })),
            ),
          );
        } else {
          const throughput = new Map(stats.map((s) => [s.queue, queueThroughput(live, s.queue)]));
          ctx.out(renderQueues(stats, { color: ctx.color, workers, throughput }));
        }
      });
    });

  for (const [name, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const) {
    // the store options (--redis, --prefix...) are those of `queues`, wherever they stand:
    // commander hands the parent the options it knows, so the subcommand must not have its own
    queues
      .command(name)
      .description(
        paused
          ? "pause a queue for every worker: no node of it is claimed (they wait, none fails; running ones finish) until it is resumed (takes the store options of queues)"
          : "resume a paused queue: its nodes are claimed again and waiting workers are woken (takes the store options of queues)",
      )
      .argument("<queue>", "the queue's name")
      .action(async (queue: string) => {
        await ctx.withStore(queues.opts<StoreOpts>(), async (store) => {
          if (paused) await store.pauseQueue(queue);
          else await store.resumeQueue(queue);
          ctx.out(`queue ${queue} ${paused ? "paused" : "resumed"}\n`);
        });
      });
  }

  ctx
    .storeCommand("locks")
    .description("list locks: holder, fencing token, expiry")
    .option("--json", "print the locks as JSON")
    .action(async (opts: StoreOpts & { json?: boolean }) => {
      await ctx.withStore(opts, async (store) => {
        const locks = await store.listLocks();
        ctx.out(
          opts.json ? toJson(locks) : renderLocks(locks, { color: ctx.color, now: ctx.now() }),
        );
      });
    });
};
