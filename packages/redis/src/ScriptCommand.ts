/**
 * A script call's command (`FCALL`) as ioredis sends it, written as one
 * Buffer: an ioredis `Command` whose arguments are taken as given and whose
 * RESP encoding is built in one string.
 *
 * ioredis's own path costs a chain step as much CPU as Weft's code around
 * it: the generated method copies the arguments (`Array.prototype.flat`),
 * and a command holding one Buffer (a result's bytes) is encoded piece by
 * piece, each argument's length measured twice and written by its own call
 * into C++. A `complete` call of 20 arguments spent about 45 µs a step there
 * (measured on 2026-12-07, docs/benchmarks.md); this spends about 15.
 *
 * The encoding: every argument as the string of its bytes, one character a
 * byte (Latin-1: a string of ASCII as it is, any other string as its UTF-8
 * bytes, a Buffer's bytes as they are), the whole command then turned into
 * bytes by one `Buffer.from(…, "latin1")`; a Buffer of more than a kilobyte
 * (a batch's packed items) is copied in as it is. The command is a real
 * `Command`: ioredis queues it, times it out (`commandTimeout`), resends it
 * after a reconnection and, on a cluster, routes it by its keys as any other.
 */
import { Command } from "ioredis";

/** A character whose UTF-8 bytes are not itself (beyond ASCII). */
const NOT_ASCII = /[\u0080-\uffff]/;

/** Bytes as ioredis sends them: a Buffer (a plain Uint8Array would be sent as text). */
const asBuffer = (a: Uint8Array): Buffer =>
  Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A command argument as ioredis sends it: bytes in a Buffer, a string or number as it is. */
export const asArg = (a: string | number | Uint8Array): string | number | Buffer =>
  typeof a === "string" || typeof a === "number" ? a : asBuffer(a);

/**
 * An argument as ioredis would write it: a string as it is, bytes in a
 * Buffer, a number in decimal (an integer beyond 2^53 through BigInt, as
 * ioredis's `toArg` writes it, never in exponent form).
 */
const asSent = (a: string | number | Uint8Array): string | Buffer =>
  typeof a === "string"
    ? a
    : typeof a !== "number"
      ? asBuffer(a)
      : Number.isInteger(a) && !Number.isSafeInteger(a)
        ? BigInt(a).toString()
        : String(a);

/**
 * The size above which a Buffer argument is copied into the command as it is
 * (bytes): below, made a string, it costs less than a copy of its own.
 */
const COPIED_BYTES = 1_024;

/** An argument's bytes, one character a byte. */
const latin1 = (a: string | Buffer): string =>
  typeof a !== "string"
    ? a.toString("latin1")
    : NOT_ASCII.test(a)
      ? Buffer.from(a).toString("latin1")
      : a;

/**
 * A command of `name` and `args` (strings, numbers, bytes), its reply as
 * Buffers (as `callBuffer` answers). Sent with `redis.sendCommand(command)`;
 * its promise is `command.promise`. The command keeps `args` as its own,
 * each argument turned in place into what ioredis would send.
 */
export class ScriptCommand extends Command {
  constructor(name: string, args: Array<string | number | Uint8Array>) {
    // (no arguments to the constructor: it would copy and convert them)
    super(name, [], { replyEncoding: null });
    for (let i = 0; i < args.length; i++) args[i] = asSent(args[i]!);
    this.args = args as Array<string | Buffer>;
  }

  /**
   * The command in RESP (an array of bulk strings), as one Buffer. A Buffer
   * argument of more than {@link COPIED_BYTES} bytes (a batch's packed
   * items) is copied as it is, not made a string and back.
   */
  override toWritable(): Buffer {
    const args = this.args as ReadonlyArray<string | Buffer>;
    let text = `*${args.length + 1}\r\n$${this.name.length}\r\n${this.name}\r\n`;
    let parts: Buffer[] | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (typeof a !== "string" && a.length > COPIED_BYTES) {
        parts ??= [];
        parts.push(Buffer.from(`${text}$${a.length}\r\n`, "latin1"), a);
        text = "\r\n";
        continue;
      }
      const bytes = latin1(a);
      text += `$${bytes.length}\r\n${bytes}\r\n`;
    }
    const last = Buffer.from(text, "latin1");
    if (parts === undefined) return last;
    parts.push(last);
    return Buffer.concat(parts);
  }
}
