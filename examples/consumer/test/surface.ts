/**
 * Reads a package's shipped declarations (`.d.ts`, as tsc emits them) and
 * finds the exported names that have no docstring: the check behind "every
 * exported name has a docstring". Follows `export { … } from "./x.js"`,
 * `export * from "./x.js"` and local re-exports through the package's own
 * files; names re-exported from another package are that package's to
 * document.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Where an exported name is declared: the file and its local name there. */
interface Origin {
  readonly file: string;
  readonly local: string;
}

const DECLARATION = (name: string) =>
  new RegExp(
    `^(?:export )?(?:declare )?(?:abstract )?(?:const|let|function|class|interface|type|enum|namespace) ${name.replace(/\$/g, "\\$")}\\b`,
    "m",
  );

const read = (file: string): string => readFileSync(file, "utf8");

/** `a`, `type a`, `a as b` → [local, exported]. */
const specifiers = (list: string): Array<[string, string]> =>
  list
    .split(",")
    .map((s) => s.trim().replace(/^type\s+/, ""))
    .filter((s) => s !== "")
    .map((s) => {
      const [local, exported] = s.split(/\s+as\s+/);
      return [local ?? s, exported ?? local ?? s];
    });

const relative = (spec: string) => spec.startsWith(".");

/** Where `local` of `file` comes from: declared there, imported from a sibling, or another package's. */
const resolveLocal = (file: string, local: string): Origin | undefined => {
  const text = read(file);
  if (DECLARATION(local).test(text)) return { file, local };
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"/g)) {
    for (const [imported, as] of specifiers(m[1] ?? "")) {
      if (as !== local) continue;
      const spec = m[2] ?? "";
      return relative(spec)
        ? resolveLocal(join(dirname(file), spec.replace(/\.(js|ts)$/, ".d.ts")), imported)
        : undefined;
    }
  }
  throw new Error(`${file}: cannot find where ${local} is declared`);
};

/** Every name `file` exports, with where it is declared (undefined: another package's). */
export const exportsOf = (file: string): Map<string, Origin | undefined> => {
  const text = read(file);
  const out = new Map<string, Origin | undefined>();
  const target = (spec: string) => join(dirname(file), spec.replace(/\.(js|ts)$/, ".d.ts"));
  for (const m of text.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}(?:\s+from\s+"([^"]+)")?/gm)) {
    const spec = m[2];
    for (const [local, exported] of specifiers(m[1] ?? "")) {
      if (spec === undefined) out.set(exported, resolveLocal(file, local));
      else out.set(exported, relative(spec) ? resolveLocal(target(spec), local) : undefined);
    }
  }
  for (const m of text.matchAll(/^export \* from "([^"]+)"/gm)) {
    const spec = m[1] ?? "";
    if (relative(spec)) for (const [n, o] of exportsOf(target(spec))) out.set(n, o);
  }
  for (const m of text.matchAll(
    /^export (?:declare )?(?:abstract )?(?:const|let|function|class|interface|type|enum|namespace) ([\w$]+)/gm,
  )) {
    const name = m[1] ?? "";
    out.set(name, { file, local: name });
  }
  return out;
};

/** Whether the first declaration of `local` in `file` is preceded by a `/** … *\/` comment. */
const documented = ({ file, local }: Origin): boolean => {
  const text = read(file);
  const at = DECLARATION(local).exec(text)?.index;
  if (at === undefined) return false;
  const before = text.slice(0, at).trimEnd();
  return (
    before.endsWith("*/") && before.lastIndexOf("/**") > before.lastIndexOf("*/", before.length - 3)
  );
};

/** The names the entry point `file` (a `.d.ts`) exports without a docstring, sorted. */
export const undocumented = (file: string): string[] =>
  [...exportsOf(file)]
    .filter(([, origin]) => origin !== undefined && !documented(origin))
    .map(([name]) => name)
    .sort();
