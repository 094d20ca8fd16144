import { describe, expect, it } from "vitest";
import { deferred } from "../src/store/index.ts";

describe("deferred", () => {
  it("settles its promise from outside, once: later calls change nothing", async () => {
    const d = deferred<number>();
    d.resolve(1);
    d.resolve(2);
    d.reject(new Error("too late"));
    await expect(d.promise).resolves.toBe(1);
  });

  it("rejects with the reason given", async () => {
    const d = deferred();
    const why = new Error("gave up");
    d.reject(why);
    await expect(d.promise).rejects.toBe(why);
  });
});
