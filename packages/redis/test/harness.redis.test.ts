// The private servers the tests start (@weft/testing's startRedisServer): a
// server is only ever the one this test started, never another test's that
// took its port first.
import { freePort, startRedisServer } from "@weft/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe("startRedisServer", () => {
  it("refuses a port another server holds, instead of handing that server out as its own", async () => {
    const first = await startRedisServer();
    cleanups.push(() => first.stop());
    const admin = new Redis(first.url);
    cleanups.push(async () => admin.disconnect());
    await admin.set("owner", "first");

    // the second server cannot bind the port and exits: the first one answers PING there
    await expect(startRedisServer([], { port: first.port })).rejects.toThrow(
      `port ${first.port} is taken`,
    );
    expect(await admin.get("owner")).toBe("first");
  });

  it("says why a server that exits at start for another reason did", async () => {
    await expect(startRedisServer(["--no-such-option", "1"])).rejects.toThrow(
      /redis-server exited at start \(port \d+\)/,
    );
  });

  it("takes ports below the kernel's ephemeral range, where no client's own port can be", async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(20_000);
    }
  });
});
