/**
 * The dashboard's static front end: plain ES modules, HTML and CSS from the
 * package's `public/` folder (shipped in the tarball, next to `dist/`), and
 * dagre's ES module build from its npm package. No build step.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** `public/`: one level above both `src/` and `dist/`. */
const PUBLIC = fileURLToPath(new URL("../public/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The files served, by URL path; anything else is a 404. */
const FILES: Record<string, () => string> = {
  "/": () => join(PUBLIC, "index.html"),
  "/app.js": () => join(PUBLIC, "app.js"),
  "/dag.js": () => join(PUBLIC, "dag.js"),
  "/style.css": () => join(PUBLIC, "style.css"),
  "/vendor/dagre.js": () =>
    join(
      dirname(createRequire(import.meta.url).resolve("@dagrejs/dagre/package.json")),
      "dist",
      "dagre.esm.js",
    ),
};

/** A static file's body and content type, or `undefined` when `path` is not one. */
export const asset = async (
  path: string,
): Promise<{ readonly body: Buffer; readonly type: string } | undefined> => {
  const file = FILES[path];
  if (!file) return undefined;
  const name = file();
  const ext = name.slice(name.lastIndexOf("."));
  return { body: await readFile(name), type: TYPES[ext] ?? "application/octet-stream" };
};
