import { handle } from "@weft/core";
import { checkIdempotent, checkRetrySafe, runEager } from "@weft/testing";
import { describe, expect, it } from "vitest";
import { chargeIdempotent, chargeNaive } from "../src/handlers.ts";
import { FakeProvider } from "../src/provider.ts";
import { charge } from "../src/tasks.ts";

const check = (handler: typeof chargeNaive) => ({
  task: charge,
  handler,
  setup: () => new FakeProvider(),
  observe: (p: FakeProvider) => p.charges.map((c) => [c.account, c.amountCents]),
  numRuns: 30,
  seed: 7,
});

describe("payments.charge", () => {
  it("charges once when nothing goes wrong", async () => {
    const provider = new FakeProvider();
    const out = await runEager(charge.si({ account: "acme", amountCents: 1_250 }), [
      handle(charge, chargeNaive(provider)),
    ]);
    expect(out).toEqual({ chargeId: "ch_1", balanceCents: 1_250 });
  });

  it("the naive handler double-charges under a retry or a duplicate delivery: checkRetrySafe finds it", async () => {
    const err = await checkRetrySafe(check(chargeNaive)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    // the counterexample shows two charges where there should be one
    expect(String((err as Error).message)).toMatch(
      /with faults: \{[\s\S]*observed: \[ \[[^\]]*\], \[/,
    );
  });

  it("the naive handler is not idempotent: checkIdempotent finds it", async () => {
    await expect(checkIdempotent(check(chargeNaive))).rejects.toThrow(/run twice/);
  });

  it("the fixed handler, keyed by ctx.idempotencyKey, passes both checks", async () => {
    await checkRetrySafe(check(chargeIdempotent));
    await checkIdempotent(check(chargeIdempotent));
  });
});
