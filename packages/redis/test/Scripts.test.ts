/**
 * The Lua scripts against their definitions (Scripts.ts), read as text: each
 * script uses only the keys, arguments and reply codes its definition names,
 * and its header lists them; no include reaches for a key it was not handed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SPEC_IN_RECORD_NODES } from "../src/Records.ts";
import { ReplyCode } from "../src/Replies.ts";
import {
  functionName,
  inlineConstants,
  LIBRARY,
  LUA_GC_PAUSE,
  percallReset,
  SCRIPT_LIST,
  SCRIPTS,
  scriptSource,
  sentKeyLabels,
} from "../src/Scripts.ts";

const LUA = fileURLToPath(new URL("../src/lua/", import.meta.url));
const read = (path: string) => readFileSync(`${LUA}${path}`, "utf8");
const scriptFiles = readdirSync(LUA).filter((f) => f.endsWith(".lua"));
const includeFiles = readdirSync(`${LUA}includes`).filter((f) => f.endsWith(".lua"));

/** Lua code without its comments and string literals: what is left names variables. */
const code = (source: string): string =>
  source.replace(/"(?:[^"\\\n]|\\.)*"/g, '""').replace(/--[^\n]*/g, "");

/** Every `<table>.<field>` a code uses. */
const fields = (source: string, table: string): string[] => [
  ...new Set([...code(source).matchAll(new RegExp(`\\b${table}\\.(\\w+)`, "g"))].map((m) => m[1]!)),
];

/** The header: the leading comment lines. */
const header = (source: string): string[] => {
  const lines = source.split("\n");
  const end = lines.findIndex((l) => !l.startsWith("--"));
  return lines.slice(0, end === -1 ? lines.length : end);
};

/** The text of a header section (`-- KEYS: ...` and its indented continuation lines). */
const section = (source: string, name: string): string => {
  const lines = header(source);
  const at = lines.findIndex((l) => l.startsWith(`-- ${name}:`));
  if (at === -1) return "";
  const out = [lines[at]!.slice(`-- ${name}:`.length)];
  for (const l of lines.slice(at + 1)) {
    if (!l.startsWith("--   ")) break;
    out.push(l.slice(2));
  }
  return out.join(" ");
};

/**
 * The labels a `KEYS:` or `ARGV:` section lists, in order (the first word of
 * each item; descriptions go in parentheses), and those it lists per queue
 * (after `per run queue:` or `per worker queue:`).
 */
const labels = (text: string): { readonly named: string[]; readonly perQueue: string[] } => {
  let flat = text;
  while (/\([^()]*\)/.test(flat)) flat = flat.replace(/\([^()]*\)/g, "");
  const [named, perQueue] = flat.split(/per (?:run|worker) queue:/);
  const words = (s: string | undefined) =>
    (s ?? "")
      .split(/[,;]/)
      .map((item) => /^\s*([A-Za-z]+)/.exec(item)?.[1])
      .filter((w): w is string => w !== undefined);
  return { named: words(named), perQueue: words(perQueue) };
};

describe("the Lua scripts and their definitions", () => {
  it("--@const numbers are written in place of their names in code, not in strings, comments or fields", () => {
    const src = [
      "--@const",
      "local ST, ATT =",
      "  1, 2",
      "--@const",
      "local BIG = 1099511627776 -- 2^40",
      'local x = r[ST] + r[ATT] .. "ST" -- ST',
      "local y = t.ST + BIG + STX + ATT",
    ].join("\n");
    const out = inlineConstants(src);
    expect(out).toContain('local x = r[1] + r[2] .. "ST" -- ST');
    expect(out).toContain("local y = t.ST + 1099511627776 + STX + 2");
    expect(out).not.toMatch(/^local (ST|BIG)/m);
    expect(() => inlineConstants("--@const\nlocal A, B = 1")).toThrow(/A, B: 1 numbers/);
  });

  it("no assembled script keeps a --@const declaration", () => {
    for (const s of SCRIPT_LIST) {
      const src = scriptSource(s.name);
      expect(src, s.name).not.toMatch(/^--@const$/m);
      expect(src, s.name).not.toMatch(/\br\[(ST|ATT|TOK|EXP)\]/);
    }
  });

  it("every script file has one definition, under its own name, and every definition a file", () => {
    expect(SCRIPT_LIST.map((s) => `${s.name}.lua`).sort()).toEqual([...scriptFiles].sort());
    for (const [name, def] of Object.entries(SCRIPTS)) expect(def.name).toBe(name);
  });

  it.each(SCRIPT_LIST.map((s) => [s.name, s] as const))(
    "%s: its header lists the keys, arguments and reply codes of its definition, in order",
    (name, def) => {
      const source = read(`${name}.lua`);
      const keys = labels(section(source, "KEYS"));
      // (the keys sent: the run hash's other labels and a queue's keys but `ready` are built in Lua)
      expect(keys.named).toEqual(sentKeyLabels(def.keys));
      expect(keys.perQueue).toEqual(def.perQueue ? ["ready"] : []);
      expect(labels(section(source, "ARGV")).named).toEqual(Object.keys(def.argv));
      const replies = [...section(source, "Replies").matchAll(/\{([A-Z_]+)/g)].map((m) => m[1]);
      expect(new Set(replies)).toEqual(new Set(def.codes));
    },
  );

  it.each(SCRIPT_LIST.map((s) => [s.name, s] as const))(
    "%s: uses only the keys, arguments and codes of its definition, and never KEYS or ARGV",
    (name, def) => {
      const source = read(`${name}.lua`);
      expect(code(source)).not.toMatch(/\bKEYS\b|\bARGV\b/);
      expect(fields(source, "K").filter((k) => !def.keys.includes(k))).toEqual([]);
      expect(fields(source, "A").filter((a) => !(a in def.argv))).toEqual([]);
      expect(fields(source, "R").filter((c) => !def.codes.includes(c as ReplyCode))).toEqual([]);
      if (!def.perQueue) expect(code(source)).not.toMatch(/\bQUEUES\b/);
      // every code it lists, it answers
      expect(def.codes.filter((c) => !fields(source, "R").includes(c))).toEqual([]);
    },
  );

  it("no include reads a key it was not handed: no KEYS, ARGV or script bindings, only parameters", () => {
    for (const file of includeFiles) {
      const source = code(read(`includes/${file}`));
      expect({ file, found: source.match(/\b(KEYS|ARGV|K|A|R|QUEUES)\b/g) }).toEqual({
        file,
        found: null,
      });
    }
  });

  it("every include is used, and inlined before the bindings a script reads", () => {
    const used = new Set<string>();
    for (const def of SCRIPT_LIST) {
      const source = scriptSource(def.name);
      const bindings = source.indexOf(`-- the bindings of script ${def.name}'s definition`);
      expect(bindings).toBeGreaterThan(0);
      for (const m of source.matchAll(/^-- lua\/includes\/(\w+)\.lua$/gm)) {
        used.add(`${m[1]}.lua`);
        expect(m.index).toBeLessThan(bindings);
      }
    }
    expect([...used].sort()).toEqual([...includeFiles].sort());
  });

  it("the scripts' node count past which a run keeps its specs before its records is Records.ts's", () => {
    const lua = /^local SPEC_IN_RECORD_NODES = (\d+)$/m.exec(read("includes/record.lua"));
    expect(Number(lua?.[1])).toBe(SPEC_IN_RECORD_NODES);
  });

  it("an include's top-level tables that a call fills are marked --@percall, and every library function empties them", () => {
    const percall: string[] = [];
    for (const file of includeFiles) {
      const lines = read(`includes/${file}`).split("\n");
      lines.forEach((line, i) => {
        const m = /^local (\w+) = \{\}$/.exec(line);
        if (!m) return;
        // a library's top level runs once: an empty table it declares is filled by calls, and
        // emptied at each (--@percall), unless it is a cache kept across calls on purpose
        // (--@kept: bounded, and what it holds is a function of its keys, record.lua)
        const marked = lines[i - 1];
        expect({ file, line, marked: marked === "--@kept" ? "--@percall" : marked }).toEqual({
          file,
          line,
          marked: "--@percall",
        });
        if (marked === "--@percall") percall.push(m[1]!);
      });
    }
    expect(percall.length).toBeGreaterThan(0);
    const fns = LIBRARY.source.split("\nregister(").slice(1);
    expect(fns.length).toBeGreaterThan(10);
    for (const fn of fns) {
      // (after the line that binds the globals at the first call)
      const reset = fn.split("\n").slice(2, 2 + percall.length);
      expect(reset.sort()).toEqual(percall.map(percallReset).sort());
    }
  });

  it("a library holds every global its scripts read as an upvalue, bound by each function at its first call", () => {
    const src = LIBRARY.source;
    const declared = /^local (redis, [\w, ]+)$/m.exec(src)?.[1]?.split(", ") ?? [];
    expect(declared).toContain("redis");
    // the globals the Lua files read (a name called or indexed, not a local's or a field's)
    const used = new Set<string>();
    for (const file of [...includeFiles.map((f) => `includes/${f}`), ...scriptFiles]) {
      for (const line of read(file).split("\n")) {
        if (/^\s*--/.test(line)) continue;
        for (const m of line.matchAll(
          /(?<![\w.:])(redis|type|tonumber|tostring|pairs|ipairs|next|select|pcall|error|unpack|setmetatable|string|table|math|cmsgpack|cjson|struct|bit|rawget|rawset|getmetatable|assert)\b(?=\s*[.(])/g,
        ))
          used.add(m[1]!);
      }
    }
    expect([...used].filter((g) => !declared.includes(g))).toEqual([]);
    expect(src).toContain(`local function globalsNow() return ${declared.join(", ")} end`);
    const binding = `if not redis then ${declared.join(", ")} = globalsNow(); collectgarbage("setpause", ${LUA_GC_PAUSE}) end`;
    const fns = src.split("\nregister(").slice(1);
    for (const fn of fns) expect(fn.split("\n")[1]).toBe(binding);
  });

  it("a script that holds the number cache reads its settings through it, and its other numbers with tonumber", () => {
    // (complete's: a worker's settings and, new at every call, the node, token and time)
    const complete = scriptSource("complete");
    for (const label of ["nextMax", "leaseMs", "budget", "eventsMax"])
      expect(complete).toMatch(new RegExp(`local A_${label} = num\\(ARGV\\[\\d+\\]\\)`));
    for (const label of ["node", "token", "now"])
      expect(complete).toMatch(new RegExp(`local A_${label} = tonumber\\(ARGV\\[\\d+\\]\\)`));
    // a script without the cache reads every number with tonumber (promote's limit, a setting)
    expect(scriptSource("promote")).toMatch(/local A_limit = tonumber\(ARGV\[\d+\]\)/);
  });

  it("every script with includes that is not sent in a pipeline is a function of the library", () => {
    const pipelined = ["heartbeat", "promote", "reap"];
    for (const def of SCRIPT_LIST) {
      const hasIncludes = /^-- lua\/includes\//m.test(scriptSource(def.name));
      expect({ name: def.name, fn: functionName(def.name) !== undefined }).toEqual({
        name: def.name,
        fn: hasIncludes && !pipelined.includes(def.name),
      });
    }
  });

  it("every reply code is answered by some script, and the Lua answers no other", () => {
    const answered = new Set(SCRIPT_LIST.flatMap((s) => s.codes));
    expect([...answered].sort()).toEqual(Object.values(ReplyCode).sort());
  });
});
