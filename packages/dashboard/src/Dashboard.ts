/**
 * The dashboard server: a Hono app (pages, `/api/`, `/metrics`) behind
 * authentication and CSRF checks, served by `@hono/node-server`.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { liveClock, type Store } from "@weft/core";
import { checkStore } from "@weft/core/store";
import { Hono } from "hono";
import { api } from "./Api.ts";
import { asset } from "./Assets.ts";
import {
  ACTION_HEADER,
  authorized,
  csrfRefusal,
  type DashboardAuth,
  isLoopback,
  TOKEN_COOKIE,
} from "./Auth.ts";
import { dashboardMetrics } from "./Metrics.ts";

/** How the dashboard is built. */
export interface DashboardOptions {
  /** The store it reads, and cancels runs in. */
  readonly store: Store;
  /** Required credentials; absent: none (allowed on a loopback host only, see {@link startDashboard}). */
  readonly auth?: DashboardAuth;
  /** Refuse every state-changing request (cancel) with 403, and hide the buttons. */
  readonly readOnly?: boolean;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Aborted when the dashboard stops (ends event streams). */
  readonly signal?: AbortSignal;
}

/**
 * The dashboard as a Hono app (`app.fetch` serves it): the pages at `/`, the
 * JSON API under `/api/` (docs/dashboard.md) and Prometheus metrics at
 * `/metrics` (docs/operations.md).
 *
 * @throws InvalidStore when `store` is not a store (a Promise not awaited).
 * @throws Error naming the option when `opts` is not an object, `auth` is
 *   not `{ kind: "bearer", token }` or `{ kind: "basic", user, password }`
 *   (`parseAuth("user:pass")` makes one), or `now` is not a function.
 */
export const createDashboard = (opts: DashboardOptions): Hono => {
  checkOptions(opts, "createDashboard");
  checkStore(opts.store, "createDashboard's store option");
  const now = opts.now ?? (() => liveClock.now());
  const app = new Hono();
  const auth = opts.auth;

  app.use("*", async (c, next) => {
    if (auth) {
      // a bearer token given once as ?token= is kept in a cookie, so the pages and SSE work
      const given = c.req.query("token");
      if (
        auth.kind === "bearer" &&
        given !== undefined &&
        authorized(auth, `Bearer ${given}`, "")
      ) {
        c.header(
          "Set-Cookie",
          `${TOKEN_COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/`,
        );
      } else if (!authorized(auth, c.req.header("authorization"), c.req.header("cookie"))) {
        if (auth.kind === "basic")
          c.header("WWW-Authenticate", 'Basic realm="weft", charset="UTF-8"');
        return c.json({ error: "authentication required" }, 401);
      }
    }
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
      const refusal = csrfRefusal(
        c.req.header(ACTION_HEADER),
        c.req.header("origin"),
        c.req.header("host"),
      );
      if (refusal) return c.json({ error: refusal }, 403);
    }
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    await next();
  });

  app.route(
    "/api",
    api({
      store: opts.store,
      readOnly: opts.readOnly ?? false,
      now,
      signal: opts.signal ?? new AbortController().signal,
    }),
  );

  const metrics = dashboardMetrics(opts.store, now, opts.signal);
  app.get("/metrics", async (c) => {
    const { type, body } = await metrics();
    return c.body(body, 200, { "Content-Type": type });
  });

  app.get("*", async (c) => {
    const file = await asset(c.req.path);
    if (!file) return c.json({ error: `no page ${c.req.path}` }, 404);
    return c.body(new Uint8Array(file.body), 200, {
      "Content-Type": file.type,
      "Cache-Control": "no-cache",
    });
  });
  return app;
};

/**
 * Refuses options a JavaScript caller may get wrong, naming the option: an
 * `auth` given as the `--auth` string (every request would then be refused
 * with 401), a port that is not one (Node would listen on a pipe named so).
 */
const checkOptions = (opts: Partial<StartDashboardOptions>, where: string): void => {
  if (typeof opts !== "object" || opts === null)
    throw new Error(
      `${where} takes an options object ({ store, auth?, ... }), got ${String(opts)}`,
    );
  const auth = opts.auth as Record<string, unknown> | undefined;
  const good =
    auth === undefined ||
    (typeof auth === "object" &&
      auth !== null &&
      ((auth.kind === "bearer" && typeof auth.token === "string" && auth.token !== "") ||
        (auth.kind === "basic" &&
          typeof auth.user === "string" &&
          typeof auth.password === "string")));
  if (!good)
    throw new Error(
      `${where}'s auth must be { kind: "bearer", token } or { kind: "basic", user, password } (parseAuth("token") or parseAuth("user:pass") makes one), got ${typeof auth === "string" ? "a string" : JSON.stringify(auth)}`,
    );
  if (opts.now !== undefined && typeof opts.now !== "function")
    throw new Error(`${where}'s now must be a function returning epoch ms, got ${typeof opts.now}`);
  const port: unknown = opts.port;
  if (
    port !== undefined &&
    !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65_535)
  )
    throw new Error(
      `${where}'s port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`,
    );
};

/** Where and how {@link startDashboard} listens. */
export interface StartDashboardOptions extends Omit<DashboardOptions, "signal"> {
  /** Interface to bind. Default `127.0.0.1`. Any non-loopback host requires `auth`. */
  readonly host?: string;
  /** TCP port; 0 picks a free one. Default 7077. */
  readonly port?: number;
}

/** A running dashboard. */
export interface RunningDashboard {
  /** `http://host:port/` it answers at. */
  readonly url: string;
  readonly port: number;
  /** Ends open event streams, stops listening (the store is the caller's to close). */
  readonly close: () => Promise<void>;
}

/**
 * Serves {@link createDashboard} over HTTP.
 *
 * @throws Error when `host` is not a loopback address and no `auth` is given
 *   (the dashboard can cancel runs and shows inputs and results), or an
 *   option is out of range (see {@link createDashboard}; `port` not an
 *   integer from 0 to 65535); InvalidStore when `store` is not a store.
 */
export const startDashboard = async (opts: StartDashboardOptions): Promise<RunningDashboard> => {
  checkOptions(opts, "startDashboard");
  const host = opts.host ?? "127.0.0.1";
  if (!isLoopback(host) && !opts.auth)
    throw new Error(
      `--host ${host} is not a loopback address: give --auth <token> or --auth <user:pass> to serve it there`,
    );
  const stop = new AbortController();
  const app = createDashboard({ ...opts, signal: stop.signal });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port ?? 7077, hostname: host }, () =>
      resolve(s),
    );
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      stop.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // event streams are long-lived: end them rather than wait for them
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
    },
  };
};
