import { describe, expect, it } from "vitest";
import { AttemptAbort } from "../src/store/index.ts";

describe("AttemptAbort", () => {
  it("makes its signal on first read, aborted with the reason even when read after abort", () => {
    const a = new AttemptAbort();
    expect(a.aborted).toBe(false);
    a.abort("lost");
    a.abort("second"); // only the first call counts
    expect(a.aborted).toBe(true);
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBe("lost");
  });

  it("aborts a signal read before abort, with the same reason", () => {
    const a = new AttemptAbort();
    const signal = a.signal;
    expect(signal.aborted).toBe(false);
    const why = new Error("cancelled");
    a.abort(why);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(why);
    expect(a.signal).toBe(signal);
  });

  it("rejection() rejects with the reason once aborted, or at once when it already was", async () => {
    const a = new AttemptAbort();
    const pending = a.rejection();
    a.abort("stop");
    await expect(pending).rejects.toBe("stop");
    await expect(a.rejection()).rejects.toBe("stop");
  });

  it("race() settles as the promise it races, or rejects with the reason when aborted first", async () => {
    const a = new AttemptAbort();
    await expect(a.race(Promise.resolve(1))).resolves.toBe(1);
    await expect(a.race(Promise.reject(new Error("failed")))).rejects.toThrow("failed");
    const never = new Promise<number>(() => undefined);
    const pending = a.race(never);
    a.abort("stop");
    await expect(pending).rejects.toBe("stop");
  });

  it("race() rejects with the reason when aborted already, even against a settled promise", async () => {
    const a = new AttemptAbort();
    a.abort("stop");
    await expect(a.race(Promise.resolve(1))).rejects.toBe("stop");
  });
});
