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

/** `items` as one msgpack array of strings (the `"packed"` argument kind). */
export const packList = (items: ReadonlyArray<PackedItem>): Buffer => {
  const n = items.length;
  // the strings and numbers as their bytes' lengths, once
  const lengths = new Array<number>(n);
  let size = n < 16 ? 1 : n < 65_536 ? 3 : 5;
  for (let i = 0; i < n; i++) {
    const item = items[i]!;
    const bytes =
      typeof item === "string"
        ? Buffer.byteLength(item)
        : typeof item === "number"
          ? String(item).length
          : item.byteLength;
    lengths[i] = bytes;
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
    const item = items[i]!;
    const bytes = lengths[i]!;
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
    if (typeof item === "string") at += out.write(item, at, "utf8");
    else if (typeof item === "number") at += out.write(String(item), at, "latin1");
    else {
      out.set(item, at);
      at += bytes;
    }
  }
  return out;
};
