/**
 * The value encoding shared by every store: msgpack (msgpackr), compact and
 * schema-agnostic. Values are encoded after their task's schema has encoded
 * them, so dates and branded types arrive as their encoded form.
 *
 * Note: msgpack has no `-0`; it decodes as `0`.
 *
 * @since 0.1.0
 */
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: "number" });

/** Encodes a value as msgpack bytes. */
export const encode = (value: unknown): Uint8Array => packr.pack(value);

/**
 * Decodes msgpack bytes.
 *
 * @throws Error when the bytes are not valid msgpack (a corrupt record).
 */
export const decode = (bytes: Uint8Array): unknown => packr.unpack(bytes);
