/**
 * The worker's logger is a second line of defence behind the stores' own
 * sanitising: an error that still carries the command it answers (ioredis
 * attaches `command: { name, args }`, and a handshake's args hold the
 * password) is logged with the command's name only.
 */
import { startWorker } from "@weft/core";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/index.ts";

const PASSWORD = "p@ss/w:rd#1%";

/** An unsanitised error as ioredis rejects a command with after a failed handshake. */
const ioredisError = () => {
  const hello = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
    command: { name: "hello", args: ["3", "AUTH", "default", PASSWORD] },
  });
  const previous = Object.assign(new Error("ERR earlier"), {
    command: { name: "auth", args: ["default", PASSWORD] },
  });
  return Object.assign(new Error("Reached the max retries per request limit"), {
    command: { name: "evalsha", args: ["sha", 1, "key", PASSWORD] },
    previousErrors: [previous],
    lastNodeError: hello,
    cause: hello,
  });
};

describe("the worker's log", () => {
  it.each([
    ["a plain pino logger", (write: (s: string) => void) => pino({}, { write })],
    [
      "a logger with its own err serializer",
      (write: (s: string) => void) =>
        pino(
          { serializers: { err: (e: Error) => ({ ...pino.stdSerializers.err(e), custom: true }) } },
          { write },
        ),
    ],
  ])("logs errors without command arguments, with %s", async (_, make) => {
    let log = "";
    let logged!: () => void;
    const claimFailed = new Promise<void>((r) => {
      logged = r;
    });
    const logger = make((s) => {
      log += s;
      if (s.includes("claim failed")) logged();
    });
    const store = new MemoryStore();
    store.claim = () => Promise.reject(ioredisError());
    const worker = startWorker({ store, handlers: [], logger, idleMs: 10 });
    await claimFailed;
    await worker.stop();

    const line = log.split("\n").find((l) => l.includes("claim failed"))!;
    expect(log).not.toContain("w:rd#1");
    const err = JSON.parse(line).err;
    expect(err.command).toEqual({ name: "evalsha" });
    expect(err.lastNodeError.command).toEqual({ name: "hello" });
    expect(err.previousErrors[0].command).toEqual({ name: "auth" });
    expect(err.message).toContain("Reached the max retries per request limit");
    if (_ === "a logger with its own err serializer") expect(err.custom).toBe(true);
  });
});
