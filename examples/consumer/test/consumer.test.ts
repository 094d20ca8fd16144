/**
 * Weft as a team installs it. Packs every package (`npm pack`, which builds
 * each one first: `prepack`), installs the tarballs into a fresh project in
 * a temp directory outside the workspace (dependencies from the npm cache or
 * the registry), and there, with no tsx and no special compiler flags:
 *
 * - a plain Node ESM program runs a chain and a chord on Redis (a server
 *   this test starts) and on the in-memory store;
 * - the project's own tsc (nodenext, strict) type-checks a TypeScript program
 *   doing the same with typed results, which then runs from tsc's output, and
 *   refuses a mistyped chain;
 * - the `weft` bin runs a worker for a `.js` handlers module, and says to
 *   install tsx (or compile) when handed a `.ts` one;
 * - the public surface is what docs/packaging.md says: @weft/core for
 *   applications, @weft/core/store for store implementers, nothing else, and
 *   every exported name has a docstring in the shipped `.d.ts`.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type RedisServer, startRedisServer } from "@weft/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { undocumented } from "./surface.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../..", import.meta.url));
const appSource = fileURLToPath(new URL("../app", import.meta.url));
const PACKAGES = [
  "@weft/core",
  "@weft/redis",
  "@weft/testing",
  "@weft/dashboard",
  "@weft/cli",
] as const;

/** What `npm pack --json` says of one tarball. */
interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}

/** Runs `cmd` in `cwd`; resolves with its output and exit code, never rejects on a non-zero exit. */
const exec = async (
  cmd: string,
  args: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const { stdout, stderr } = await run(cmd, [...args], {
      cwd,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof code === "number" ? code : 1,
      stdout: stdout ?? "",
      stderr: stderr ?? "",
    };
  }
};

/** The JSON lines a program printed. */
const jsonLines = (stdout: string): unknown[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as unknown);

describe("the packed packages, installed in a fresh project", () => {
  let dir: string;
  let app: string;
  let packed: ReadonlyArray<Packed>;
  let redis: RedisServer;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "weft-consumer-"));
    app = join(dir, "app");
    const tarballs = join(dir, "tarballs");
    mkdirSync(tarballs);
    const pack = await exec(
      "npm",
      ["pack", ...PACKAGES.flatMap((p) => ["-w", p]), "--pack-destination", tarballs, "--json"],
      root,
    );
    if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
    packed = JSON.parse(pack.stdout) as Packed[];

    cpSync(appSource, app, { recursive: true });
    const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "weft-consumer",
        private: true,
        type: "module",
        dependencies: Object.fromEntries(
          packed.map((p) => [p.name, `file:${join(tarballs, p.filename)}`]),
        ),
        devDependencies: {
          typescript: rootPkg.devDependencies.typescript,
          "@types/node": rootPkg.devDependencies["@types/node"],
        },
      }),
    );
    const install = await exec(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
      app,
    );
    if (install.code !== 0) throw new Error(`npm install failed:\n${install.stderr}`);
    redis = await startRedisServer();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("packs built JavaScript, declarations and the Lua scripts, and no sources or tests", () => {
    expect(packed.map((p) => p.name).sort()).toEqual([...PACKAGES].sort());
    for (const p of packed) {
      const paths = p.files.map((f) => f.path);
      expect(paths, p.name).toContain("package.json");
      expect(paths, p.name).toContain("dist/index.js");
      expect(paths, p.name).toContain("dist/index.d.ts");
      const stray = paths.filter(
        (f) => f.startsWith("src/") || f.startsWith("test/") || f.endsWith(".tsbuildinfo"),
      );
      expect(stray, p.name).toEqual([]);
    }
    const redisFiles = packed.find((p) => p.name === "@weft/redis")?.files.map((f) => f.path);
    expect(redisFiles).toContain("dist/lua/complete.lua");
    expect(redisFiles?.some((f) => f.startsWith("dist/lua/includes/"))).toBe(true);
    const core = packed.find((p) => p.name === "@weft/core")?.files.map((f) => f.path);
    expect(core).toContain("dist/store/index.js");
    const dashboard = packed.find((p) => p.name === "@weft/dashboard")?.files.map((f) => f.path);
    expect(dashboard).toEqual(
      expect.arrayContaining(["public/index.html", "public/app.js", "public/dag.js"]),
    );
  });

  it("serves the dashboard from the installed package: its page, modules and dagre", async () => {
    const script = [
      'import { startDashboard } from "@weft/dashboard";',
      'import { MemoryStore } from "@weft/testing";',
      "const d = await startDashboard({ store: new MemoryStore(), port: 0 });",
      'const paths = ["/", "/app.js", "/dag.js", "/vendor/dagre.js", "/api/runs"];',
      "const codes = await Promise.all(paths.map(async (p) => (await fetch(new URL(p, d.url))).status));",
      "console.log(JSON.stringify(codes));",
      "await d.close();",
    ].join("\n");
    writeFileSync(join(app, "dashboard.mjs"), script);
    const r = await exec(process.execPath, ["dashboard.mjs"], app, {});
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([200, 200, 200, 200, 200]);
  });

  it("runs a chain and a chord from plain JavaScript, on the in-memory store and on Redis", async () => {
    const r = await exec(process.execPath, ["main.mjs"], app, { REDIS_URL: redis.url });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([
      { store: "memory", chain: 12, chord: 16 },
      { store: "redis", chain: 12, chord: 16 },
    ]);
  });

  it("type-checks a TypeScript program with the consumer's own tsc (nodenext, strict), and runs it", async () => {
    const tsc = await exec(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], app);
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
    const r = await exec(process.execPath, ["out/main.js"], app, { REDIS_URL: redis.url });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([
      { store: "memory", chain: 12, chord: { total: 7, parts: 2 } },
      { store: "redis", chain: 12, chord: { total: 7, parts: 2 } },
    ]);
  });

  it("refuses to compile a chain whose step does not accept the previous step's output", async () => {
    const source = readFileSync(join(app, "mistyped.ts"), "utf8").split("\n");
    const line = source.findIndex((l) => l.includes("chain(add.si")) + 1;
    const tsc = await exec(
      process.execPath,
      ["node_modules/typescript/bin/tsc", "-p", "tsconfig.mistyped.json", "--pretty", "false"],
      app,
    );
    expect(tsc.code).not.toBe(0);
    const errors = tsc.stdout.split("\n").filter((l) => l.includes("error TS"));
    // one error, on the chain, about the step that takes a string: nothing else in the file is wrong
    expect(errors, tsc.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^mistyped\\.ts\\(${line},\\d+\\): error TS2345: `));
    expect(errors[0]).toMatch(/Canvas<number, /);
  });

  it("runs `weft worker` for a .js handlers module from the installed bin", async () => {
    const help = await exec(join(app, "node_modules/.bin/weft"), ["--help"], app);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: weft /);

    const env = { ...process.env, REDIS_URL: redis.url, WEFT_PREFIX: "consumer-cli" };
    const worker = spawn(
      join(app, "node_modules/.bin/weft"),
      ["worker", "handlers.mjs", "--prefix", "consumer-cli", "--log-level", "warn"],
      { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(worker);
    let log = "";
    worker.stdout?.on("data", (d) => {
      log += d;
    });
    worker.stderr?.on("data", (d) => {
      log += d;
    });
    const exited = once(worker, "exit");
    const r = await exec(process.execPath, ["submit.mjs"], app, env);
    expect(r.code, r.stderr + log).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ chain: 12 }]);
    worker.kill("SIGTERM");
    const [code] = await exited;
    expect(code, log).toBe(0);
  });

  it("says to install tsx or compile when `weft worker` is handed TypeScript without tsx", async () => {
    const r = await exec(
      join(app, "node_modules/.bin/weft"),
      ["worker", "handlers.ts", "--redis", redis.url],
      app,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("handlers module handlers.ts is TypeScript");
    expect(r.stderr).toContain("npm install --save-dev tsx");
    expect(r.stderr).toContain("compile the module to JavaScript");
  });

  it("exports the application's names from @weft/core, the store implementer's from @weft/core/store, and nothing else", async () => {
    const probe = `
      const core = await import("@weft/core");
      const store = await import("@weft/core/store");
      const refused = async (s) => import(s).then(() => "imported", (e) => e.code);
      console.log(JSON.stringify({
        core: ["task", "chain", "chord", "group", "createClient", "startWorker", "handle", "RunFailed", "delay"].filter((n) => n in core),
        coreHasMachine: ["createRun", "completeNode", "encode", "compile", "fingerprint"].filter((n) => n in core),
        store: ["createRun", "completeNode", "encode", "decode", "compile", "fingerprint"].filter((n) => n in store),
        internal: await refused("@weft/core/internal/Machine"),
        deep: await refused("@weft/core/dist/Machine.js"),
        source: await refused("@weft/core/src/index.ts"),
      }));`;
    const r = await exec(process.execPath, ["--input-type=module", "-e", probe], app);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      core: [
        "task",
        "chain",
        "chord",
        "group",
        "createClient",
        "startWorker",
        "handle",
        "RunFailed",
        "delay",
      ],
      coreHasMachine: [],
      store: ["createRun", "completeNode", "encode", "decode", "compile", "fingerprint"],
      internal: "ERR_PACKAGE_PATH_NOT_EXPORTED",
      deep: "ERR_PACKAGE_PATH_NOT_EXPORTED",
      source: "ERR_PACKAGE_PATH_NOT_EXPORTED",
    });
  });

  it("ships a docstring for every name each entry point exports", () => {
    const entries = packed.flatMap((p) => {
      const pkg = JSON.parse(
        readFileSync(join(app, "node_modules", p.name, "package.json"), "utf8"),
      ) as { exports: Record<string, { types?: string } | null | string> };
      return Object.entries(pkg.exports).flatMap(([sub, target]) =>
        typeof target === "object" && target?.types
          ? [
              {
                entry: `${p.name}${sub.slice(1)}`,
                file: join(app, "node_modules", p.name, target.types),
              },
            ]
          : [],
      );
    });
    expect(entries.map((e) => e.entry).sort()).toEqual([
      "@weft/cli",
      "@weft/core",
      "@weft/core/store",
      "@weft/dashboard",
      "@weft/redis",
      "@weft/redis/url",
      "@weft/testing",
      "@weft/testing/conformance",
    ]);
    const missing = entries.flatMap((e) => undocumented(e.file).map((n) => `${e.entry}: ${n}`));
    expect(missing).toEqual([]);
  });
});
