/**
 * Reading the events streams' entries (src/EventEntries.ts): a packed
 * entry's events with their positions, a task written once per run of
 * events that name it, and an older version's one-event entries; and the
 * run-end channel's messages.
 */
import { encode } from "@weft/core/store";
import { describe, expect, it } from "vitest";
import { endedRunIds, entryEvents } from "../src/EventEntries.ts";

const BASE = 1_000_000_000_000_000;
const packed = (last: number, groups: unknown[]) =>
  [`${BASE + last}-0`, ["b", Buffer.from(encode(groups))]] as const;

describe("entryEvents", () => {
  it("numbers a packed entry's events up to its id, each built with its cursor", () => {
    const [id, fields] = packed(12, [
      ["a", 5, ["s", 3, "noop", 1], ["s", 4, 0, 1], ["q", 9, "collect", 0], ["E", "succeeded"]],
      ["b", 6, ["l", 2]],
    ]);
    const events = entryEvents(id, fields);
    expect(events.map((e) => [e.position, e.runId, e.at])).toEqual([
      [`${BASE + 8}-0`, "a", 5],
      [`${BASE + 9}-0`, "a", 5],
      [`${BASE + 10}-0`, "a", 5],
      [`${BASE + 11}-0`, "a", 5],
      [`${BASE + 12}-0`, "b", 6],
    ]);
    expect(events.map((e) => e.build(e.position))).toEqual([
      {
        id: `${BASE + 8}-0`,
        runId: "a",
        at: 5,
        kind: "succeeded",
        nodeId: 3,
        task: "noop",
        attempt: 1,
      },
      // 0: the task the entry's previous transition named
      {
        id: `${BASE + 9}-0`,
        runId: "a",
        at: 5,
        kind: "succeeded",
        nodeId: 4,
        task: "noop",
        attempt: 1,
      },
      {
        id: `${BASE + 10}-0`,
        runId: "a",
        at: 5,
        kind: "queued",
        nodeId: 9,
        task: "collect",
        attempt: 0,
      },
      { id: `${BASE + 11}-0`, runId: "a", at: 5, kind: "run-ended", status: "succeeded" },
      { id: `${BASE + 12}-0`, runId: "b", at: 6, kind: "lease-expired", nodeId: 2 },
    ]);
  });

  it("takes a group's time false as the previous group's, and a task 0 as the entry's previous transition's", () => {
    // (as events.lua writes a batch of plain jobs: one time, one task, for every group)
    const [id, fields] = packed(5, [
      ["a", 7, ["q", 0, "job", 0]],
      ["b", false, ["q", 0, 0, 0]],
      ["c", 9, ["q", 0, 0, 0], ["R", "running"]],
      ["d", false, ["q", 0, "other", 0], ["s", 1, 0, 1]],
    ]);
    const built = entryEvents(id, fields).map((e) => e.build(e.position));
    expect(built.map((e) => e && [e.runId, e.at, e.kind, "task" in e ? e.task : "-"])).toEqual([
      ["a", 7, "queued", "job"],
      ["b", 7, "queued", "job"],
      ["c", 9, "queued", "job"],
      ["c", 9, "run", "-"],
      ["d", 9, "queued", "other"],
      ["d", 9, "succeeded", "other"],
    ]);
    // a first group without a time is damaged: one position, no event
    const [bad, badFields] = packed(1, [["a", false, ["q", 0, "job", 0]]]);
    expect(entryEvents(bad, badFields).map((e) => e.build(e.position))).toEqual([undefined]);
  });

  it("takes a node's number alone as the entry's previous transition for that node, across groups", () => {
    // (as events.lua writes a chord's members started together, and a like event in the next run)
    const [id, fields] = packed(6, [
      ["a", 3, ["r", 1, "member", 1], 2, 3, ["f", 4, 0, 2, "Boom"], 5],
      ["b", false, 0],
    ]);
    const built = entryEvents(id, fields).map((e) => e.build(e.position));
    expect(
      built.map(
        (e) =>
          e && [
            e.runId,
            e.kind,
            "nodeId" in e ? e.nodeId : -1,
            "task" in e ? e.task : "-",
            "attempt" in e ? e.attempt : -1,
            "errorTag" in e ? e.errorTag : "-",
          ],
      ),
    ).toEqual([
      ["a", "started", 1, "member", 1, "-"],
      ["a", "started", 2, "member", 1, "-"],
      ["a", "started", 3, "member", 1, "-"],
      ["a", "failed", 4, "member", 2, "Boom"],
      ["a", "failed", 5, "member", 2, "Boom"],
      ["b", "failed", 0, "member", 2, "Boom"],
    ]);
  });

  it("takes a run's id alone as the previous group again, for that run, at its time", () => {
    // (as events.lua writes plain jobs completed together)
    const [id, fields] = packed(8, [
      ["a", 4, ["s", 0, "job", 1], ["E", "succeeded"]],
      "b",
      "c",
      ["d", 5, ["r", 0, 0, 1]],
      "e",
    ]);
    const events = entryEvents(id, fields);
    expect(events.map((e) => e.position)).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `${BASE + n}-0`),
    );
    expect(events.map((e) => e.build(e.position)).map((e) => e && [e.runId, e.at, e.kind])).toEqual(
      [
        ["a", 4, "succeeded"],
        ["a", 4, "run-ended"],
        ["b", 4, "succeeded"],
        ["b", 4, "run-ended"],
        ["c", 4, "succeeded"],
        ["c", 4, "run-ended"],
        ["d", 5, "started"],
        ["e", 5, "started"],
      ],
    );
  });

  it("passes an entry whose node number follows no transition, or whose run id follows no group", () => {
    for (const groups of [
      [["a", 1, 0]],
      [["a", 1, ["E", "succeeded"], 3]],
      ["a", ["b", 1, ["q", 0, "t", 0]]],
    ]) {
      const [id, fields] = packed(2, groups);
      expect(entryEvents(id, fields).map((e) => e.build(e.position))).toEqual([undefined]);
    }
  });

  it("takes a waiting node's task as the one named before, though it reads no event of it", () => {
    const [id, fields] = packed(3, [
      ["a", 1, ["w", 0, "outer", 1], ["q", 1, 0, 0], ["q", 2, "inner", 0]],
    ]);
    const built = entryEvents(id, fields).map((e) => e.build(e.position));
    expect(built[0]).toBeUndefined();
    expect(built.slice(1).map((e) => e && "task" in e && e.task)).toEqual(["outer", "inner"]);
  });

  it("reads progress, added nodes and a failure's error tag", () => {
    const [id, fields] = packed(3, [
      ["a", 1, ["p", 0, { current: 2, total: 4 }], ["d", "5,6"], ["f", 0, "t", 2, "Boom"]],
    ]);
    expect(entryEvents(id, fields).map((e) => e.build("c"))).toEqual([
      {
        id: "c",
        runId: "a",
        at: 1,
        kind: "progress",
        nodeId: 0,
        progress: { current: 2, total: 4 },
      },
      { id: "c", runId: "a", at: 1, kind: "added", nodeIds: [5, 6] },
      {
        id: "c",
        runId: "a",
        at: 1,
        kind: "failed",
        nodeId: 0,
        task: "t",
        attempt: 2,
        errorTag: "Boom",
      },
    ]);
  });

  it("reads an older version's entry as one event at its own id", () => {
    const fields = ["r", "a", "k", "started", "ms", "9", "n", "1", "t", "noop", "a", "1"];
    const [e] = entryEvents("1700000000000-3", fields);
    expect(e!.position).toBe("1700000000000-3");
    expect([e!.runId, e!.at]).toEqual(["a", 9]);
    expect(e!.build("x")).toMatchObject({ kind: "started", nodeId: 1, task: "noop", attempt: 1 });
  });

  it("passes an entry that does not decode as one position holding no event", () => {
    const events = entryEvents(`${BASE + 4}-0`, ["b", Buffer.from([0xc1])]);
    expect(events).toHaveLength(1);
    expect(events[0]!.build("x")).toBeUndefined();
  });
});

describe("endedRunIds", () => {
  it("reads a message of one run as its id, whatever its characters", () => {
    for (const id of ["mxb09yz7-8fb6aab06102", "a b\nc", "ünïcødé", "\u0700x", ""])
      expect(endedRunIds(Buffer.from(id))).toEqual([id]);
  });

  it("reads byte 255 then a msgpack array as the runs it lists", () => {
    const ids = ["a", "b-1", "c d", "ü"];
    const message = Buffer.concat([Buffer.from([0xff]), Buffer.from(encode(ids))]);
    expect(endedRunIds(message)).toEqual(ids);
  });

  it("names no run for a many-runs message that does not decode to a list of ids", () => {
    expect(endedRunIds(Buffer.from([0xff, 0xc1]))).toEqual([]);
    expect(endedRunIds(Buffer.concat([Buffer.from([0xff]), Buffer.from(encode(7))]))).toEqual([]);
    expect(
      endedRunIds(Buffer.concat([Buffer.from([0xff]), Buffer.from(encode(["a", 3, "b"]))])),
    ).toEqual(["a", "b"]);
  });
});
