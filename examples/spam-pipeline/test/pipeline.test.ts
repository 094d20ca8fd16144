import { type Canvas, createClient, startWorker, TERMINAL_NODE_STATES } from "@weft/core";
import { MemoryStore } from "@weft/testing";
import { pino } from "pino";
import { describe, expect, expectTypeOf, it } from "vitest";
import { countTokens, mergeCounts, metrics, scorer, topTokens } from "../src/bayes.ts";
import { buildCanvas } from "../src/canvas.ts";
import {
  deal,
  emailAt,
  fnv1a,
  isSpam,
  isTest,
  selectIndices,
  split,
  tokenize,
} from "../src/corpus.ts";
import { handlers } from "../src/handlers.ts";
import type { Report } from "../src/tasks.ts";

const LIMIT = 600;

describe("corpus", () => {
  it("samples evenly across the groups, so a limited run has spam and ham", () => {
    const ids = selectIndices(LIMIT);
    expect(ids).toHaveLength(LIMIT);
    expect(new Set(ids).size).toBe(LIMIT);
    const spam = ids.filter((i) => isSpam(emailAt(i))).length;
    expect(spam).toBeGreaterThan(LIMIT * 0.2);
    expect(spam).toBeLessThan(LIMIT * 0.5);
  });

  it("splits by the hash of group/id: disjoint, complete, about one in five to test", () => {
    const all = selectIndices();
    const { train, test } = split(all);
    expect(train.length + test.length).toBe(all.length);
    expect(new Set([...train, ...test]).size).toBe(all.length);
    expect(test.every((i) => isTest(emailAt(i)))).toBe(true);
    expect(test.length / all.length).toBeGreaterThan(0.17);
    expect(test.length / all.length).toBeLessThan(0.23);
    // the rule does not depend on which emails were selected
    const limited = split(selectIndices(LIMIT));
    expect(limited.test.every((i) => test.includes(i))).toBe(true);
  });

  it("hashes with 32-bit FNV-1a", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
  });

  it("tokenizes the subject and body into distinct lowercase words of 2–20 letters", () => {
    const text =
      "From: x@list.example.org\nX-Mailing-List: zzzlist\nSubject: FREE Money!!\n\nClick HERE, here & now: a b2b deal " +
      "a".repeat(21);
    expect([...tokenize(text)].sort()).toEqual(["click", "deal", "free", "here", "money", "now"]);
  });

  it("deals items round-robin into non-empty chunks", () => {
    expect(deal([1, 2, 3, 4, 5], 2)).toEqual([
      [1, 3, 5],
      [2, 4],
    ]);
    expect(deal([1, 2], 8)).toEqual([[1], [2]]);
    expect(deal([], 3)).toEqual([]);
  });
});

describe("naive Bayes", () => {
  it("learns which tokens mark spam and prunes rare ones", () => {
    const emails = [
      ...Array.from({ length: 5 }, () => ({ spam: true, tokens: ["viagra", "offer", "hello"] })),
      ...Array.from({ length: 5 }, () => ({ spam: false, tokens: ["meeting", "hello"] })),
      { spam: false, tokens: ["rare"] },
    ];
    const half = countTokens(emails.slice(0, 6));
    const rest = countTokens(emails.slice(6));
    const model = mergeCounts([half, rest], 3);
    expect(model.spamDocs).toBe(5);
    expect(model.hamDocs).toBe(6);
    expect(Object.keys(model.tokens).sort()).toEqual(["hello", "meeting", "offer", "viagra"]);
    expect(model.tokens.hello).toEqual([5, 5]);
    const s = scorer(model);
    expect(s.isSpam(["viagra", "hello"])).toBe(true);
    expect(s.isSpam(["meeting"])).toBe(false);
    expect(s.score("viagra")).toBeGreaterThan(0);
    expect(s.score("meeting")).toBeLessThan(0);
    expect(s.score("rare")).toBeUndefined();
  });

  it("handles tokens named like Object.prototype members", () => {
    const model = mergeCounts(
      [countTokens([{ spam: true, tokens: ["constructor", "tostring"] }])],
      1,
    );
    expect(model.tokens.constructor).toEqual([1, 0]);
    expect(scorer(model).score("hasownproperty")).toBeUndefined();
  });

  it("ranks tokens by score, best first, without duplicates", () => {
    expect(
      topTokens(
        [
          ["a", 1],
          ["b", 3],
          ["a", 1],
          ["c", 2],
        ],
        2,
      ),
    ).toEqual([
      ["b", 3],
      ["c", 2],
    ]);
  });

  it("computes metrics, 0 where undefined", () => {
    expect(metrics({ tp: 3, fp: 1, tn: 5, fn: 1 })).toEqual({
      accuracy: 0.8,
      precision: 0.75,
      recall: 0.75,
      f1: 0.75,
    });
    expect(metrics({ tp: 0, fp: 0, tn: 0, fn: 0 })).toEqual({
      accuracy: 0,
      precision: 0,
      recall: 0,
      f1: 0,
    });
  });
});

describe("the pipeline", () => {
  it("has the report as its output type", () => {
    const built = buildCanvas({ limit: 50, chunks: 2 });
    expectTypeOf(built.canvas).toEqualTypeOf<Canvas<unknown, Report>>();
    expectTypeOf<Awaited<ReturnType<typeof runOn>>["report"]>().toEqualTypeOf<Report>();
  });

  it("trains and evaluates a filter well above chance on the memory store", async () => {
    const built = buildCanvas({ limit: LIMIT, chunks: 4 });
    expect(built.train.length + built.test.length).toBe(LIMIT);
    const { report, snapshot } = await runOn(built.canvas);

    const c = report.confusion;
    expect(c.tp + c.fp + c.tn + c.fn).toBe(built.test.length);
    expect(report.test).toBe(built.test.length);
    expect(report.train).toBe(built.train.length);
    const actualSpam = built.test.filter((i) => isSpam(emailAt(i))).length;
    expect(c.tp + c.fn).toBe(actualSpam);
    // chance: always answering the majority class (ham)
    const chance = 1 - actualSpam / built.test.length;
    expect(report.accuracy).toBeGreaterThan(0.8);
    expect(report.accuracy).toBeGreaterThan(chance + 0.1);
    expect(report.precision).toBeGreaterThan(0.6);
    expect(report.recall).toBeGreaterThan(0.6);
    expect(report.vocabulary).toBeGreaterThan(100);
    expect(report.topSpamTokens.length).toBeGreaterThan(0);
    expect(report.topSpamTokens.length).toBeLessThanOrEqual(15);
    const scores = report.topSpamTokens.map(([, s]) => s);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    expect(snapshot.run.status).toBe("succeeded");
    expect(snapshot.nodes).toHaveLength(built.nodes);
    expect(
      snapshot.nodes.every((n) => TERMINAL_NODE_STATES.has(n.state) && n.state === "succeeded"),
    ).toBe(true);
    const tasks = snapshot.nodes.map((n) => n.spec.task);
    expect(tasks.filter((t) => t === "spam.count")).toHaveLength(4);
    expect(tasks.filter((t) => t === "spam.classify")).toHaveLength(4);
  });

  it("is deterministic: the same selection gives the same report", async () => {
    const a = await runOn(buildCanvas({ limit: 200, chunks: 3 }).canvas);
    const b = await runOn(buildCanvas({ limit: 200, chunks: 2 }).canvas);
    expect(b.report).toEqual(a.report);
  });
});

/** Runs a canvas on a fresh memory store with two in-process workers. */
async function runOn(canvas: Canvas<unknown, Report>) {
  const store = new MemoryStore();
  const logger = pino({ level: "silent" });
  const workers = [1, 2].map((i) =>
    startWorker({ store, handlers, logger, concurrency: 2, workerId: `test-${i}` }),
  );
  try {
    const client = createClient(store);
    const handle = await client.submit(canvas);
    const report = await handle.result({ timeout: 60_000 });
    return { report, snapshot: await client.get(handle.runId) };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await store.close();
  }
}
