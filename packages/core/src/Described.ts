/**
 * How an error message names a value it was given where it expected
 * something else (a store, a handler, a connection target): its type, a
 * short string, an object's first keys, or a Promise that was not awaited.
 */

/** What `v` is, for a message: `undefined`, `number 3`, `a string "x"`, `an object with keys a, b`, `a Promise (not awaited?)`. */
export const described = (v: unknown): string => {
  if (v === null || v === undefined) return String(v);
  if (typeof v === "string")
    return `a string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "function") return `a function${v.name ? ` (${v.name})` : ""}`;
  if (typeof v !== "object") return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof (v as { then?: unknown }).then === "function") return "a Promise (not awaited?)";
  const keys = Object.keys(v);
  const shown = keys.slice(0, 5).join(", ") + (keys.length > 5 ? `, … (${keys.length} keys)` : "");
  return keys.length === 0 ? "an empty object" : `an object with keys ${shown}`;
};
