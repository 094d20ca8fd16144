/**
 * The HTTP example end to end: a private redis-server, the flaky CRM, the
 * worker module as a child process (`src/worker.ts`, configured by
 * environment as in production) and the app served on a free port, all
 * talked to over real HTTP.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { createClient } from "@weft/core";
import { RedisStore } from "@weft/redis";
import { freePort, type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type RunView } from "../src/app.ts";
import { type Crm, startCrm } from "../src/crm.ts";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));

interface SseEvent {
  readonly event: string;
  readonly id: string;
  readonly data: unknown;
}

/** Reads a Server-Sent Events response to its end. */
const readSse = async (res: Response): Promise<SseEvent[]> => {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const field = (name: string) =>
        block
          .split("\n")
          .filter((l) => l.startsWith(`${name}:`))
          .map((l) => l.slice(name.length + 1).trimStart())
          .join("\n");
      return { event: field("event"), id: field("id"), data: JSON.parse(field("data")) };
    });
};

describe("the onboarding app over HTTP, on Redis, with a worker process", () => {
  let redis: RedisServer;
  let crm: Crm;
  let store: RedisStore;
  let worker: ChildProcess;
  let workerLog = "";
  let server: ReturnType<typeof serve>;
  let base: string;

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/signups`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const getJson = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** Polls `GET /runs/:id` (a long poll: each request waits up to 30 s for the run to end). */
  const pollToEnd = async (runId: string): Promise<RunView> => {
    for (;;) {
      const { status, body } = await getJson(`/runs/${runId}?wait=30000`);
      expect(status).toBe(200);
      const run = body as unknown as RunView;
      if (["succeeded", "failed", "cancelled"].includes(run.status)) return run;
    }
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    crm = await startCrm();
    worker = spawn(
      process.execPath,
      ["--conditions=@weft/source", "--import", "tsx", "src/worker.ts"],
      {
        cwd: pkgDir,
        env: {
          ...process.env,
          REDIS_URL: redis.url,
          WEFT_PREFIX: "onboarding",
          WEFT_CONCURRENCY: "4",
          WEFT_LOG_LEVEL: "warn",
          CRM_URL: crm.url,
        },
        stdio: "pipe",
      },
    );
    worker.stdout?.on("data", (d) => {
      workerLog += d;
    });
    worker.stderr?.on("data", (d) => {
      workerLog += d;
    });
    store = await RedisStore.connect(redis.url, { prefix: "onboarding" });
    const app = createApp({ client: createClient(store) });
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    await new Promise((resolve) => server?.close(resolve));
    await store?.close();
    await crm?.close();
    await redis?.stop();
  });

  it("onboards a signup: POST /signups, then GET /runs/:id polls to succeeded with the typed result; notifyCrm was retried once", async () => {
    const res = await post({ email: "ada@example.com", name: "Ada" });
    expect(res.status).toBe(202);
    const { runId, existing } = (await res.json()) as { runId: string; existing: boolean };
    expect(existing).toBe(false);

    const run = await pollToEnd(runId);
    expect(run.status, workerLog).toBe("succeeded");
    expect(run.result).toEqual({
      accountId: expect.stringMatching(/^acct-[0-9a-f]{12}$/),
      messageId: expect.stringMatching(/^msg-[0-9a-f]{12}$/),
      workspaceId: expect.stringMatching(/^ws-[0-9a-f]{12}$/),
      crmId: expect.stringMatching(/^crm-[0-9a-f]{12}$/),
    });
    expect(run.progress).toMatchObject({ ended: 5, total: 5 });
    expect(run.progress.nodes.map((n) => [n.task, n.state])).toEqual([
      ["onboarding.createAccount", "succeeded"],
      ["onboarding.sendWelcomeEmail", "succeeded"],
      ["onboarding.provisionWorkspace", "succeeded"],
      ["onboarding.notifyCrm", "succeeded"],
      ["onboarding.summarize", "succeeded"],
    ]);

    // the flaky CRM failed the first call: notifyCrm ran twice, with the same idempotency key
    const crmNode = run.progress.nodes.find((n) => n.task === "onboarding.notifyCrm")!;
    expect(crmNode.attempts).toBe(2);
    const snap = await createClient(store).get(runId);
    expect(snap.nodes[crmNode.id]!.history.map((a) => [a.outcome, a.error?.tag])).toEqual([
      ["failed", "CrmUnavailable"],
    ]);
    expect(crm.calls.filter((c) => c.email === "ada@example.com")).toEqual([
      { email: "ada@example.com", idempotencyKey: `${runId}:${crmNode.id}`, status: 503 },
      { email: "ada@example.com", idempotencyKey: `${runId}:${crmNode.id}`, status: 201 },
    ]);
  });

  it("returns the same run for the same idempotency key (the header, or the email without one); the key with another body is a 409", async () => {
    const key = { "Idempotency-Key": "signup-request-7" };
    const first = (await (await post({ email: "bob@example.com", name: "Bob" }, key)).json()) as {
      runId: string;
      existing: boolean;
    };
    const again = await post({ email: "bob@example.com", name: "Bob" }, key);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ runId: first.runId, existing: true });
    const conflict = await post({ email: "bob@example.com", name: "Robert" }, key);
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { error: string }).error).toContain(first.runId);

    const byEmail = (await (await post({ email: "cy@example.com", name: "Cy" })).json()) as {
      runId: string;
    };
    const byEmailAgain = await post({ email: "Cy@Example.com", name: "Cy" });
    expect(await byEmailAgain.json()).toMatchObject({ runId: byEmail.runId, existing: true });
    expect((await pollToEnd(first.runId)).status).toBe("succeeded");
    expect((await pollToEnd(byEmail.runId)).status).toBe("succeeded");
  });

  it("streams a run's progress as Server-Sent Events: progress events, then one end event with the result", async () => {
    const { runId } = (await (await post({ email: "dee@example.com", name: "Dee" })).json()) as {
      runId: string;
    };
    const res = await fetch(`${base}/runs/${runId}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSse(res);
    const last = events.at(-1)!;
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.slice(0, -1).every((e) => e.event === "progress")).toBe(true);
    expect(last.event).toBe("end");
    expect(last.data).toMatchObject({
      runId,
      status: "succeeded",
      result: { crmId: expect.stringMatching(/^crm-/) },
    });
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i));
    const ended = events.slice(0, -1).map((e) => (e.data as { ended: number }).ended);
    expect(ended).toEqual([...ended].sort((a, b) => a - b));
    expect(events.at(-2)!.data).toMatchObject({ status: "succeeded", ended: 5, total: 5 });
  });

  it("refuses a bad signup with a 400 naming each bad field; an unknown run is a 404", async () => {
    const bad = await post({ email: "not-an-email", name: "" });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: string; detail: string };
    expect(body.error).toBe("invalid signup");
    expect(body.detail).toContain('at ["email"]');
    expect(body.detail).toContain('at ["name"]');
    expect((await getJson("/runs/no-such-run")).status).toBe(404);
    expect((await fetch(`${base}/runs/no-such-run/events`)).status).toBe(404);
    const { runId } = (await (await post({ email: "eve@example.com", name: "Eve" })).json()) as {
      runId: string;
    };
    const wait = await getJson(`/runs/${runId}?wait=-1`);
    expect(wait).toEqual({
      status: 400,
      body: { error: "wait must be a number of ms from 0 to 30000" },
    });
  });

  it("runs the app process (src/server.ts) from its environment; it stops on SIGTERM, exit code 0", async () => {
    const port = await freePort();
    const app = spawn(
      process.execPath,
      ["--conditions=@weft/source", "--import", "tsx", "src/server.ts"],
      {
        cwd: pkgDir,
        env: {
          ...process.env,
          REDIS_URL: redis.url,
          WEFT_PREFIX: "onboarding",
          PORT: String(port),
        },
        stdio: "pipe",
      },
    );
    try {
      let log = "";
      const listening = new Promise<void>((resolve, reject) => {
        app.stdout?.on("data", (d) => {
          log += d;
          if (log.includes("onboarding app listening")) resolve();
        });
        app.stderr?.on("data", (d) => {
          log += d;
        });
        app.once("exit", (code) => reject(new Error(`the app exited (${code}): ${log}`)));
      });
      await listening;
      // the same prefix as the worker: it reads the runs the test's app submitted
      const runs = await store.listRuns({ limit: 1 });
      const res = await fetch(`http://127.0.0.1:${port}/runs/${runs[0]!.id}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as RunView).runId).toBe(runs[0]!.id);
      expect((await fetch(`http://127.0.0.1:${port}/runs/nope`)).status).toBe(404);
      const exited = once(app, "exit");
      app.kill("SIGTERM");
      expect(await exited).toEqual([0, null]);
    } finally {
      if (app.exitCode === null && app.signalCode === null) app.kill("SIGKILL");
    }
  });

  it("stops the worker process on SIGTERM, exit code 0", async () => {
    const exited = once(worker, "exit");
    worker.kill("SIGTERM");
    const [code, signal] = await exited;
    expect({ code, signal }, workerLog).toEqual({ code: 0, signal: null });
  });
});
