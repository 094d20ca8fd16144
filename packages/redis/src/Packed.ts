/**
 * A long list of script arguments as one argument: a msgpack array of
 * strings, which the script reads with `cmsgpack.unpack` into the same Lua
 * list of strings that ARGV would give (Scripts.ts, argument kind
 * `"packed"`). One argument costs ioredis and Redis one bulk string instead
 * of thousands (a `submitmany` of 60 runs takes about 1,200 arguments).
 *
 * Every item is written as a msgpack `str`, its bytes as they are: Redis's
 * cmsgpack reads no `bin` type ("Bad data format in input"), and a Lua
 * string holds any bytes. A number is written as ioredis writes an argument
 * (`String(n)`), a string as UTF-8, bytes as they are.
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

/** Items of up to this many bytes (or UTF-16 units) are copied by a loop: cheaper than a native call. */
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

/** A value of a list {@link unpackFlat} reads: an integer, or a string's bytes. */
export type FlatItem = number | Buffer;

/**
 * The msgpack array `bytes` (a Lua list of integers and strings, as
 * `cmsgpack.pack` writes it) as the values Redis would have answered for
 * that list as a reply: integers as numbers, strings as their bytes (views
 * of `bytes`, as ioredis's buffer replies are views of its read buffer). A
 * script answers a long flat list so (claim.lua): Redis writes one string
 * instead of a reply item per value, and the client reads it without a
 * reply parser's allocations per item (docs/benchmarks.md, "Since 12:24 UTC
 * on 2026-12-06").
 *
 * @throws Error when `bytes` is not one such array (another msgpack type, a
 *   value cut short, bytes after it).
 */
export const unpackFlat = (bytes: Buffer): FlatItem[] => {
  let at = 0;
  const end = bytes.length;
  const need = (n: number) => {
    if (at + n > end) throw new Error(`a packed list cut short at byte ${at}`);
  };
  need(1);
  const head = bytes[at++]!;
  let n: number;
  if ((head & 0xf0) === 0x90) n = head & 0x0f;
  else if (head === 0xdc) {
    need(2);
    n = bytes.readUInt16BE(at);
    at += 2;
  } else if (head === 0xdd) {
    need(4);
    n = bytes.readUInt32BE(at);
    at += 4;
  } else throw new Error(`a packed list starts with byte 0x${head.toString(16)}, not an array`);
  const out: FlatItem[] = new Array(n);
  for (let i = 0; i < n; i++) {
    need(1);
    const b = bytes[at++]!;
    let len: number;
    if (b < 0x80) {
      out[i] = b; // positive fixint
      continue;
    }
    if (b >= 0xe0) {
      out[i] = b - 0x100; // negative fixint
      continue;
    }
    if ((b & 0xe0) === 0xa0) len = b & 0x1f;
    else
      switch (b) {
        case 0xd9:
        case 0xc4:
          need(1);
          len = bytes[at++]!;
          break;
        case 0xda:
        case 0xc5:
          need(2);
          len = bytes.readUInt16BE(at);
          at += 2;
          break;
        case 0xdb:
        case 0xc6:
          need(4);
          len = bytes.readUInt32BE(at);
          at += 4;
          break;
        case 0xcc:
          need(1);
          out[i] = bytes[at++]!;
          continue;
        case 0xcd:
          need(2);
          out[i] = bytes.readUInt16BE(at);
          at += 2;
          continue;
        case 0xce:
          need(4);
          out[i] = bytes.readUInt32BE(at);
          at += 4;
          continue;
        case 0xcf:
          need(8);
          out[i] = Number(bytes.readBigUInt64BE(at));
          at += 8;
          continue;
        case 0xd0:
          need(1);
          out[i] = bytes.readInt8(at++);
          continue;
        case 0xd1:
          need(2);
          out[i] = bytes.readInt16BE(at);
          at += 2;
          continue;
        case 0xd2:
          need(4);
          out[i] = bytes.readInt32BE(at);
          at += 4;
          continue;
        case 0xd3:
          need(8);
          out[i] = Number(bytes.readBigInt64BE(at));
          at += 8;
          continue;
        default:
          throw new Error(
            `a packed list holds byte 0x${b.toString(16)} at ${at - 1}: not an integer or a string`,
          );
      }
    need(len);
    out[i] = bytes.subarray(at, at + len);
    at += len;
  }
  if (at !== end) throw new Error(`a packed list has ${end - at} bytes after it`);
  return out;
};
