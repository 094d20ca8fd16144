/**
 * A local error collector: an HTTP server (Hono) that accepts error events
 * as a tracker's ingest endpoint does (`POST /api/:project/store/`, JSON),
 * keeps them in memory and lists them (`GET /api/:project/events`). Enough
 * to see what the worker sends without an account anywhere.
 */
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import type { ErrorEvent } from "./reporter.ts";

/** A running collector. */
export interface Collector {
  /** The ingest URL of project `1`. */
  readonly url: string;
  /** Events received, oldest first. */
  readonly events: ErrorEvent[];
  /** Resolves with the `n`th event (1-based) once it has arrived. */
  waitFor(n: number): Promise<ErrorEvent>;
  close(): Promise<void>;
}

const isEvent = (v: unknown): v is ErrorEvent =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as ErrorEvent).event_id === "string" &&
  Array.isArray((v as ErrorEvent).exception?.values);

/**
 * Starts a collector on `127.0.0.1:port` (default: a free port). A body that
 * is not an event is refused with 400 and a message naming what is wrong.
 */
export const startCollector = async (port = 0): Promise<Collector> => {
  const events: ErrorEvent[] = [];
  const waiters: Array<{ n: number; resolve: (e: ErrorEvent) => void }> = [];
  const app = new Hono();
  app.post("/api/:project/store/", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "the body is not JSON" }, 400);
    }
    if (!isEvent(body))
      return c.json({ error: "an event needs event_id and exception.values" }, 400);
    events.push(body);
    for (const w of waiters.filter((x) => x.n <= events.length)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(events[w.n - 1]!);
    }
    return c.json({ id: body.event_id });
  });
  app.get("/api/:project/events", (c) => c.json(events));
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, () => resolve(s));
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  return {
    url: `http://127.0.0.1:${bound}/api/1/store/`,
    events,
    waitFor: (n) =>
      events.length >= n
        ? Promise.resolve(events[n - 1]!)
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
