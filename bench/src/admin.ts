/**
 * Reading Redis's own accounting around a workload: memory, CPU, command
 * statistics and the slow log, and cleaning the database between workloads.
 * A private server is flushed; a server given by `REDIS_URL` is never
 * flushed (each workload then uses its own key prefix, deleted afterwards)
 * and its configuration is left alone.
 */
import { Redis } from "ioredis";

/** One command's statistics (`INFO commandstats`). */
export interface CommandStat {
  readonly calls: number;
  readonly usec: number;
}

/** A slow-log entry: duration and command. */
export interface SlowEntry {
  readonly us: number;
  readonly command: string;
  readonly sha: string | undefined;
}

/** What Redis reported at one moment. */
export interface RedisReading {
  readonly usedMemory: number;
  /** used_cpu_user + used_cpu_sys, ms. */
  readonly cpuMs: number;
  readonly commands: ReadonlyMap<string, CommandStat>;
}

/** Commands the benchmark itself sends on the admin connection; left out of the counts. */
const ADMIN = new Set([
  "info",
  "slowlog",
  "config",
  "flushall",
  "scan",
  "unlink",
  "ping",
  "select",
]);

const parseInfo = (text: string): Map<string, string> => {
  const out = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
};

/** The slow log since the last reset. */
export interface SlowLog {
  /** Entries of the benchmarked systems' commands (the admin's own left out). */
  readonly entries: SlowEntry[];
  /**
   * False when it cannot be trusted to hold every slow command: a shared
   * server (not read), or `slowlog-max-len` entries (older ones dropped).
   */
  readonly complete: boolean;
}

/** An admin connection to the benchmark's Redis. */
export class Admin {
  private constructor(
    private readonly redis: Redis,
    /** True for a private server, which may be flushed and configured. */
    readonly owned: boolean,
    /** `slowlog-max-len` set on a private server. */
    private readonly slowlogMaxLen: number,
  ) {}

  /**
   * Connects; `owned` says the server is private. On a private server the
   * slow log records every command over `slowUs` µs (0: every command), and
   * keeps up to 20,000 entries (2,000,000 with `slowUs` 0): a 100,000-wide
   * chord logs a few thousand over 1 ms on a busy machine, and a full log
   * shows as {@link SlowLog.complete} false.
   */
  static async connect(url: string, owned: boolean, slowUs = 1_000): Promise<Admin> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    const maxLen = slowUs === 0 ? 2_000_000 : 20_000;
    const admin = new Admin(redis, owned, maxLen);
    if (owned) {
      await redis.config("SET", "slowlog-log-slower-than", String(slowUs));
      await redis.config("SET", "slowlog-max-len", String(maxLen));
    }
    return admin;
  }

  /**
   * `n` PINGs sent one at a time on this connection, after `n / 10` not
   * counted: each one's round trip, µs. On a quiet server it is the host's
   * floor for one call's wait (loopback TCP, the kernel waking each side,
   * ioredis's own work): a chain step waits at least one per call it sends.
   */
  async roundTrips(n: number): Promise<number[]> {
    return this.timed(n, () => this.redis.ping());
  }

  /**
   * `n` calls of a script that does nothing (`return 1`, by `EVALSHA`), with
   * the arguments of a 100-step chain's step (`complete`: 8 keys of about
   * 20–46 bytes, 12 arguments), one at a time after `n / 10` not counted:
   * each one's round trip, µs. The floor of a chain step whose script and
   * handler cost nothing: what both systems' steps pay beyond their work.
   */
  async scriptTrips(n: number): Promise<number[]> {
    const sha = String(await this.redis.script("LOAD", "return 1"));
    const keys = [
      "weft:{weft:s00}:run:mxdzoao5-13f8d1d75406",
      "weft:{weft:s00}:run:mxdzoao5-13f8d1d75406:work",
      "weft:{weft:s00}:work",
      "weft:{weft:s00}:events",
      "weft:{weft:s00}:tokens",
      "weft:{weft:s00}:seq",
      "weft:{weft:s00}:wnames",
      "weft:{weft:s00}:q:default:ready",
    ];
    const args = ["mxdzoao5-13f8d1d75406", "2", "3", "\x03", "1796691407663", "vm:10680:0db879a2"];
    const all = [...keys, ...args, "1", "30000", ",1,", "500", "10000", ""];
    return this.timed(n, () => this.redis.evalsha(sha, keys.length, ...all));
  }

  /** `n` calls of `call` one at a time, after `n / 10` not counted: each one's time, µs. */
  private async timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n + Math.ceil(n / 10); i++) {
      const t0 = performance.now();
      await call();
      if (i >= Math.ceil(n / 10)) out.push((performance.now() - t0) * 1_000);
    }
    return out;
  }

  /** `INFO server` redis_version. */
  async version(): Promise<string> {
    return parseInfo(await this.redis.info("server")).get("redis_version") ?? "?";
  }

  /** Empties the database (private server only) or deletes `prefix:*` keys. */
  async clean(prefix: string | undefined): Promise<void> {
    if (this.owned) {
      await this.redis.flushall("SYNC");
      return;
    }
    if (prefix === undefined) throw new Error("a shared server needs a key prefix to clean");
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await this.redis.unlink(...keys);
    } while (cursor !== "0");
  }

  /** Clears the slow log (private server only). */
  async resetSlowlog(): Promise<void> {
    if (this.owned) await this.redis.slowlog("RESET");
  }

  /** The slow log since the last reset (empty and incomplete on a shared server). */
  async slowlog(): Promise<SlowLog> {
    if (!this.owned) return { entries: [], complete: false };
    const raw = (await this.redis.slowlog("GET", -1)) as Array<
      [number, number, number, string[], ...unknown[]]
    >;
    const entries = raw
      .map(([, , us, args]) => ({
        us: Number(us),
        command: String(args[0] ?? "?").toLowerCase(),
        // a script's SHA-1 (EVALSHA) or a library function's name (FCALL)
        sha: /^(evalsha|fcall)$/i.test(args[0] ?? "") ? String(args[1]) : undefined,
      }))
      .filter((e) => !ADMIN.has(e.command));
    return { entries, complete: raw.length < this.slowlogMaxLen };
  }

  /** Memory, CPU and command statistics now. */
  async read(): Promise<RedisReading> {
    const info = parseInfo(await this.redis.info("all"));
    const commands = new Map<string, CommandStat>();
    for (const [k, v] of info) {
      if (!k.startsWith("cmdstat_")) continue;
      const name = k.slice("cmdstat_".length);
      if (ADMIN.has(name)) continue;
      const f = Object.fromEntries(v.split(",").map((p) => p.split("=") as [string, string]));
      commands.set(name, { calls: Number(f.calls ?? 0), usec: Number(f.usec ?? 0) });
    }
    const cpu = Number(info.get("used_cpu_user") ?? 0) + Number(info.get("used_cpu_sys") ?? 0);
    return { usedMemory: Number(info.get("used_memory") ?? 0), cpuMs: cpu * 1_000, commands };
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Per-command difference between two readings. */
export const commandDelta = (
  before: RedisReading,
  after: RedisReading,
): Map<string, CommandStat> => {
  const out = new Map<string, CommandStat>();
  for (const [name, a] of after.commands) {
    const b = before.commands.get(name) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) out.set(name, { calls: a.calls - b.calls, usec: a.usec - b.usec });
  }
  return out;
};
