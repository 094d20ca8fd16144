/**
 * A beat's Prometheus metrics, from its `onFire` hook (docs/operations.md,
 * "Metrics"): `startBeat({ store, onFire: m.onFire })`, then serve
 * `m.scrape()`.
 *
 * - `weft_schedule_lag_seconds{schedule}`: how long after its tick each
 *   tick was fired (`firedAt - tick`, histogram, seconds as Prometheus
 *   wants);
 * - `weft_schedule_fires_total{schedule}`: ticks this beat fired.
 */
import type { FiredTick } from "@weft/core";
import { Counter, Histogram, Registry } from "prom-client";
import type { Scrape } from "./Metrics.ts";

/** A beat's metrics: the hook that feeds them and a scrape of them. */
export interface BeatMetrics {
  /** Pass as `startBeat({ onFire })`. */
  readonly onFire: (tick: FiredTick) => void;
  readonly scrape: Scrape;
  /** The prom-client registry, to add an application's own metrics. */
  readonly registry: Registry;
}

/** Histogram buckets of schedule lag, seconds: 10 ms to 10 min. */
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/** Builds a beat's metrics on a registry of their own. */
export const beatMetrics = (): BeatMetrics => {
  const registry = new Registry();
  const lag = new Histogram({
    name: "weft_schedule_lag_seconds",
    help: "How long after its tick a schedule's tick was fired, seconds",
    labelNames: ["schedule"],
    buckets: LAG_BUCKETS,
    registers: [registry],
  });
  const fires = new Counter({
    name: "weft_schedule_fires_total",
    help: "Ticks this beat fired, by schedule",
    labelNames: ["schedule"],
    registers: [registry],
  });
  return {
    registry,
    onFire: (f) => {
      fires.inc({ schedule: f.id });
      lag.observe({ schedule: f.id }, Math.max(0, f.firedAt - f.tick) / 1000);
    },
    scrape: async () => ({ type: registry.contentType, body: await registry.metrics() }),
  };
};
