import { handle, RetryAfter, RunFailed, Schema, task } from "@weft/core";
import { Effect } from "effect";
import { describe, expect, it } from "vitest";
import { runEager, simulate } from "../src/index.ts";

describe("per-attempt timeout", () => {
  const slow = task({
    name: "slow",
    input: Schema.Int,
    output: Schema.Int,
    timeoutMs: 1_000,
    retry: { maxAttempts: 2, backoff: { kind: "fixed", delayMs: 10 }, jitter: "none" },
  });

  it("interrupts an Effect handler at the deadline; the attempt fails and retries under the policy", async () => {
    const interrupted: number[] = [];
    const deadlines: Array<number | undefined> = [];
    const r = await simulate({
      canvas: slow.si(1),
      seed: 1,
      handlers: [
        handle(slow, (n, ctx) => {
          deadlines.push(ctx.deadline);
          return Effect.sleep("1 hour").pipe(
            Effect.as(n),
            Effect.onInterrupt(() => Effect.sync(() => interrupted.push(ctx.attempt))),
          );
        }),
      ],
    });
    expect(r.output.ok).toBe(false);
    expect((r.output as { error: unknown }).error).toBeInstanceOf(RunFailed);
    expect(interrupted).toEqual([1, 2]);
    const node = r.snapshot.nodes[0]!;
    expect(node.history.map((h) => [h.attempt, h.outcome, h.error?.tag])).toEqual([
      [1, "failed", "Timeout"],
      [2, "failed", "Timeout"],
    ]);
    // the soft deadline the handler saw is the attempt's start plus the timeout
    expect(deadlines).toEqual(node.history.map((h) => h.startedAt + 1_000));
  });

  it("lets a handler ask for a specific retry delay (Celery's countdown)", async () => {
    let calls = 0;
    const r = await simulate({
      canvas: slow.si(2),
      seed: 1,
      handlers: [
        handle(slow, async (n) => {
          calls += 1;
          if (calls === 1) throw new RetryAfter("rate limited", 45_000);
          return n;
        }),
      ],
    });
    expect(r.output).toEqual({ ok: true, value: 2 });
    const [failed] = r.store.reports.filter((x) => x.kind === "fail");
    expect(failed!.retryAt! - failed!.at).toBe(45_000);
  });

  it("runEager resolves through a timeout and a retry", async () => {
    let first = true;
    const out = await runEager(slow.si(3), [
      handle(slow, (n, ctx) => {
        if (!first) return n;
        first = false;
        return new Promise<number>((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
        );
      }),
    ]);
    expect(out).toBe(3);
  });
});
