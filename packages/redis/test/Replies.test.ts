/**
 * Turning raw script replies into typed results (Replies.ts and each
 * definition's decoder in Scripts.ts): codes and values are checked, and a
 * reply that is not its script's is an UnexpectedReply, never a guess.
 */

import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { shardKeys } from "../src/Keys.ts";
import { readReply, UnexpectedReply } from "../src/Replies.ts";
import { completeItem, SCRIPTS } from "../src/Scripts.ts";

const b = (s: string) => Buffer.from(s);

describe("a script's reply", () => {
  it("turns each code into its typed result", () => {
    expect(SCRIPTS.heartbeat.reply([b("OK")])).toBe("held");
    expect(SCRIPTS.heartbeat.reply([b("STALE")])).toBe("lost");
    expect(SCRIPTS.heartbeat.reply([b("CANCELLED")])).toBe("cancelled");
    expect(SCRIPTS.lock.reply([b("OK"), 7])).toBe(7);
    expect(SCRIPTS.lock.reply([b("LOCKED")])).toBeUndefined();
    expect(SCRIPTS.submit.reply([b("EXISTS"), b("run-1")])).toEqual({
      code: "EXISTS",
      runId: "run-1",
    });
    expect(SCRIPTS.submit.reply([b("OK"), 1])).toEqual({ code: "OK", more: true });
    expect(SCRIPTS.claim.reply([b("OK"), b(""), 2, b("r#3"), 41, [b("STALE")]])).toEqual({
      leased: [{ queueIndex: 2, member: "r#3", token: 41, start: [b("STALE")] }],
      due: undefined,
    });
    // the common start in line (attempt, stalls, task, spec) beside one as a list: told apart by
    // the integer after the token
    expect(
      SCRIPTS.claim.reply([
        b("OK"),
        b(""),
        1,
        b("a#0"),
        7,
        2,
        0,
        b("t"),
        b("spec"),
        2,
        b("r#3"),
        41,
        [b("STALE")],
        1,
        b("c#1"),
        8,
        1,
        1,
        b("t2"),
        b("spec2"),
      ]),
    ).toEqual({
      leased: [
        {
          queueIndex: 1,
          member: "a#0",
          token: 7,
          lean: { attempt: 2, stalls: 0, spec: { bytes: b("spec"), task: "t" } },
        },
        { queueIndex: 2, member: "r#3", token: 41, start: [b("STALE")] },
        {
          queueIndex: 1,
          member: "c#1",
          token: 8,
          lean: { attempt: 1, stalls: 1, spec: { bytes: b("spec2"), task: "t2" } },
        },
      ],
      due: undefined,
    });
    // every start in line: the items packed in one string (claim.lua), read as the same claims
    const lean = [
      1,
      b("a#0"),
      7,
      2,
      0,
      b("t"),
      b("spec"),
      1,
      b("c#1"),
      8,
      1,
      1,
      b("t2"),
      b("spec2"),
    ];
    expect(SCRIPTS.claim.reply([b("OK"), b("-"), pack(lean)])).toEqual(
      SCRIPTS.claim.reply([b("OK"), b("-"), ...lean]),
    );
    // (a start in line of queue 1, attempt 1, stalls 1 and task "t2", as the second item)
    const inLine = (member: string, token: number, spec: string) => ({
      queueIndex: 1,
      member,
      token,
      lean: { attempt: 1, stalls: 1, spec: { bytes: b(spec), task: "t2" } },
    });
    expect(SCRIPTS.claim.reply([b("OK"), b("-"), pack(lean)]).leased[1]).toEqual(
      inLine("c#1", 8, "spec2"),
    );
    // a start's list among them, packed too
    expect(
      SCRIPTS.claim.reply([b("OK"), b(""), pack([2, b("r#3"), 41, [b("STALE")], ...lean])]),
    ).toEqual(SCRIPTS.claim.reply([b("OK"), b(""), 2, b("r#3"), 41, [b("STALE")], ...lean]));
    // an item like the last in line (queue index 0): its member, token and spec, the rest the last one's
    const like = [...lean, 0, b("d#2"), 9, b("spec3")];
    expect(SCRIPTS.claim.reply([b("OK"), b("-"), pack(like)]).leased[2]).toEqual(
      inLine("d#2", 9, "spec3"),
    );
    // ...after a start's list: still the last in line's
    expect(
      SCRIPTS.claim.reply([
        b("OK"),
        b(""),
        ...lean,
        2,
        b("r#3"),
        41,
        [b("STALE")],
        0,
        b("e#4"),
        10,
        b("s4"),
      ]).leased[3],
    ).toEqual(inLine("e#4", 10, "s4"));
    // ...but with none in line before it, or without its spec, an unexpected reply
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), 0, b("d#2"), 9, b("spec3")])).toThrow(
      UnexpectedReply,
    );
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), ...lean, 0, b("d#2"), 9, 5])).toThrow(
      UnexpectedReply,
    );
    // packed items that are no list, or are cut short, are an unexpected reply
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), b("\x81")])).toThrow(UnexpectedReply);
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), pack(lean.slice(0, 4))])).toThrow(
      UnexpectedReply,
    );
    // an item cut short is an unexpected reply, not a claim with a missing value
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), 1, b("a#0"), 7, 2])).toThrow(UnexpectedReply);
    // a task that is not a name
    expect(() => SCRIPTS.claim.reply([b("OK"), b(""), 1, b("a#0"), 7, 2, 0, 5, b("spec")])).toThrow(
      "value 7 is 5, not a string",
    );
    // a claim that came up short: the earliest due time of the delayed sets, or none
    expect(SCRIPTS.claim.reply([b("OK"), b("1700000000123")])).toEqual({
      leased: [],
      due: 1_700_000_000_123,
    });
    expect(SCRIPTS.claim.reply([b("OK"), b("-")]).due).toBeNull();
    expect(
      SCRIPTS.complete.reply([b("REPLAYED"), 0, [4, 9, 1, 0, b("t"), b("spec"), 1, 1, b("v")]]),
    ).toEqual({
      code: "REPLAYED",
      more: false,
      leased: [
        {
          nodeId: 4,
          token: 9,
          attempt: 1,
          stalls: 0,
          spec: { bytes: b("spec"), task: "t" },
          deps: [1, 1, b("v")],
        },
      ],
    });
    // (the same reply packed whole, as complete.lua answers one that hands out nodes)
    const packed = Buffer.from(
      pack(["REPLAYED", 0, [4, 9, 1, 0, "t", "spec", 1, 1, "v"]]) as Uint8Array,
    );
    expect(SCRIPTS.complete.reply(packed)).toEqual(
      SCRIPTS.complete.reply([b("REPLAYED"), 0, [4, 9, 1, 0, b("t"), b("spec"), 1, 1, b("v")]]),
    );
    expect(() => SCRIPTS.complete.reply(Buffer.from([0x92, 0xc1]))).toThrow(UnexpectedReply);
    expect(SCRIPTS.start.reply([b("STALLED_OUT"), 1, b("default,slow")])).toEqual({
      code: "STALLED_OUT",
      more: true,
      runQueues: ["default", "slow"],
    });
  });

  it("reads a batch script's bare 0 as the item's { OK, 0 }, and any other item as its script's reply", () => {
    // submitmany: a run written with no work left, a run there already, one with work left
    expect(SCRIPTS.submitmany.reply([b("OK"), 0, [b("EXISTS"), b("r2")], [b("OK"), 1]])).toEqual([
      { code: "OK", more: false },
      { code: "EXISTS", runId: "r2" },
      { code: "OK", more: true },
    ]);
    // completemany: its items, each read as complete's reply; packed in one string (as
    // completemany.lua answers them) or not
    const raw = [0, [b("STALE"), 0], [b("OK"), 1, [3, 9, 1, 0, b("t"), b("spec"), 1, 1, b("r")]]];
    for (const reply of [
      [b("OK"), ...raw],
      [b("OK"), pack(raw)],
    ]) {
      const items = SCRIPTS.completemany.reply(reply);
      expect(items.map(completeItem)).toEqual([
        { code: "OK", more: false, leased: [] },
        { code: "STALE", more: false },
        {
          code: "OK",
          more: true,
          leased: [
            {
              nodeId: 3,
              token: 9,
              attempt: 1,
              stalls: 0,
              spec: { bytes: b("spec"), task: "t" },
              deps: [1, 1, b("r")],
            },
          ],
        },
      ]);
    }
    expect(SCRIPTS.completemany.reply([b("OK")])).toEqual([]);
    expect(() => SCRIPTS.completemany.reply([b("OK"), pack(7)])).toThrow(UnexpectedReply);
    // another number is no reply of either
    expect(() => completeItem(1)).toThrow(UnexpectedReply);
    expect(() => SCRIPTS.submitmany.reply([b("OK"), 2])).toThrow(UnexpectedReply);
  });

  it("reads a spec the run hash lacks as null, the reply ending there (a Lua list stops at nil)", () => {
    expect(SCRIPTS.start.reply([b("OK"), 1, 0, b("t")])).toEqual({
      code: "OK",
      attempt: 1,
      stalls: 0,
      spec: null,
      runQueues: [""],
      headers: null,
      deps: [],
    });
  });

  it("reads a start's headers before its dependency results", () => {
    const r = SCRIPTS.start.reply([
      b("OK"),
      2,
      1,
      b("t"),
      b("spec"),
      b("a,b"),
      b("hdr"),
      1,
      1,
      b("x"),
    ]);
    expect(r).toMatchObject({
      spec: { bytes: b("spec"), task: "t" },
      runQueues: ["a", "b"],
      headers: b("hdr"),
      deps: [1, 1, b("x")],
    });
  });

  it("refuses a code its script does not answer, naming the script and the code", () => {
    const err = (() => {
      try {
        SCRIPTS.heartbeat.reply([b("EXISTS")]);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UnexpectedReply);
    expect(err).toMatchObject({ _tag: "UnexpectedReply", script: "heartbeat", retryable: false });
    expect((err as Error).message).toBe(
      "script heartbeat answered an unexpected reply: code EXISTS is not one of OK, STALE, CANCELLED",
    );
  });

  it("refuses a reply that is not a list starting with a code, or a value of the wrong kind", () => {
    expect(() => readReply("drain", ["OK"], 1)).toThrow(
      "script drain answered an unexpected reply: 1 is not a list that starts with a reply code",
    );
    expect(() => readReply("drain", ["OK"], [])).toThrow(UnexpectedReply);
    expect(() => SCRIPTS.drain.reply([b("OK"), b("1")])).toThrow(
      'script drain answered an unexpected reply: value 1 is "1", not an integer',
    );
    expect(() => SCRIPTS.drain.reply([b("OK"), 2])).toThrow("value 1 is 2, not a flag (0 or 1)");
    expect(() => SCRIPTS.submit.reply([b("CONFLICT")])).toThrow("value 1 is nothing, not a string");
  });
});

describe("a script's keys and arguments", () => {
  const queue = shardKeys("t", 0).queue("q1");
  /** A claim's keys, one letter each, with the keys of `queues`. */
  const claimKeys = (...queues: Array<typeof queue>) => ({
    tokens: "t",
    seq: "s",
    lastClaim: "c",
    shardWork: "w",
    events: "e",
    workerNames: "n",
    queues,
  });

  it("go in the order of the definition, a list argument spread last, each queue's ready key after the named ones", () => {
    expect(SCRIPTS.claim.keyList(claimKeys(queue, queue))).toEqual([
      "t",
      "s",
      "c",
      "w",
      "e",
      "n",
      queue.ready,
      queue.ready,
    ]);
    expect(
      SCRIPTS.claim.argList({
        now: 1,
        max: 2,
        leaseMs: 3,
        requestId: "",
        part: 0,
        promote: 100,
        worker: "w1",
        eventsMax: 10,
        runPrefix: "p:",
        queueNames: "q1,q2",
        tasks: ["a", "b"],
      }),
    ).toEqual([1, 2, 3, "", 0, 100, "w1", 10, "p:", "q1,q2", "a", "b"]);
  });

  it("refuses a key that is not given before anything is sent", () => {
    const keys = { leases: "l" } as unknown as { leases: string; record: string };
    expect(() => SCRIPTS.heartbeat.keyList(keys)).toThrow(
      "script heartbeat: key record is not a key name",
    );
    expect(() =>
      SCRIPTS.drain.keyList({
        record: "r",
        nodes: "r",
        specs: "r",
        results: "r",
        work: "w",
        shardWork: "s",
        events: "e",
        seq: "q",
      } as unknown as Parameters<typeof SCRIPTS.drain.keyList>[0]),
    ).toThrow("script drain: no queue keys given");
  });

  it("refuses queue keys that are not named from their ready key as the Lua builds them", () => {
    const refused = "script claim: queue keys are not named as the Lua builds them";
    expect(() =>
      SCRIPTS.claim.keyList(claimKeys({ ...queue, paused: `${queue.paused}x` })),
    ).toThrow(refused);
    expect(() =>
      SCRIPTS.claim.keyList(claimKeys({ ...queue, leases: queue.leases.replace("q1", "q2") })),
    ).toThrow(refused);
    expect(() => SCRIPTS.claim.keyList(claimKeys({ ...queue, ready: `${queue.ready}s` }))).toThrow(
      refused,
    );
  });

  it("refuses an argument of the wrong kind before anything is sent", () => {
    const args = { lease: "r#0#1", expiry: "soon" } as unknown as { lease: string; expiry: number };
    expect(() => SCRIPTS.heartbeat.argList(args)).toThrow(
      "script heartbeat: argument expiry is not of kind number",
    );
  });
});
