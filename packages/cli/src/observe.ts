/**
 * `weft worker --metrics-port` and `--trace`: the worker's hooks for
 * Prometheus metrics and OpenTelemetry traces (from `@weft/dashboard`,
 * loaded only when asked for), and the HTTP server of `/metrics`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { WorkerHooks } from "@weft/core";

/** What the worker command gets: hooks to pass, and a stop for the metrics server. */
export interface Observing {
  readonly hooks?: WorkerHooks;
  /** `http://host:port/metrics`, when serving metrics. */
  readonly url?: string;
  readonly close: () => Promise<void>;
}

/**
 * Builds the hooks asked for and starts the metrics server on
 * `host:port` (`GET /metrics`, Prometheus text; anything else 404).
 */
export const observe = async (opts: {
  readonly metricsPort?: number;
  readonly metricsHost: string;
  readonly trace: boolean;
}): Promise<Observing> => {
  if (opts.metricsPort === undefined && !opts.trace) return { close: async () => undefined };
  const { combineHooks, tracingHooks, workerMetrics } = await import("@weft/dashboard");
  const all: WorkerHooks[] = [];
  let server: Server | undefined;
  let url: string | undefined;
  if (opts.metricsPort !== undefined) {
    const metrics = workerMetrics();
    all.push(metrics.hooks);
    server = createServer((req, res) => {
      if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
        res.writeHead(404).end("only GET /metrics here\n");
        return;
      }
      metrics.scrape().then(
        ({ type, body }) => res.writeHead(200, { "Content-Type": type }).end(body),
        (e: unknown) => res.writeHead(500).end(`${e instanceof Error ? e.message : String(e)}\n`),
      );
    });
    const s = server;
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(opts.metricsPort, opts.metricsHost, () => resolve());
    });
    const port = (s.address() as AddressInfo).port;
    url = `http://${opts.metricsHost.includes(":") ? `[${opts.metricsHost}]` : opts.metricsHost}:${port}/metrics`;
  }
  if (opts.trace) all.push(tracingHooks());
  const s = server;
  return {
    hooks: combineHooks(...all),
    ...(url === undefined ? {} : { url }),
    close: () =>
      s === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => s.close(() => resolve())),
  };
};
