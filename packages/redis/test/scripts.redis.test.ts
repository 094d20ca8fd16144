/**
 * The bindings every script's source starts with (Scripts.ts), run on a
 * private Redis: a key, argument or reply code the definition does not name
 * is an error that names it, never another key.
 */
import { fc } from "@fast-check/vitest";
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { runScriptKeys, shardKeys } from "../src/Keys.ts";
import { type AnyScriptSpec, assembleScript, SCRIPTS } from "../src/Scripts.ts";
import { raw } from "./fixtures/server.ts";

/**
 * A probe script over the run includes, handed the run's hash and work keys but not the
 * shard's events. Its KEYS are record, work, shardWork: `nodes`, `specs` and `results` name
 * the run's hash too, and are bound to `record` in the Lua, not sent.
 */
const probe: AnyScriptSpec = {
  name: "probe",
  keys: ["record", "nodes", "specs", "results", "work", "shardWork"],
  perQueue: false,
  argv: { runId: "string", now: "number" },
  codes: ["OK"],
  decode: (code) => code,
};

const run = (
  body: string,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | number | Buffer>,
) => raw.eval(assembleScript(probe, body), keys.length, ...keys, ...args);

const keys = (() => {
  const k = runScriptKeys(shardKeys("probe", 0), "r1");
  return [k.record, k.work, k.shardWork];
})();

const emitBody = [
  "--@include run",
  "local M = openRun(K, {}, A.runId, A.now)",
  'M.status = "running"',
  'emit(M, "run")',
  "return { R.OK }",
].join("\n");

describe("a script's bindings", () => {
  it("an include that needs a key the script was not handed (events, to emit) raises an error naming it", async () => {
    await expect(run(emitBody, keys, ["r1", 1])).rejects.toThrow(
      /script probe was not handed key events/,
    );
    // nothing was written, under any name
    expect(await raw.keys("*")).toEqual([]);
  });

  it("with the key handed, the same include runs", async () => {
    const withEvents: AnyScriptSpec = { ...probe, keys: [...probe.keys, "events"] };
    const events = shardKeys("probe", 0).events;
    const reply = await raw.eval(
      assembleScript(withEvents, emitBody),
      keys.length + 1,
      ...keys,
      events,
      "r1",
      1,
    );
    expect(reply).toEqual(["OK"]);
    expect(await raw.xlen(events)).toBe(1);
    await raw.del(events);
  });

  it("a key its caller did not pass raises an error naming it when an include reads it", async () => {
    const body = [
      "--@include cascade",
      "local M = openRun(K, {}, A.runId, A.now)",
      "return { R.OK, endEarly(M, 1) }",
    ];
    await expect(run(body.join("\n"), keys.slice(0, 2), ["r1", 1])).rejects.toThrow(
      /script probe was not handed key shardWork/,
    );
  });

  it("binds the run hash's other labels to `record`, sends it once, and refuses an alias naming another key", async () => {
    const body = "return { K.record, K.nodes, K.specs, K.results, K.work, #KEYS }";
    const reply = await run(body, keys, ["r1", 1]);
    expect(reply).toEqual([keys[0], keys[0], keys[0], keys[0], keys[1], 3]);
    const k = runScriptKeys(shardKeys("probe", 0), "r1");
    expect(SCRIPTS.complete.keyList({ ...k, queues: [] })).toEqual([
      k.record,
      k.work,
      k.shardWork,
      k.events,
      k.tokens,
      k.seq,
      k.workerNames,
    ]);
    expect(() =>
      SCRIPTS.complete.keyList({ ...k, results: `${k.record}:other`, queues: [] }),
    ).toThrow("script complete: key results is not the run's hash");
  });

  it("a key, an argument or a reply code the definition does not list is refused when the source is assembled", () => {
    expect(() => assembleScript(probe, "return { R.STALE }")).toThrow(
      "script probe uses reply code STALE, which its definition does not list",
    );
    expect(() => assembleScript(probe, "return { R.OK, A.node }")).toThrow(
      "script probe uses argument node, which its definition does not list",
    );
    expect(() => assembleScript(probe, 'redis.call("XADD", K.events, "*", "a", 1)')).toThrow(
      "script probe uses key events, which its definition does not list",
    );
    // names in comments and strings are text, not bindings
    expect(assembleScript(probe, '-- R.STALE\nreturn { R.OK, "K.events" }')).toContain(
      'return { "OK", "K.events" }',
    );
  });
});

describe("node records kept across calls (includes/record.lua, --@kept)", () => {
  it("keeps a copy of a running record packed, hands it to its bytes' next decode, and keeps at most 4,096", async () => {
    const body = [
      "--@include record",
      'local r = { "r", 1, 0, 0, 5, 0, "\\0" .. "1", 0, 3, 1, 5, 0, { 2 }, "t", 0 }',
      "local first",
      "for i = 1, 4096 do",
      "  r[15] = i",
      "  local b = packRecord(r)",
      "  if i == 1 then first = b end",
      "end",
      "local full = runningKept",
      "r[15] = 4097",
      "local last = packRecord(r)",
      "local after = runningKept",
      // the packed table changed afterwards: the kept copy is not
      "r[2], r[13][1] = 99, 99",
      "local dropped, kept = decodeNode(first), decodeNode(last)",
      "local again = decodeNode(last)",
      "return { full, after, runningKept, dropped[15], kept[15], kept[2], kept[13][1], again[15], again ~= kept and 1 or 0 }",
    ].join("\n");
    // 4,096 kept; the next drops them all; its decode takes it out (a copy, not the table
    // packed; its key left in place, so still counted until the next drop), and a decode of
    // the same bytes again decodes them
    expect(await run(body, keys, ["r1", 1])).toEqual([4096, 1, 1, 1, 4097, 1, 2, 4097, 1]);
  });

  it("takes a record out by its key's value, false, and keeps one of the same bytes again", async () => {
    const body = [
      "--@include record",
      'local r = { "r", 1, 0, 0, 5, 0, "\\0" .. "1", 0, 3, 1, 5, 0, { 2 }, "t", 7 }',
      "local b = packRecord(r)",
      "local kept = runningKept",
      "local first = decodeNode(b)",
      // (a Lua table whose keys are set to nil and new ones added rehashes every few adds)
      "local out = RUNNING_BYTES[b]",
      "r[2] = 2",
      "packRecord(r)",
      "r[2] = 1",
      "local again = packRecord(r)",
      "local second = decodeNode(again)",
      "local third = decodeNode(again)",
      "return { kept, out == false and 1 or 0, again == b and 1 or 0, runningKept, first[2], second[2], second ~= first and 1 or 0, third[2], third ~= second and 1 or 0 }",
    ].join("\n");
    // kept, taken out (false), kept again from the same bytes and handed to the next decode;
    // the decode after it decodes the bytes
    expect(await run(body, keys, ["r1", 1])).toEqual([1, 1, 1, 3, 1, 1, 1, 1, 1]);
  });

  it("makes a start's bytes, and its success's, from the last like one's packing as cmsgpack packs them", async () => {
    // queued records (14 fields, as a submission writes them, or 15; some with a field past
    // the token), several starts of each (a chord's members) by a few workers at a few times
    const queued = fc.tuple(
      fc.constantFrom("q", "y"),
      fc.nat({ max: 300 }), // ATT
      fc.nat({ max: 300 }), // STALLS
      fc.constant(0),
      fc.constant(0),
      fc.constant(0),
      fc.constant(""),
      fc.constant(0),
      fc.nat({ max: 300 }),
      fc.integer({ min: 1, max: 3 }),
      fc.nat({ max: 20 }),
      fc.nat({ max: 2 }),
      fc.array(fc.nat({ max: 200_000 }), { maxLength: 3 }), // NEXT
      fc.string({ minLength: 1, maxLength: 20 }), // TASK
      // TOK and after (a time limit that ends in the bytes of a token: 255)
      fc.oneof(
        fc.constant([]),
        fc.constant([0]),
        fc.constant([0, false, 5]),
        fc.constant([0, false, 255]),
      ),
    );
    // the starts of one claim: of one queued record, at one time, by one worker, each with
    // its spec and token
    const claim = fc.record({
      o: fc.nat({ max: 3 }), // which queued record
      now: fc.constantFrom(1_796_542_621_830, 1_796_542_621_831, 5),
      worker: fc.constantFrom("\u00001", "\u000012", "w"),
      // the members' durations, when they succeed
      fin: fc.oneof(fc.constantFrom(0, 7), fc.constantFrom(65_536, 2 ** 32, 2.5)),
      members: fc.array(
        fc.record({
          spec: fc.oneof(fc.constant(""), fc.string({ maxLength: 300 })),
          result: fc.oneof(fc.constant(""), fc.string({ minLength: 1, maxLength: 12 })),
          token: fc.oneof(
            fc.nat({ max: 2 ** 40 }),
            fc.constantFrom(127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32),
          ),
        }),
        { minLength: 1, maxLength: 12 },
      ),
    });
    const body = [
      "--@include record",
      "local c = cmsgpack.unpack(A.runId)",
      "local pool, out, hits, met, started, done = {}, {}, 0, {}, {}, 0",
      "for i, q in ipairs(c[1]) do",
      "  local r = { unpack(q, 1, 14) }",
      "  for j, v in ipairs(q[15]) do r[14 + j] = v end",
      "  pool[i] = cmsgpack.pack(r)",
      "end",
      "for _, s in ipairs(c[2]) do",
      "  local from = pool[s.o % #pool + 1]",
      "  for _, m in ipairs(s.members) do",
      "    local r = decodeRecord(from)",
      '    if m.spec ~= "" then SPECS[r] = specBin(m.spec) end',
      '    r[1], r[2], r[5], r[7], r[8], r[15] = "r", r[2] + 1, s.now, s.worker, 0, m.token',
      "    if from == LAST_START.from and s.now == LAST_START.at and s.worker == LAST_START.by then hits = hits + 1 end",
      "    local made = startedBytes(r, from, m.token, s.now, s.worker)",
      // (kept for its bytes unless those were kept already: the same token twice, or a field past it)
      "    local kept = RUNNING_BYTES[made] == r or met[made] or r[16] ~= nil",
      "    met[made] = true",
      "    out[#out + 1] = (made == packRecord(r, true) and kept) and 1 or 0",
      "    started[#started + 1] = { made, m.result, s.fin }",
      "  end",
      "end",
      // their successes, once every claim started its members (a call completes members of
      // several claims): decoded from their start's bytes, state, duration, result
      "for _, b in ipairs(started) do",
      "  local r = decodeNode(b[1])",
      "  succeedsFrom(r)",
      '  r[1], r[6], r[8] = "s", b[3], 0',
      '  if b[2] ~= "" then RESULTS[r] = b[2] end',
      "  local from = SUCCEEDS_FROM[r]",
      "  if from and from == LAST_SUCCESS.from and b[3] == LAST_SUCCESS.fin then done = done + 1 end",
      "  local made = packRecord(r)",
      "  SUCCEEDS_FROM[r] = nil",
      "  out[#out + 1] = made == packRecord(r) and 1 or 0",
      "end",
      "return { hits, out, done }",
    ].join("\n");
    let hits = 0;
    let done = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(queued, { minLength: 1, maxLength: 4 }),
        fc.array(claim, { minLength: 1, maxLength: 6 }),
        async (pool, claims) => {
          const [hit, same, succeeded] = (await run(body, keys, [pack([pool, claims]), 1])) as [
            number,
            number[],
            number,
          ];
          hits += hit;
          done += succeeded;
          expect(same).toEqual(claims.flatMap((c) => c.members.flatMap(() => [1, 1])));
        },
      ),
      { numRuns: 100 },
    );
    // (the property held where a start or a success was made from the last one's packing)
    expect(hits).toBeGreaterThan(200);
    expect(done).toBeGreaterThan(200);
  });

  it("keeps at most 4,096 waiting records met, and hands out copies of one met twice", async () => {
    const body = [
      "--@include record",
      'local function waiting(i) return cmsgpack.pack({ "w", 0, 0, 1, 0, 0, "", 0, 3, 1, 5, 0, { 1 }, "t", i }) end',
      "for i = 1, 4096 do decodeNode(waiting(i)) end",
      "local full = seenKept",
      "decodeNode(waiting(4097))",
      "local after = seenKept",
      // met twice: a copy kept; each decode then gets its own copy
      "local a, b = decodeNode(waiting(4097)), decodeNode(waiting(4097))",
      "a[13][1] = 7",
      "return { full, after, a[15], b[15], b[13][1], a ~= b and 1 or 0 }",
    ].join("\n");
    expect(await run(body, keys, ["r1", 1])).toEqual([4096, 1, 4097, 4097, 1, 1]);
  });

  it("reads a string's number as tonumber does, once, and keeps at most 4,096", async () => {
    const body = [
      "--@include record",
      // what tonumber answers, for numbers, other forms of them and what is none
      'local samples = { "0", "1", "604800000", "-3", "2.5", "1e3", " 7", "0x10", "", "abc", "12abc" }',
      "local same = 1",
      "for _, s in ipairs(samples) do",
      "  if num(s) ~= tonumber(s) or num(s) ~= tonumber(s) then same = 0 end",
      "end",
      // only numbers are kept: 8 of the samples
      "local kept = numbersKept",
      "for i = 1, 4096 - kept do num(tostring(1000000 + i)) end",
      "local full = numbersKept",
      'local dropped = num("424242")',
      'return { same, kept, full, numbersKept, dropped, num("1"), numbersKept }',
    ].join("\n");
    // the 4,097th number read drops the others; a number read again is kept again
    expect(await run(body, keys, ["r1", 1])).toEqual([1, 8, 4096, 1, 424242, 1, 2]);
  });
});
