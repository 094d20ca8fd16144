/**
 * A script call's command written as one Buffer (ScriptCommand.ts): the same
 * bytes as ioredis's own encoding for any arguments (ASCII and other text,
 * bytes, numbers), and a real Redis reads each argument back exactly.
 */
import { fc, test } from "@fast-check/vitest";
import { Command } from "ioredis";
import { describe, expect, it } from "vitest";
import { ScriptCommand } from "../src/ScriptCommand.ts";
import { raw } from "./fixtures/server.ts";

const arg = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  // (a plain Uint8Array: sent as its bytes, as a Buffer of them)
  fc.uint8Array({ maxLength: 64 }),
  // (copied as they are: above 1,024 bytes)
  fc.uint8Array({ minLength: 1_000, maxLength: 3_000 }).map((b) => Buffer.from(b)),
  fc.integer(),
  fc.maxSafeInteger(),
  // beyond 2^53: ioredis writes them through BigInt, never in exponent form
  fc.constantFrom(2 ** 60, -(2 ** 70), 1e21),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** ioredis's own encoding of a command, as bytes (bytes given it as Buffers). */
const ioredisBytes = (name: string, args: ReadonlyArray<string | number | Uint8Array>) => {
  const given = args.map((a) => (a instanceof Uint8Array ? Buffer.from(a) : a));
  const w = new Command(name, given, { replyEncoding: null }).toWritable({});
  return typeof w === "string" ? Buffer.from(w) : w;
};

describe("a script call's command", () => {
  test.prop([fc.array(arg, { maxLength: 24 })])(
    "is written as ioredis writes the same command",
    (args) => {
      // (a copy: the command turns its arguments into what it sends in place)
      expect(new ScriptCommand("fcall", [...args]).toWritable()).toEqual(
        ioredisBytes("fcall", args),
      );
    },
  );

  it("reaches Redis with each argument's bytes as they were given", async () => {
    const bytes = Buffer.from([0, 1, 0x7f, 0x80, 0xc3, 0xa9, 0xff, 13, 10]);
    const args = ["ascii", "été ☃ 𝄞", bytes, 42, 2 ** 60, ""];
    const command = new ScriptCommand("eval", ["return ARGV", 0, ...args]);
    void raw.sendCommand(command);
    const got = (await command.promise) as Buffer[];
    expect(got).toEqual([
      Buffer.from("ascii"),
      Buffer.from("été ☃ 𝄞"),
      bytes,
      Buffer.from("42"),
      Buffer.from("1152921504606846976"),
      Buffer.from(""),
    ]);
  });
});
