/**
 * The HTTP app (Hono): it submits onboarding runs and reads them back. It
 * imports task declarations and the canvas, never handler code; workers run
 * the handlers in other processes.
 *
 * - `POST /signups` with `{ email, name }` submits the onboarding workflow
 *   and answers `202 { runId, existing }` (the email lower-cased). The
 *   idempotency key is the `Idempotency-Key` header, or `signup:<email>`
 *   without one: a repeated
 *   signup returns the first run (`existing: true`) instead of onboarding
 *   twice; the same key with another body is a `409`.
 * - `GET /runs/:id` answers the run's status, progress and, once it
 *   succeeded, its typed result (`Summary`); `?wait=<ms>` (at most 30 000)
 *   first waits for the run to end, a long poll.
 * - `GET /runs/:id/events` streams the run's progress as Server-Sent
 *   Events: a `progress` event whenever the status or a node's state or
 *   progress changed, then one `end` event with what `GET /runs/:id`
 *   answers. It follows the run's node events (`run.watch()`, docs/events.md)
 *   and reads the run's progress once per event: nothing is polled.
 *
 * Errors are JSON `{ error, detail? }`: 400 for a bad body (naming the
 * field), 404 for an unknown run, 409 for an idempotency key reused with
 * another body, 503 when the store cannot be reached.
 */
import {
  type Client,
  IdempotencyConflict,
  ResultTimeout,
  RunFailed,
  type RunHandle,
  RunNotFound,
  type RunProgress,
  Schema,
  StoreUnavailable,
} from "@weft/core";
import { Hono } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { validator } from "hono/validator";
import { Signup, type Summary, summarize } from "./tasks.ts";
import { onboarding } from "./workflow.ts";

/** Options of {@link createApp}. */
export interface AppOptions {
  /** The client the app submits with and reads runs through. */
  readonly client: Client;
}

/** What `GET /runs/:id` answers, and the data of the SSE `end` event. */
export interface RunView {
  readonly runId: string;
  readonly status: RunProgress["status"];
  readonly progress: Pick<RunProgress, "ended" | "total" | "nodes">;
  /** The run's typed result, once it succeeded. */
  readonly result?: Summary;
  /** Why the run failed, once it failed. */
  readonly error?: { readonly tag: string; readonly message: string };
}

/** The longest `?wait=` a status request may ask for, ms. */
export const MAX_WAIT_MS = 30_000;

const ENDED = new Set<string>(["succeeded", "failed", "cancelled"]);

const decodeSignup = Schema.decodeUnknownResult(Signup, { errors: "all" });

/** Builds the app; serve it with `@hono/node-server`'s `serve({ fetch: app.fetch })`. */
export const createApp = ({ client }: AppOptions) => {
  const view = async (run: RunHandle<Summary>, p?: RunProgress): Promise<RunView> => {
    const progress = p ?? (await run.progress());
    const { runId, status, ended, total, nodes } = progress;
    const base = { runId, status, progress: { ended, total, nodes } };
    if (status === "succeeded") return { ...base, result: await run.result({ timeout: 0 }) };
    if (status === "failed" || status === "cancelled") {
      const error = (await run.status()).error;
      return error ? { ...base, error: { tag: error.tag, message: error.message } } : base;
    }
    return base;
  };

  const app = new Hono()
    .post(
      "/signups",
      validator("json", (body, c) => {
        const r = decodeSignup(body);
        if (r._tag === "Success") return r.success;
        return c.json({ error: "invalid signup", detail: r.failure.message }, 400);
      }),
      async (c) => {
        const valid = c.req.valid("json");
        // one account per address, whatever its case: the key and the input agree
        const signup = { ...valid, email: valid.email.toLowerCase() };
        const idempotencyKey = c.req.header("Idempotency-Key") ?? `signup:${signup.email}`;
        const run = await client.submit(onboarding(signup), {
          idempotencyKey,
          tags: ["signup"],
        });
        return c.json(
          { runId: run.runId, existing: run.existing, status: `/runs/${run.runId}` },
          202,
        );
      },
    )
    .get("/runs/:id", async (c) => {
      const run = await client.handle(c.req.param("id"), summarize);
      const wait = Number(c.req.query("wait") ?? 0);
      if (!(Number.isFinite(wait) && wait >= 0 && wait <= MAX_WAIT_MS)) {
        return c.json({ error: `wait must be a number of ms from 0 to ${MAX_WAIT_MS}` }, 400);
      }
      if (wait > 0) {
        // a long poll: wait for the run to end, then answer whatever it is
        await run.result({ timeout: wait }).catch((e: unknown) => {
          if (!(e instanceof ResultTimeout || e instanceof RunFailed)) throw e;
        });
      }
      return c.json(await view(run));
    })
    .get("/runs/:id/events", async (c) => {
      const run = await client.handle(c.req.param("id"), summarize); // 404 before streaming
      return streamSSE(
        c,
        async (stream) => {
          const stop = new AbortController();
          stream.onAbort(() => stop.abort());
          let last = "";
          let seq = 0;
          // sends what changed; true once the run has ended (and `end` was sent)
          const send = async (): Promise<boolean> => {
            const p = await run.progress();
            const data = JSON.stringify({
              runId: p.runId,
              status: p.status,
              ended: p.ended,
              total: p.total,
              nodes: p.nodes,
            });
            if (data !== last) {
              await stream.writeSSE({ event: "progress", data, id: String(seq++) });
              last = data;
            }
            if (!ENDED.has(p.status)) return false;
            await stream.writeSSE({
              event: "end",
              data: JSON.stringify(await view(run, p)),
              id: String(seq++),
            });
            return true;
          };
          if (await send()) return;
          // every node transition of the run wakes the stream; it ends after `run-ended`
          for await (const _ of run.watch({ signal: stop.signal })) {
            if (await send()) return;
          }
          if (!stop.signal.aborted) await send();
        },
        async (e: Error, stream: SSEStreamingApi) => {
          await stream.writeSSE({ event: "error", data: JSON.stringify({ error: e.message }) });
        },
      );
    });

  app.onError((e, c) => {
    if (e instanceof RunNotFound) return c.json({ error: e.message }, 404);
    if (e instanceof IdempotencyConflict) return c.json({ error: e.message }, 409);
    if (e instanceof StoreUnavailable) return c.json({ error: e.message }, 503);
    return c.json({ error: "internal error" }, 500);
  });
  return app;
};
