/**
 * A library function's own table (Scripts.ts, LibraryBinding): its key
 * table `K`, made at its first call and refilled at every call, and its
 * `--@once` constants, made when the library loads. A call sees its own
 * keys whatever the calls before it were handed, a label it was not handed
 * still raises an error, and a constant reads the same at every call; a
 * script sent with EVAL makes both at each call, as before.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { type AnyScriptSpec, assembleLibrary, assembleScript } from "../src/Scripts.ts";
import { raw } from "./fixtures/server.ts";

const probe: AnyScriptSpec = {
  name: "own",
  keys: ["first", "second"],
  perQueue: false,
  argv: {},
  codes: ["OK"],
  decode: (code) => code,
};

/** Its keys as `K` holds them (handed to a function, as includes take it), and its constants. */
const BODY = [
  "--@once",
  'local CODES = { ok = R.OK, list = { "a", "b" } } -- a comment (with a parenthesis)',
  "local function keysOf(keys) return { keys.first, keys.second } end",
  "local got = keysOf(K)",
  "got[3] = CODES.ok .. CODES.list[2]",
  "return got",
].join("\n");

/** Reads a key label the script was not handed. */
const UNHANDED = "local function read(keys) return keys.third end\nreturn read(K)";

const keys = fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z]{1,8}$/));

describe("a library function's own table", () => {
  it("holds the key table and the --@once constants, made once; EVAL makes them at each call", () => {
    const library = assembleLibrary("ownprobe", [probe], [BODY]);
    expect(library).toMatch(/^OWN\.CODES = \{ ok = "OK", list = \{ "a", "b" \} \}$/m);
    expect(library).toMatch(/^local CODES = OWN\.CODES /m);
    expect(library).toMatch(/^local K = OWN\.K$/m);
    expect(library).not.toMatch(/setmetatable\(\{ first = /);
    const script = assembleScript(probe, BODY);
    expect(script).toMatch(/^local CODES = \{ ok = "OK"/m);
    expect(script).toMatch(/^local K = setmetatable\(\{ first = K_first, second = K_second \}/m);
  });

  it("refuses a --@once statement that is not a table of literals", () => {
    const refused = (statement: string) => () =>
      assembleLibrary("ownprobe", [probe], [`--@once\n${statement}\nreturn 1`]);
    expect(refused("local n = 3")).toThrow(/is not local NAME = \{ \.\.\. \}/);
    expect(refused("local T = { x = tostring(1) }")).toThrow(/calls a function/);
    expect(refused("local K = { 1 }")).toThrow(/names K, a field the table holds/);
    expect(refused("local T = { 1, 2")).toThrow(/does not end/);
  });

  test.prop([fc.array(keys, { minLength: 1, maxLength: 6 })], { numRuns: 20 })(
    "each call sees the keys it was handed, whatever the calls before were handed",
    async (calls) => {
      await raw.call(
        "FUNCTION",
        "LOAD",
        "REPLACE",
        assembleLibrary("ownprobe", [probe, { ...probe, name: "unhanded" }], [BODY, UNHANDED]),
      );
      for (const [first, second] of calls) {
        expect(await raw.call("FCALL", "ownprobe_own", 2, first, second)).toEqual([
          first,
          second,
          "OKb",
        ]);
        await expect(raw.call("FCALL", "ownprobe_unhanded", 2, first, second)).rejects.toThrow(
          /script unhanded was not handed key third/,
        );
      }
      // (a script sent with EVAL answers the same)
      const [first, second] = calls[0]!;
      expect(await raw.eval(assembleScript(probe, BODY), 2, first, second)).toEqual([
        first,
        second,
        "OKb",
      ]);
    },
  );
});
