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

/** The size in bytes of a msgpack `str` header for `n` bytes. */
const strHeader = (n: number): number => (n < 32 ? 1 : n < 256 ? 2 : n < 65_536 ? 3 : 5);

/** Strings up to this many UTF-16 units are measured and written by a loop when ASCII. */
const SHORT = 64;

/**
 * The byte length of `s` when it is short ASCII (its bytes are its char codes), else -1:
 * a loop is cheaper than a native call for such a string, the most common argument.
 */
const shortAscii = (s: string): number => {
  const n = s.length;
  if (n > SHORT) return -1;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return -1;
  return n;
};

/** `items` as one msgpack array of strings (the `"packed"` argument kind). */
export const packList = (items: ReadonlyArray<PackedItem>): Buffer => {
  const n = items.length;
  // each item as a string or bytes (numbers as ioredis writes them), and its bytes' length,
  // negative (-1 - length) for a short ASCII string, written by a loop
  const values = new Array<string | Uint8Array>(n);
  const lengths = new Array<number>(n);
  let size = n < 16 ? 1 : n < 65_536 ? 3 : 5;
  for (let i = 0; i < n; i++) {
    const item = items[i]!;
    let bytes: number;
    if (typeof item === "object") {
      values[i] = item;
      bytes = item.byteLength;
      lengths[i] = bytes;
    } else {
      const s = typeof item === "number" ? String(item) : item;
      values[i] = s;
      const ascii = shortAscii(s);
      bytes = ascii >= 0 ? ascii : Buffer.byteLength(s);
      lengths[i] = ascii >= 0 ? -1 - ascii : bytes;
    }
    size += strHeader(bytes) + bytes;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (n < 16) out[at++] = 0x90 | n;
  else if (n < 65_536) {
    out[at++] = 0xdc;
    at = out.writeUInt16BE(n, at);
  } else {
    out[at++] = 0xdd;
    at = out.writeUInt32BE(n, at);
  }
  for (let i = 0; i < n; i++) {
    const value = values[i]!;
    const length = lengths[i]!;
    const bytes = length < 0 ? -1 - length : length;
    if (bytes < 32) out[at++] = 0xa0 | bytes;
    else if (bytes < 256) {
      out[at++] = 0xd9;
      out[at++] = bytes;
    } else if (bytes < 65_536) {
      out[at++] = 0xda;
      at = out.writeUInt16BE(bytes, at);
    } else {
      out[at++] = 0xdb;
      at = out.writeUInt32BE(bytes, at);
    }
    if (length < 0) {
      const s = value as string;
      for (let j = 0; j < bytes; j++) out[at + j] = s.charCodeAt(j);
      at += bytes;
    } else if (typeof value === "string") at += out.write(value, at, "utf8");
    else {
      out.set(value, at);
      at += bytes;
    }
  }
  return out;
};
