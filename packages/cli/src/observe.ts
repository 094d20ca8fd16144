/**
 * `weft worker --metrics-port` and `--trace`, `weft beat --metrics-port`:
 * the worker's hooks for Prometheus metrics and OpenTelemetry traces, the
 * beat's `onFire` metrics (both from `@weft/dashboard`, loaded only when
 * asked for), and the HTTP server of `/metrics` they share.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { FiredTick, WorkerHooks } from "@weft/core";
import type { Scrape } from "@weft/dashboard";

/** A running `/metrics` server. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly close: () => Promise<void>;
}

/**
 * Serves `scrape` at `http://host:port/metrics` (`GET /metrics`, Prometheus
 * text; anything else 404; a scrape that fails 500 with its message).
 * Port 0 takes any free port; rejects when the port cannot be listened on.
 */
export const serveMetrics = async (opts: {
  readonly port: number;
  readonly host: string;
  readonly scrape: Scrape;
}): Promise<MetricsServer> => {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end("only GET /metrics here\n");
      return;
    }
    opts.scrape().then(
      ({ type, body }) => res.writeHead(200, { "Content-Type": type }).end(body),
      (e: unknown) => res.writeHead(500).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

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
  let server: MetricsServer | undefined;
  if (opts.metricsPort !== undefined) {
    const metrics = workerMetrics();
    all.push(metrics.hooks);
    server = await serveMetrics({
      port: opts.metricsPort,
      host: opts.metricsHost,
      scrape: metrics.scrape,
    });
  }
  if (opts.trace) all.push(tracingHooks());
  return {
    hooks: combineHooks(...all),
    ...(server === undefined ? {} : { url: server.url }),
    close: server?.close ?? (async () => undefined),
  };
};

/** What the beat command gets: the `onFire` hook to pass, and a stop for the metrics server. */
export interface ObservingBeat {
  readonly onFire?: (tick: FiredTick) => void;
  /** `http://host:port/metrics`, when serving metrics. */
  readonly url?: string;
  readonly close: () => Promise<void>;
}

/**
 * `weft beat --metrics-port`: the beat's schedule metrics (`beatMetrics`:
 * `weft_schedule_lag_seconds`, `weft_schedule_fires_total`) served on
 * `host:port` (docs/operations.md, "Metrics"); nothing without a port.
 */
export const observeBeat = async (opts: {
  readonly metricsPort?: number;
  readonly metricsHost: string;
}): Promise<ObservingBeat> => {
  if (opts.metricsPort === undefined) return { close: async () => undefined };
  const { beatMetrics } = await import("@weft/dashboard");
  const metrics = beatMetrics();
  const server = await serveMetrics({
    port: opts.metricsPort,
    host: opts.metricsHost,
    scrape: metrics.scrape,
  });
  return { onFire: metrics.onFire, url: server.url, close: server.close };
};
