/**
 * Loading a worker's handlers from a module named on the command line.
 */
import { existsSync } from "node:fs";
import { extname, isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type BoundHandler, ErrorTag } from "@weft/core";
import { Data } from "effect";

/**
 * The handlers module `weft worker` was given cannot be imported or does not
 * export handlers; `cause` is the import's own error when there is one.
 */
export class HandlersModuleError extends Data.TaggedError(ErrorTag.HandlersModuleError)<{
  /** The module as named on the command line. */
  readonly module: string;
  /** What is wrong, one sentence naming the module. */
  readonly reason: string;
  readonly cause?: unknown;
}> {
  override get message() {
    return this.reason;
  }
}

const isHandler = (h: unknown): h is BoundHandler => {
  if (typeof h !== "object" || h === null) return false;
  const { task, run } = h as { task?: unknown; run?: unknown };
  return (
    typeof run === "function" &&
    typeof task === "object" &&
    task !== null &&
    typeof (task as { name?: unknown }).name === "string"
  );
};

const describe = (v: unknown): string =>
  Array.isArray(v) ? `an array of ${v.length}` : v === null ? "null" : typeof v;

/** Extensions of TypeScript modules, which Node cannot import without a loader. */
const TYPESCRIPT = new Set([".ts", ".mts", ".cts", ".tsx"]);

/** Whether tsx's ESM loader was registered by {@link registerTsx} in this process. */
let tsxRegistered = false;

/**
 * Registers tsx's ESM loader (an optional peer dependency of `@weft/cli`),
 * once, so that a `.ts` handlers module can be imported; tsx is loaded only
 * here, so `weft` never pays for it unless it is given TypeScript.
 *
 * @throws HandlersModuleError when tsx is not installed: it says to install
 *   tsx or compile the module to JavaScript.
 */
const registerTsx = async (specifier: string): Promise<void> => {
  if (tsxRegistered) return;
  // a Node that strips types itself (22.18+, 23.6+) needs no loader
  if ((process.features as { typescript?: unknown }).typescript) return;
  let api: { register: () => unknown };
  try {
    // a variable specifier: tsx is an optional peer, absent from the type graph
    const tsx = "tsx/esm/api";
    api = (await import(tsx)) as { register: () => unknown };
  } catch (e) {
    const missing = (e as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND";
    const why = missing
      ? "tsx (which weft uses to import TypeScript) is not installed"
      : `tsx (which weft uses to import TypeScript) cannot be loaded: ${e instanceof Error ? e.message : String(e)}`;
    throw new HandlersModuleError({
      module: specifier,
      reason: `handlers module ${specifier} is TypeScript, and ${why}: install it (npm install --save-dev tsx) or compile the module to JavaScript and give weft the .js file`,
      cause: e,
    });
  }
  api.register();
  tsxRegistered = true;
};

/**
 * Imports `specifier` (a path, resolved against `cwd`) and returns its
 * handlers: the named export `handlers` or the default export, an array of
 * handlers made with `handle(task, fn)`. A `.js`/`.mjs` module is imported
 * as is; a `.ts`/`.mts`/`.cts`/`.tsx` module through tsx, when it is
 * installed (an optional peer dependency).
 *
 * @throws HandlersModuleError when the module is missing, is TypeScript
 *   while tsx is not installed, fails to load, exports no handlers, or
 *   binds one task twice.
 */
export const loadHandlers = async (
  specifier: string,
  cwd: string,
): Promise<ReadonlyArray<BoundHandler>> => {
  const path = isAbsolute(specifier) ? specifier : resolve(cwd, specifier);
  if (!existsSync(path)) {
    throw new HandlersModuleError({
      module: specifier,
      reason: `handlers module ${specifier} not found (looked at ${path})`,
    });
  }
  if (TYPESCRIPT.has(extname(path))) await registerTsx(specifier);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new HandlersModuleError({
      module: specifier,
      reason: `cannot import handlers module ${specifier}: ${why}`,
      cause: e,
    });
  }
  const name = "handlers" in mod ? "handlers" : "default" in mod ? "default" : undefined;
  const value = name === undefined ? undefined : mod[name];
  if (name === undefined || !Array.isArray(value) || !value.every(isHandler)) {
    const found =
      name === undefined
        ? `it exports ${Object.keys(mod).sort().join(", ") || "nothing"}`
        : `its ${name === "default" ? "default export" : `"handlers" export`} is ${describe(value)}${
            Array.isArray(value) ? " with items that are not handlers" : ""
          }`;
    throw new HandlersModuleError({
      module: specifier,
      reason: `handlers module ${specifier} must export "handlers" (an array of handlers made with handle(task, fn)) or a default export that is one; ${found}`,
    });
  }
  if (value.length === 0) {
    throw new HandlersModuleError({
      module: specifier,
      reason: `handlers module ${specifier} exports an empty "${name}" array: the worker would handle no task`,
    });
  }
  const seen = new Set<string>();
  for (const h of value) {
    if (seen.has(h.task.name)) {
      throw new HandlersModuleError({
        module: specifier,
        reason: `handlers module ${specifier} binds task "${h.task.name}" more than once`,
      });
    }
    seen.add(h.task.name);
  }
  return value;
};
