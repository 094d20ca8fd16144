/**
 * Loads the Lua scripts (one transition per script, `lua/<name>.lua`),
 * inlines `--@include <name>` lines from `lua/includes/`, and registers them
 * on a connection with `defineCommand` under a versioned name
 * (`weft1_<name>`), so two layout versions can share a Redis.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cluster, Redis } from "ioredis";
import { LAYOUT_VERSION } from "./Keys.ts";

const here = dirname(fileURLToPath(import.meta.url));

/** Scripts and whether their KEYS count is fixed (number) or given per call (undefined). */
export const SCRIPTS = {
  submit: undefined,
  claim: undefined,
  start: 5,
  stallout: undefined,
  corrupt: undefined,
  complete: undefined,
  fail: undefined,
  drain: undefined,
  cancel: undefined,
  heartbeat: 2,
  release: 8,
  park: 8,
  progress: 3,
  promote: 4,
  reap: 4,
  discard: 6,
  lock: 2,
  renewlock: 1,
  unlock: 1,
} as const;

/** A script name. */
export type ScriptName = keyof typeof SCRIPTS;

const load = (name: string): string => {
  const raw = readFileSync(join(here, "lua", `${name}.lua`), "utf8");
  return raw.replace(/^--@include (\w+)$/gm, (_, inc: string) =>
    readFileSync(join(here, "lua", "includes", `${inc}.lua`), "utf8"),
  );
};

/**
 * Every script's source, read once when this module loads: a process keeps
 * the Lua it started with even if the files are replaced under it (a deploy
 * in place), so its TypeScript and Lua always match.
 */
const SOURCES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.keys(SCRIPTS).map((name) => [name, load(name)]),
);

/** The source of a script with its includes inlined. */
export const scriptSource = (name: ScriptName): string => SOURCES[name]!;

const SHAS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SOURCES).map(([name, lua]) => [
    name,
    createHash("sha1").update(lua).digest("hex"),
  ]),
);

/** The SHA-1 of a script's source (its name in Redis's script cache, for EVALSHA). */
export const scriptSha = (name: ScriptName): string => SHAS[name]!;

/** The command name a script is registered under. */
export const commandName = (name: ScriptName): string => `weft${LAYOUT_VERSION}_${name}`;

/**
 * Registers every script on `redis`, a single Redis or a Cluster client.
 * ioredis sends a script's source (EVAL) the first time it runs on each
 * connection and its SHA (EVALSHA) afterwards, and sends the source again
 * on NOSCRIPT: a node that never saw a script (a promoted replica, a node
 * added to a cluster, a restarted server) gets it on first use.
 */
export const defineScripts = (redis: Redis | Cluster): void => {
  for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
    const opts =
      numberOfKeys === undefined
        ? { lua: scriptSource(name as ScriptName) }
        : { lua: scriptSource(name as ScriptName), numberOfKeys };
    redis.defineCommand(commandName(name as ScriptName), opts);
  }
};
