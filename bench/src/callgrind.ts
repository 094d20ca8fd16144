/**
 * A private `redis-server` run under Valgrind's callgrind, whose executed
 * instructions the bench counts per workload (`BENCH_INSTRUCTIONS=1`).
 *
 * Wall and CPU time on these shared virtual machines swing by 10–20 % from
 * one minute to the next, which hides a change of a few percent in the Lua
 * scripts; callgrind counts the instructions redis-server executes, the same
 * for the same binary, commands and data whatever else the machine does
 * (about ±2 % here, from how the workers' batches happen to fill). Redis runs
 * some 30–50× slower under it, so every time the bench reports in this mode
 * is meaningless; only the instruction counts are. Counters are zeroed and
 * dumped with `callgrind_control` (`-z`, `-d`), each dump a file whose
 * `summary:` line is the total since the last zeroing.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@weft/testing";
import { Redis } from "ioredis";

/** A redis-server under callgrind. */
export interface CountedRedis {
  readonly url: string;
  /** Zeroes the instruction counters. */
  zero(): void;
  /**
   * The instructions redis-server executed since the last {@link CountedRedis.zero};
   * with a `keepDir`, the dump is kept there as `<label>.<n>.callgrind`.
   */
  count(label: string): number;
  /** Stops the server and deletes its dumps. */
  stop(): Promise<void>;
}

/** Whether Valgrind's `callgrind_control` is on PATH. */
const hasCallgrind = (): boolean => {
  try {
    execFileSync("callgrind_control", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts `binary` (default the `redis-server` on PATH; a build with symbols
 * names Redis's and Lua's functions in the dumps) under callgrind on a free
 * port (no persistence). With `keepDir`, each dump {@link CountedRedis.count}
 * takes is copied there before the server's directory is removed.
 *
 * @throws Error when Valgrind is not installed, or the server does not
 *   answer PING within 60 s.
 */
export const startCountedRedis = async (
  opts: { readonly binary?: string; readonly keepDir?: string } = {},
): Promise<CountedRedis> => {
  if (!hasCallgrind())
    throw new Error("BENCH_INSTRUCTIONS=1 needs Valgrind (apt-get install valgrind)");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "weft-callgrind-"));
  const proc: ChildProcess = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${join(dir, "cg.out")}`,
      opts.binary ?? "redis-server",
      "--port",
      String(port),
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (e) {
      probe.disconnect();
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill("SIGKILL");
        throw new Error(`redis-server under callgrind did not start: ${String(e)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  probe.disconnect();
  const pid = String(proc.pid);
  let dumps = 0;
  return {
    url,
    zero: () => {
      execFileSync("callgrind_control", ["-z", pid], { stdio: "ignore" });
    },
    count: (label) => {
      execFileSync("callgrind_control", ["-d", pid], { stdio: "ignore" });
      dumps += 1;
      // the newest dump: cg.out.<n>, numbered from 1 in the order taken
      const file = join(dir, `cg.out.${dumps}`);
      if (!existsSync(file)) throw new Error(`callgrind wrote no dump ${file}`);
      if (opts.keepDir) {
        mkdirSync(opts.keepDir, { recursive: true });
        copyFileSync(file, join(opts.keepDir, `${label}.${dumps}.callgrind`));
      }
      const summary = /^summary: (\d+)/m.exec(readFileSync(file, "utf8"));
      if (!summary) throw new Error(`callgrind dump ${file} has no summary line`);
      return Number(summary[1]);
    },
    stop: async () => {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
