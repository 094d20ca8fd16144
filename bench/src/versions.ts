/**
 * Installed package versions, read from each package's own package.json.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

/** Where `name`'s `package.json` is, or its main entry's path (a package that exports no `package.json`). */
const resolveEither = (name: string): string => {
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    return require.resolve(name);
  }
};

/** The version of the installed package `name`, or `"?"`. */
export const versionOf = (name: string): string => {
  try {
    let dir = dirname(resolveEither(name));
    for (;;) {
      const file = join(dir, "package.json");
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? "?";
      }
      const up = dirname(dir);
      if (up === dir) return "?";
      dir = up;
    }
  } catch {
    return "?";
  }
};

/**
 * A short SHA1 over the source files (`.ts`, `.lua`) of the installed
 * packages `names`, to tell which code a run measured and to notice sources
 * that changed while it ran (the Redis store reads its Lua files at each
 * connect, so a run during an edit would mix versions).
 */
export const sourceHash = (names: ReadonlyArray<string>): string => {
  const hash = createHash("sha1");
  for (const name of names) {
    let root: string;
    try {
      // (a package's `package.json`, which Weft's packages export: their entries are ESM
      // only, which require.resolve does not find)
      root = dirname(require.resolve(`${name}/package.json`));
    } catch {
      continue;
    }
    const files = readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts") || f.endsWith(".lua"))
      .sort();
    for (const f of files) {
      hash.update(`${name}/${f}\0`);
      hash.update(readFileSync(join(root, "src", f)));
    }
  }
  return hash.digest("hex").slice(0, 12);
};
