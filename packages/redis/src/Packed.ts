/**
 * Msgpack as Redis's Lua `cmsgpack` writes and reads it, both ways:
 *
 * - {@link packList}: a long list of script arguments as one argument, a
 *   msgpack array of strings, which the script reads with `cmsgpack.unpack`
 *   into the same Lua list of strings that ARGV would give (Scripts.ts,
 *   argument kind `"packed"`). One argument costs ioredis and Redis one bulk
 *   string instead of thousands (a `submitmany` of 60 runs takes about 1,200
 *   arguments). Every item is written as a msgpack `str`, its bytes as they
 *   are: cmsgpack reads no `bin` type ("Bad data format in input"), and a
 *   Lua string holds any bytes. A number is written as ioredis writes an
 *   argument (`String(n)`), a string as UTF-8, bytes as they are.
 * - {@link unpackReply}: a reply a script packed (`cmsgpack.pack`) read as
 *   Redis would have answered it.
 *
 * Both are written here rather than with msgpackr, which the store uses for
 * records and results: cmsgpack writes every Lua string as a `str`, which
 * msgpackr decodes to a JavaScript string (UTF-8, losing the bytes of a
 * binary value such as a spec), and reads no `bin`, which msgpackr writes for
 * bytes.
 */

/** An item of a packed list: what a script argument may be. */
export type PackedItem = string | number | Uint8Array;

/**
 * Writes a msgpack `str` header for `bytes` bytes at `at`; returns the offset after it.
 * (The shortest header: fixstr under 32 bytes, then str 8, 16, 32.)
 */
const putHeader = (out: Buffer, at: number, bytes: number): number => {
  if (bytes < 32) out[at++] = 0xa0 | bytes;
  else if (bytes < 256) {
    out[at++] = 0xd9;
    out[at++] = bytes;
  } else if (bytes < 65_536) {
    out[at++] = 0xda;
    out[at++] = bytes >>> 8;
    out[at++] = bytes & 0xff;
  } else {
    out[at++] = 0xdb;
    at = out.writeUInt32BE(bytes, at);
  }
  return at;
};

/**
 * Copied by a loop, cheaper than a native call: bytes of at most this many, and ASCII
 * strings of fewer UTF-16 units (a fixstr header holds at most 31 bytes).
 */
const SHORT = 32;

/**
 * `items` as one msgpack array of strings (the `"packed"` argument kind), in
 * one pass: each item is written into a buffer sized for the most its
 * characters can take (3 UTF-8 bytes a UTF-16 unit), and the part written is
 * returned. A short ASCII string (most arguments: ids, numbers, labels) is
 * copied by a loop behind its 1-byte header; any other string is measured
 * and written natively. About 35 % less Node time than sizing every item
 * first (docs/benchmarks.md, "Since 12:24 UTC on 2026-12-06").
 */
export const packList = (items: ReadonlyArray<PackedItem>): Buffer => {
  const n = items.length;
  let bound = 5;
  for (let i = 0; i < n; i++) {
    const item = items[i]!;
    // (a number's text is at most 24 characters: "-1.7976931348623157e+308")
    bound +=
      typeof item === "string"
        ? 5 + 3 * item.length
        : typeof item === "number"
          ? 29
          : 5 + item.byteLength;
  }
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  if (n < 16) out[at++] = 0x90 | n;
  else if (n < 65_536) {
    out[at++] = 0xdc;
    out[at++] = n >>> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = 0xdd;
    at = out.writeUInt32BE(n, at);
  }
  for (let i = 0; i < n; i++) {
    const item = items[i]!;
    if (typeof item === "object") {
      const bytes = item.byteLength;
      at = putHeader(out, at, bytes);
      if (bytes <= SHORT) for (let j = 0; j < bytes; j++) out[at + j] = item[j]!;
      else out.set(item, at);
      at += bytes;
      continue;
    }
    const s = typeof item === "number" ? String(item) : item;
    const len = s.length;
    if (len < SHORT) {
      // ASCII: its bytes are its char codes, after a fixstr header; stops at the first that is not
      let j = 0;
      for (; j < len; j++) {
        const c = s.charCodeAt(j);
        if (c > 0x7f) break;
        out[at + 1 + j] = c;
      }
      if (j === len) {
        out[at] = 0xa0 | len;
        at += 1 + len;
        continue;
      }
    }
    const bytes = Buffer.byteLength(s);
    at = putHeader(out, at, bytes);
    at += out.write(s, at, bytes, "utf8");
  }
  return out.subarray(0, at);
};

/** A value as a script's reply gives it: an integer, a string's bytes, nil, or a list of values. */
export type Unpacked = number | Buffer | null | Unpacked[];

/** Where {@link unpackReply} reads in its bytes (it runs to its end without yielding). */
let pos = 0;

/**
 * The msgpack value `bytes` (a Lua value as `cmsgpack.pack` writes it) as
 * the value Redis would have answered for the Lua value itself as a reply
 * (Redis 7's `luaReplyToRedisReply`, as ioredis reads it in buffer mode):
 * integers as numbers, strings as their bytes (views of `bytes`, as
 * ioredis's replies are views of its read buffer), a list as an array, a
 * list with holes (which cmsgpack writes as a map of integer keys) cut at
 * its first hole as Redis cuts it, `true` as 1, `false` and nil as `null`,
 * a number with a fraction cut to its integer part. A script answers a long
 * reply so (claim.lua, completemany.lua): Redis writes one string instead
 * of a reply item per value, and the client reads it without a reply
 * parser's allocations per value (docs/benchmarks.md, "Since 12:24 UTC on
 * 2026-12-06").
 *
 * @throws Error when `bytes` is not one such value: another msgpack type (a
 *   map with a key that is not a list index, an extension), a value cut
 *   short, or bytes after it.
 */
export const unpackReply = (bytes: Buffer): Unpacked => {
  pos = 0;
  const v = readValue(bytes);
  if (pos !== bytes.length)
    throw new Error(`a packed reply has ${bytes.length - pos} bytes after it`);
  return v;
};

const need = (bytes: Buffer, n: number) => {
  if (pos + n > bytes.length) throw new Error(`a packed reply cut short at byte ${pos}`);
};

/** The unsigned integer of `n` (1, 2 or 4) bytes at `pos`. */
const uint = (bytes: Buffer, n: number): number => {
  need(bytes, n);
  const v = n === 1 ? bytes[pos]! : n === 2 ? bytes.readUInt16BE(pos) : bytes.readUInt32BE(pos);
  pos += n;
  return v;
};

const bytesOf = (bytes: Buffer, len: number): Buffer => {
  need(bytes, len);
  const v = bytes.subarray(pos, pos + len);
  pos += len;
  return v;
};

const listOf = (bytes: Buffer, n: number): Unpacked[] => {
  const out: Unpacked[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readValue(bytes);
  return out;
};

/** A Lua list with holes, written as a map of its indexes: its values up to the first hole. */
const holedListOf = (bytes: Buffer, n: number): Unpacked[] => {
  const at = new Map<number, Unpacked>();
  for (let i = 0; i < n; i++) {
    const k = readValue(bytes);
    if (typeof k !== "number" || k < 1 || !Number.isInteger(k))
      throw new Error(`a packed reply holds a map whose key is not a list index (${String(k)})`);
    at.set(k, readValue(bytes));
  }
  const out: Unpacked[] = [];
  for (let k = 1; at.has(k); k++) out.push(at.get(k)!);
  return out;
};

const readValue = (bytes: Buffer): Unpacked => {
  need(bytes, 1);
  const b = bytes[pos++]!;
  if (b < 0x80) return b; // positive fixint
  if (b >= 0xe0) return b - 0x100; // negative fixint
  if (b >= 0xa0 && b <= 0xbf) return bytesOf(bytes, b & 0x1f); // fixstr
  if (b >= 0x90 && b <= 0x9f) return listOf(bytes, b & 0x0f); // fixarray
  if (b <= 0x8f) return holedListOf(bytes, b & 0x0f); // fixmap
  switch (b) {
    case 0xc0: // nil
    case 0xc2: // false: Redis answers nil
      return null;
    case 0xc3: // true: Redis answers 1
      return 1;
    case 0xc4:
    case 0xd9:
      return bytesOf(bytes, uint(bytes, 1));
    case 0xc5:
    case 0xda:
      return bytesOf(bytes, uint(bytes, 2));
    case 0xc6:
    case 0xdb:
      return bytesOf(bytes, uint(bytes, 4));
    case 0xca: {
      need(bytes, 4);
      const v = bytes.readFloatBE(pos);
      pos += 4;
      return Math.trunc(v);
    }
    case 0xcb: {
      need(bytes, 8);
      const v = bytes.readDoubleBE(pos);
      pos += 8;
      return Math.trunc(v);
    }
    case 0xcc:
      return uint(bytes, 1);
    case 0xcd:
      return uint(bytes, 2);
    case 0xce:
      return uint(bytes, 4);
    case 0xcf: {
      need(bytes, 8);
      const v = Number(bytes.readBigUInt64BE(pos));
      pos += 8;
      return v;
    }
    case 0xd0: {
      need(bytes, 1);
      return bytes.readInt8(pos++);
    }
    case 0xd1: {
      need(bytes, 2);
      const v = bytes.readInt16BE(pos);
      pos += 2;
      return v;
    }
    case 0xd2: {
      need(bytes, 4);
      const v = bytes.readInt32BE(pos);
      pos += 4;
      return v;
    }
    case 0xd3: {
      need(bytes, 8);
      const v = Number(bytes.readBigInt64BE(pos));
      pos += 8;
      return v;
    }
    case 0xdc:
      return listOf(bytes, uint(bytes, 2));
    case 0xdd:
      return listOf(bytes, uint(bytes, 4));
    case 0xde:
      return holedListOf(bytes, uint(bytes, 2));
    case 0xdf:
      return holedListOf(bytes, uint(bytes, 4));
    default:
      throw new Error(
        `a packed reply holds byte 0x${b.toString(16)} at ${pos - 1}, not a value a script answers`,
      );
  }
};
