/**
 * A flaky local "CRM": an HTTP server (Hono on Node) whose `POST /contacts`
 * answers the first call for each idempotency key with `503 Service
 * Unavailable` and a `Retry-After` of 0 seconds, and every later call with
 * `201 Created` and the same contact id, so a retried `notifyCrm` creates
 * one contact. Stands in for a real CRM in the example and its tests; run it
 * alone with `npm run crm` (port `CRM_PORT`, default 4010).
 */
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

/** One call the CRM received. */
export interface CrmCall {
  readonly email: string;
  /** The `Idempotency-Key` header (empty when absent). */
  readonly idempotencyKey: string;
  /** The status it answered. */
  readonly status: 201 | 503;
}

/** A running CRM. */
export interface Crm {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Every call so far, oldest first. */
  readonly calls: ReadonlyArray<CrmCall>;
  close(): Promise<void>;
}

/** Starts the CRM on `port` (0: a free port) of 127.0.0.1. */
export const startCrm = async (port = 0): Promise<Crm> => {
  const calls: CrmCall[] = [];
  const seen = new Set<string>();
  const app = new Hono().post("/contacts", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { email?: unknown };
    const email = typeof body.email === "string" ? body.email : "";
    const idempotencyKey = c.req.header("Idempotency-Key") ?? "";
    const key = idempotencyKey || email;
    if (!seen.has(key)) {
      seen.add(key);
      calls.push({ email, idempotencyKey, status: 503 });
      c.header("Retry-After", "0");
      return c.json({ error: "CRM is warming up, try again" }, 503);
    }
    calls.push({ email, idempotencyKey, status: 201 });
    const id = `crm-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
    return c.json({ id }, 201);
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
};
