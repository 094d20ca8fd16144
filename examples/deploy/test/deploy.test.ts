/**
 * The deployment files of examples/deploy parse, and name only what is
 * real: `weft` subcommands and flags the CLI has, modules that exist in the
 * app they deploy, and environment variables the CLI or the app reads.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "@weft/cli";
import type { BoundHandler } from "@weft/core";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const here = fileURLToPath(new URL("..", import.meta.url));
const root = join(here, "..", "..");
const appDir = join(root, "examples", "http-app");
const read = (file: string) => readFileSync(join(here, file), "utf8");

/** Names in `env.NAME`, `process.env.NAME` and `str("NAME"` / `int("NAME"` of the .ts files in `dir`. */
const envNamesIn = (dir: string): Set<string> => {
  const names = new Set<string>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const src = readFileSync(join(dir, f), "utf8");
    for (const m of src.matchAll(/\benv\.([A-Z][A-Z0-9_]*)|(?:str|int)\("([A-Z][A-Z0-9_]*)"/g))
      names.add((m[1] ?? m[2])!);
  }
  return names;
};

/** What the CLI and the app read, and Node's own `NODE_ENV`. */
const knownEnv = new Set([
  ...envNamesIn(join(root, "packages", "cli", "src")),
  ...envNamesIn(join(appDir, "src")),
  "NODE_ENV",
]);

/** `weft <command> --help` as printed, to check flags against. */
const helpOf = async (command: string): Promise<string> => {
  let out = "";
  const code = await runCli([command, "--help"], { stdout: (s) => (out += s), env: {} });
  expect(code, `weft ${command} --help`).toBe(0);
  return out;
};

/** Checks `weft worker <module> [--flag value]...`: real flags, a module the app has, exporting handlers. */
const checkWorkerCommand = async (args: ReadonlyArray<string>) => {
  expect(args[0]).toBe("worker");
  const help = await helpOf("worker");
  for (const flag of args.filter((a) => a.startsWith("-")))
    expect(help, `weft worker has ${flag}`).toContain(`${flag} <`);
  const module = args[1]!;
  const source = join(appDir, module.replace(/^dist\//, "src/").replace(/\.js$/, ".ts"));
  expect(existsSync(source), `${module} is built from ${source}`).toBe(true);
  const { handlers } = (await import(source)) as { handlers: ReadonlyArray<BoundHandler> };
  expect(handlers.map((h) => h.task.name)).toContain("onboarding.notifyCrm");
};

/** The app's own module for `dist/<name>.js`. */
const sourceOf = (built: string) =>
  join(appDir, built.replace(/^dist\//, "src/").replace(/\.js$/, ".ts"));

/** A systemd unit as sections of `key → values` (keys may repeat). */
const parseUnit = (text: string): Map<string, Map<string, string[]>> => {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      return;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq <= 0) throw new Error(`line ${i + 1} is not key=value: ${raw}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  });
  return sections;
};

describe("docker-compose.yml", () => {
  const compose = parse(read("docker-compose.yml")) as {
    services: Record<
      string,
      {
        image?: string;
        build?: { context: string; dockerfile: string };
        command?: string[];
        environment?: Record<string, string>;
        depends_on?: Record<string, { condition: string }>;
        stop_grace_period?: string;
      }
    >;
  };
  const { redis, app, worker } = compose.services;

  it("runs Redis with persistence and a health check, and the app and workers once it is healthy", () => {
    expect(redis?.image).toMatch(/^redis:7/);
    expect(redis?.command).toContain("--appendonly");
    for (const s of [app, worker]) {
      expect(s?.depends_on?.redis?.condition).toBe("service_healthy");
      expect(s?.environment?.REDIS_URL).toBe("redis://redis:6379");
      expect(existsSync(join(here, s!.build!.context))).toBe(true);
      expect(join(here, s!.build!.context, s!.build!.dockerfile)).toBe(join(here, "Dockerfile"));
    }
  });

  it("names only environment variables the CLI or the app reads", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const key of Object.keys(s.environment ?? {}))
        expect(knownEnv, `${name}: ${key}`).toContain(key);
    }
    expect(Object.keys(worker!.environment!)).toEqual(
      expect.arrayContaining(["REDIS_URL", "WEFT_PREFIX", "WEFT_CONCURRENCY", "WEFT_LOG_LEVEL"]),
    );
  });

  it("runs the app's server module and `weft worker` on its handlers module, with real flags; stops slower than the grace", async () => {
    expect(app?.command?.slice(0, 1)).toEqual(["node"]);
    expect(existsSync(sourceOf(app!.command![1]!))).toBe(true);
    expect(worker?.command?.slice(0, 2)).toEqual(["npx", "weft"]);
    await checkWorkerCommand(worker!.command!.slice(2));
    const grace = Number(worker!.command![worker!.command!.indexOf("--grace") + 1]);
    expect(Number.parseInt(worker!.stop_grace_period!, 10) * 1000).toBeGreaterThan(grace);
  });
});

describe("weft-worker@.service (systemd)", () => {
  const unit = parseUnit(read("weft-worker@.service"));

  it("has [Unit], [Service] and [Install] sections and restarts on failure", () => {
    expect([...unit.keys()]).toEqual(["Unit", "Service", "Install"]);
    const service = unit.get("Service")!;
    expect(service.get("Restart")).toEqual(["on-failure"]);
    expect(service.get("KillSignal")).toEqual(["SIGTERM"]);
    expect(unit.get("Install")!.get("WantedBy")).toEqual(["multi-user.target"]);
  });

  it("runs `weft worker` with real flags on the app's handlers module, stopping slower than the grace", async () => {
    const service = unit.get("Service")!;
    const [exec, ...args] = service.get("ExecStart")![0]!.split(/\s+/);
    expect(exec).toBe(`${service.get("WorkingDirectory")![0]}/node_modules/.bin/weft`);
    await checkWorkerCommand(args.map((a) => (a === "%i" ? "default" : a)));
    const grace = Number(args[args.indexOf("--grace") + 1]);
    expect(Number(service.get("TimeoutStopSec")![0]) * 1000).toBeGreaterThan(grace);
  });

  it("sets only environment variables the CLI or the app reads", () => {
    const env = unit
      .get("Service")!
      .get("Environment")!
      .map((e) => e.slice(0, e.indexOf("=")));
    for (const name of env) expect(knownEnv, name).toContain(name);
    expect(env).toEqual(expect.arrayContaining(["REDIS_URL", "WEFT_PREFIX", "WEFT_CONCURRENCY"]));
  });
});

describe("Dockerfile", () => {
  const lines = read("Dockerfile")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const instr = (name: string) =>
    lines.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));

  it("builds on Node 20 or later and installs production dependencies from the lockfile", () => {
    const [from] = instr("FROM");
    const major = Number(/^node:(\d+)/.exec(from ?? "")?.[1]);
    expect(major).toBeGreaterThanOrEqual(20);
    expect(instr("RUN").join("\n")).toContain("npm ci --omit=dev");
  });

  it("runs the app's server module by default, as a non-root user", () => {
    const cmd = JSON.parse(instr("CMD")[0]!) as string[];
    expect(cmd[0]).toBe("node");
    expect(existsSync(sourceOf(cmd[1]!))).toBe(true);
    expect(instr("USER")).toEqual(["node"]);
  });
});
