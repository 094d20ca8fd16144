import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  Cancelled,
  CorruptRecord,
  DuplicateRun,
  ErrorTag,
  IdempotencyConflict,
  InvalidCanvas,
  InvalidInput,
  InvalidOutput,
  InvalidProgress,
  InvalidWorkerOptions,
  LeaseLost,
  LockLost,
  LockTimeout,
  MissingResult,
  NonRetryableError,
  ResultTimeout,
  ResultUndecodable,
  RetryAfter,
  RunFailed,
  RunNotFound,
  StoreUnavailable,
  SubmitInterrupted,
  TaskFailure,
  Timeout,
  WorkerStopping,
} from "../src/index.ts";
import { missingResultInfo, shapeValue, toErrorInfo } from "../src/store/index.ts";

describe("the error catalogue", () => {
  it("names each tag by itself: every key is its own value, and no value repeats", () => {
    for (const [key, value] of Object.entries(ErrorTag)) expect(value).toBe(key);
    const values = Object.values(ErrorTag);
    expect(new Set(values).size).toBe(values.length);
  });

  it("has a section per tag in docs/errors.md", () => {
    const doc = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");
    const headed = new Set(
      [...doc.matchAll(/^### (.+)$/gm)].flatMap(([, h]) => h!.split(",").map((t) => t.trim())),
    );
    expect(Object.values(ErrorTag).filter((tag) => !headed.has(tag))).toEqual([]);
  });

  it("holds the tag of every error core raises, and that tag is the error's name", () => {
    const info = { tag: "Boom", message: "boom", retryable: true };
    const raised: ReadonlyArray<Error & { readonly _tag: string }> = [
      new Timeout({ timeoutMs: 5 }),
      new LeaseLost(),
      new Cancelled(),
      new WorkerStopping(),
      new LockTimeout({ lock: "printer", waitMs: 10 }),
      new LockLost({ lock: "printer", token: 3 }),
      new InvalidInput({ task: "t", detail: "Expected string" }),
      new InvalidOutput({ task: "t", detail: "Expected number" }),
      new InvalidCanvas({ reason: "empty group" }),
      new InvalidWorkerOptions({ reason: "r" }),
      new InvalidProgress({ reason: "r" }),
      new RunNotFound({ runId: "r" }),
      new DuplicateRun({ runId: "r" }),
      new IdempotencyConflict({ key: "k", runId: "r" }),
      new SubmitInterrupted({ runId: "r", reason: "discarded" }),
      new CorruptRecord({ reason: "not msgpack" }),
      new MissingResult({ nodeId: 1, error: info }),
      new ResultUndecodable({ runId: "r", nodeId: 0, reason: "r" }),
      new ResultTimeout({ runId: "r", timeoutMs: 1 }),
      new RunFailed({ runId: "r", status: "failed" }),
      new StoreUnavailable({ url: "redis://x", reason: "refused" }),
    ];
    const tags: ReadonlyArray<string> = Object.values(ErrorTag);
    for (const e of raised) {
      expect(tags).toContain(e._tag);
      expect(e.name).toBe(e._tag);
      expect(toErrorInfo(e).tag).toBe(e._tag);
    }
  });

  it("records the abort reasons of an attempt with their retryable notion", () => {
    expect(toErrorInfo(new Timeout({ timeoutMs: 250 }))).toMatchObject({
      tag: "Timeout",
      message: "attempt timed out after 250 ms",
      retryable: true,
    });
    expect(toErrorInfo(new LeaseLost())).toMatchObject({ tag: "LeaseLost", retryable: true });
    expect(toErrorInfo(new WorkerStopping())).toMatchObject({ retryable: true });
    expect(toErrorInfo(new Cancelled())).toMatchObject({
      tag: "Cancelled",
      message: "run cancelled",
      retryable: false,
    });
    // an input that fails its schema on a worker fails its node at once, with the submit message
    expect(toErrorInfo(new InvalidInput({ task: "t", detail: "Expected string" }))).toMatchObject({
      tag: "InvalidInput",
      message: 'input of task "t" is invalid: Expected string',
      retryable: false,
    });
  });

  it("hands a dependency with no result the Missing tag, and says which when it can", () => {
    expect(missingResultInfo()).toEqual({ tag: "Missing", message: "no result", retryable: false });
    expect(missingResultInfo("node 3 cancelled").message).toBe("no result: node 3 cancelled");
  });
});

describe("TaskFailure", () => {
  it("records its tag and retries unless it says nonRetryable; keeps data and cause", () => {
    const cause = new Error("HTTP 402");
    const declined = new TaskFailure("card declined", {
      tag: "CardDeclined",
      nonRetryable: true,
      data: { code: "insufficient_funds" },
      cause,
    });
    expect(declined).toBeInstanceOf(Error);
    expect(declined.cause).toBe(cause);
    expect(declined.data).toEqual({ code: "insufficient_funds" });
    expect(toErrorInfo(declined)).toMatchObject({
      tag: "CardDeclined",
      message: "card declined",
      retryable: false,
    });
    expect(toErrorInfo(new TaskFailure("flaky"))).toMatchObject({
      tag: "TaskFailure",
      retryable: true,
    });
  });

  it("keeps NonRetryableError and RetryAfter working as members of the family", () => {
    const refused = new NonRetryableError("account is closed");
    expect(refused).toBeInstanceOf(TaskFailure);
    expect(refused.name).toBe("NonRetryableError");
    expect(toErrorInfo(refused)).toMatchObject({ tag: "NonRetryableError", retryable: false });
    const later = new RetryAfter("rate limited", 30_000);
    expect(later).toBeInstanceOf(TaskFailure);
    expect(later.delayMs).toBe(30_000);
    expect(later.retryAfterMs).toBe(30_000);
    expect(toErrorInfo(later)).toMatchObject({ tag: "RetryAfter", retryable: true });
    // a tag of its own, for the policy's retryOn / nonRetryable
    expect(toErrorInfo(new RetryAfter("busy", 5, { tag: "Busy" })).tag).toBe("Busy");
  });
});

describe("MissingResult", () => {
  it("is what a plain position whose node did not succeed raises, naming the node and why", () => {
    const error = { tag: "Skipped", message: "upstream node 0 failed", retryable: false };
    let thrown: unknown;
    try {
      shapeValue({ list: [0, 1] }, (id) =>
        id === 0 ? { ok: true, value: 1 } : { ok: false, error },
      );
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(MissingResult);
    expect((thrown as MissingResult).nodeId).toBe(1);
    expect((thrown as Error).message).toBe("node 1 has no result: Skipped: upstream node 0 failed");
  });
});
