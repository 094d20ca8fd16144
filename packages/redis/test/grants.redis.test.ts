/**
 * A call's fencing tokens and lease entries (lua/includes/grants.lua),
 * written once when the call ends: whatever tokens and leases a call takes
 * and adds, in whatever order and over whatever queues, the tokens are the
 * numbers one INCR each would have given, the counter ends at the last, and
 * every lease entry is in its queue's leases at its score; the same when
 * the call raises an error after them (which still reaches the caller), and
 * the next call goes on from there with nothing of the failed one left over:
 * as a function of a library (whose state outlives a call) and as a script.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { type AnyScriptSpec, assembleLibrary, assembleScript } from "../src/Scripts.ts";
import { raw } from "./fixtures/server.ts";

const probe: AnyScriptSpec = {
  name: "grants",
  keys: ["tokens", "a", "b"],
  perQueue: false,
  argv: {},
  codes: ["OK"],
  decode: (code) => code,
};

const TOKENS = "grants:{grants:s00}:tokens";
const LEASES = { a: "grants:{grants:s00}:q:a:leases", b: "grants:{grants:s00}:q:b:leases" };

type Op =
  | { readonly take: number }
  | { readonly lease: "a" | "b"; readonly score: number; readonly member: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ take: fc.integer({ min: 1, max: 5 }) }),
  fc.record({
    lease: fc.constantFrom("a" as const, "b" as const),
    score: fc.integer({ min: 0, max: 1_000_000 }),
    member: fc.stringMatching(/^[a-z0-9#]{1,12}$/),
  }),
);

/** The probe's body: each op's call, the tokens taken answered in order; or an error raised after them. */
const bodyOf = (ops: ReadonlyArray<Op>, raise: boolean) =>
  [
    "--@include grants",
    "local taken = {}",
    ...ops.map((o) =>
      "take" in o
        ? `taken[#taken + 1] = grants.takeTokens(K.tokens, ${o.take})`
        : `grants.addLease(K.${o.lease}, "${o.score}", "${o.member}")`,
    ),
    raise ? 'error("probe failed after its grants", 0)' : "return taken",
  ].join("\n");

const KEYS = [TOKENS, LEASES.a, LEASES.b] as const;

/** One token and one lease, taken and added by the call after the probe. */
const NEXT: ReadonlyArray<Op> = [{ take: 1 }, { lease: "b", score: 7, member: "next" }];

/**
 * The probe's call and the next call's: as the functions `grantsprobe_probe` and
 * `grantsprobe_next` of one library (loaded anew), or as two scripts.
 */
const callsOf = async (ops: ReadonlyArray<Op>, raise: boolean, library: boolean) => {
  if (!library)
    return {
      probe: () => raw.eval(assembleScript(probe, bodyOf(ops, raise)), 3, ...KEYS),
      next: () => raw.eval(assembleScript(probe, bodyOf(NEXT, false)), 3, ...KEYS),
    };
  const specs = [probe, { ...probe, name: "next" }];
  const source = assembleLibrary("grantsprobe", specs, [bodyOf(ops, raise), bodyOf(NEXT, false)]);
  await raw.call("FUNCTION", "LOAD", "REPLACE", source);
  return {
    probe: () => raw.call("FCALL", "grantsprobe_grants", 3, ...KEYS),
    next: () => raw.call("FCALL", "grantsprobe_next", 3, ...KEYS),
  };
};

/** Each leases key's members and scores, sorted by member (a member added twice keeps its last score). */
const leasesOf = async () =>
  Object.fromEntries(
    await Promise.all(
      Object.entries(LEASES).map(async ([q, key]) => {
        const flat = await raw.zrange(key, "0", "-1", "WITHSCORES");
        const pairs: Array<[string, number]> = [];
        for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, Number(flat[i + 1])]);
        return [q, pairs.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))] as const;
      }),
    ),
  );

/** What one INCRBY and one ZADD per op would leave: the tokens each take answers, the counter, the leases. */
const expected = (ops: ReadonlyArray<Op>, counter: number) => {
  const taken: number[] = [];
  const leases = { a: new Map<string, number>(), b: new Map<string, number>() };
  for (const o of ops) {
    if ("take" in o) {
      taken.push(counter + 1);
      counter += o.take;
    } else leases[o.lease].set(o.member, o.score);
  }
  const sorted = (m: Map<string, number>) =>
    [...m].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return { taken, counter, leases: { a: sorted(leases.a), b: sorted(leases.b) } };
};

describe("a call's tokens and leases, written when it ends", () => {
  test.prop([fc.array(op, { maxLength: 12 }), fc.nat(1_000), fc.boolean(), fc.boolean()])(
    "are the tokens and leases one command each would make, also when the call raises an error",
    async (ops, start, raise, library) => {
      await raw.del(...KEYS);
      if (start > 0) await raw.set(TOKENS, String(start));
      const want = expected(ops, start);
      const calls = await callsOf(ops, raise, library);
      if (raise) await expect(calls.probe()).rejects.toThrow("probe failed after its grants");
      else expect(await calls.probe()).toEqual(want.taken);
      expect(Number((await raw.get(TOKENS)) ?? 0)).toBe(want.counter);
      expect(await leasesOf()).toEqual(want.leases);
      // the next call starts from the counter as left, with none of this call's leases pending
      await raw.del(LEASES.a, LEASES.b);
      expect(await calls.next()).toEqual([want.counter + 1]);
      expect(await leasesOf()).toEqual({ a: [], b: [["next", 7]] });
    },
  );

  test.prop([fc.integer({ min: 1_001, max: 2_600 }), fc.boolean()], { numRuns: 4 })(
    "adds past a thousand entries to one queue's leases, a thousand a command",
    async (n, library) => {
      await raw.del(...KEYS);
      const ops: Op[] = Array.from({ length: n }, (_, i) => ({
        lease: i % 7 === 3 ? "b" : "a",
        score: i,
        member: `m${i}`,
      }));
      await (await callsOf(ops, false, library)).probe();
      const want = expected(ops, 0).leases;
      expect(await leasesOf()).toEqual(want);
    },
  );
});
