/**
 * `weft dashboard`: serves `@weft/dashboard` (docs/dashboard.md) over the
 * store until stopped (SIGINT/SIGTERM, or the CLI's abort signal).
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { OpsContext } from "./ops.ts";

interface DashboardOpts {
  readonly redis: string;
  readonly prefix: string;
  readonly tlsCa?: string;
  readonly host: string;
  readonly port: number;
  readonly auth?: string;
  readonly readOnly?: boolean;
}

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError(`--port takes 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
};

/** Adds `dashboard` to the program. */
export const addDashboardCommand = (
  ctx: OpsContext & { readonly env: NodeJS.ProcessEnv },
): Command =>
  ctx
    .storeCommand("dashboard")
    .description(
      "serve the web dashboard: runs, a run's live DAG, workers, queues, locks; a JSON API under /api/ and Prometheus metrics at /metrics",
    )
    .option(
      "--host <host>",
      "interface to bind; any non-loopback host requires --auth",
      "127.0.0.1",
    )
    .option("--port <port>", "TCP port (0: any free one)", port, 7077)
    .option(
      "--auth <token|user:pass>",
      "require a bearer token, or user:pass for HTTP Basic (env WEFT_DASHBOARD_AUTH)",
    )
    .option("--read-only", "refuse cancelling runs (and every other state-changing request)")
    .action(async (opts: DashboardOpts) => {
      // loaded here, not at startup: `weft --help` stays fast (docs/packaging.md)
      const { parseAuth, startDashboard } = await import("@weft/dashboard");
      const authText = opts.auth ?? (ctx.env.WEFT_DASHBOARD_AUTH || undefined);
      const auth = authText === undefined ? undefined : parseAuth(authText);
      await ctx.withStore(opts, async (store) => {
        const dashboard = await startDashboard({
          store,
          host: opts.host,
          port: opts.port,
          now: ctx.now,
          ...(auth === undefined ? {} : { auth }),
          ...(opts.readOnly ? { readOnly: true } : {}),
        });
        ctx.out(`dashboard on ${dashboard.url}${opts.readOnly ? " (read-only)" : ""}\n`);
        const stopped = new Promise<void>((resolve) => {
          const signal = ctx.signal;
          if (signal) {
            if (signal.aborted) resolve();
            else signal.addEventListener("abort", () => resolve(), { once: true });
            return;
          }
          const stop = () => {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            resolve();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
        });
        await stopped;
        await dashboard.close();
      });
    });
