/**
 * @weft/dashboard — Weft's web dashboard (docs/dashboard.md): the runs, a
 * run's DAG updated live from the event stream, workers, queues and locks,
 * a JSON API under `/api/`, cancelling runs behind authentication and CSRF
 * checks, and Prometheus metrics at `/metrics`. `weft dashboard` starts it.
 */
export {
  type DashboardAuth,
  isLoopback,
  parseAuth,
} from "./Auth.ts";
export { type BeatMetrics, beatMetrics } from "./BeatMetrics.ts";
export {
  createDashboard,
  type DashboardOptions,
  type RunningDashboard,
  type StartDashboardOptions,
  startDashboard,
} from "./Dashboard.ts";
export { combineHooks } from "./Hooks.ts";
export { dashboardMetrics, RECENT_RUNS, type Scrape } from "./Metrics.ts";
export { nodeSpanId, runSpanId, runTraceId, tracingHooks } from "./Tracing.ts";
export { type WorkerMetrics, workerMetrics } from "./WorkerMetrics.ts";
