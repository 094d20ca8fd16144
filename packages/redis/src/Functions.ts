/**
 * Sends the scripts of Weft's function library as functions (Redis 7
 * `FCALL`), loading the library where a server lacks it, and falls back to
 * `EVALSHA` where functions are refused.
 *
 * A script sent by `EVALSHA` runs its whole source on every call, which
 * creates every function of its includes again (about 100,000 Redis
 * instructions a call for `complete`); a library's top level runs once, at
 * `FUNCTION LOAD`. The library is loaded when a call first finds it
 * missing (`ERR Function not found`): on a new server, after a restart
 * without persistence, after `FUNCTION FLUSH`. Redis keeps it in its RDB and
 * AOF files and copies it to replicas, as it does not keep scripts. Each
 * version of Weft loads its own library (its name holds a hash of its
 * source, `weft1_<hash>`), so processes of two versions can share a Redis;
 * a version's library stays until `FUNCTION DELETE` (docs/operations.md,
 * "Scripts and functions").
 *
 * Functions are refused by Redis before 7 (`unknown command`) and by an ACL
 * user without `FCALL` or `FUNCTION LOAD` (`NOPERM`): the store then sends
 * every script by `EVALSHA` from then on, as it does with `functions: false`.
 */
import { Cluster, type Redis } from "ioredis";
import { type Arg, functionName, LIBRARY, sendFunction, sendScript } from "./Scripts.ts";

/** The server has no such function: the library is not loaded there. */
const MISSING = /^ERR Function not found/;
/** The server cannot or may not run functions or load them. */
const REFUSED =
  /^ERR unknown command [`']?(fcall|function)\b|^NOPERM\b.*'(fcall|function\|load)'|^ERR unknown subcommand 'load'/i;
/** Another process loaded the same library first. */
const LOADED_ALREADY = /^ERR Library '[^']*' already exists/;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Whether `e` says the server lacks the library (it was never loaded there, or was flushed). */
export const libraryMissing = (e: unknown): boolean => MISSING.test(messageOf(e));

/** Whether `e` says the server refuses functions (Redis before 7, an ACL). */
export const functionsRefused = (e: unknown): boolean => REFUSED.test(messageOf(e));

/** The function library of one store's connection. */
export class Functions {
  /** False once the server refused functions, or when the store was told not to use them. */
  private usable: boolean;
  /** A load in progress, shared by the calls that found the library missing meanwhile. */
  private loading: Promise<boolean> | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    enabled: boolean,
  ) {
    this.usable = enabled;
  }

  /** The library function `name` runs as, or undefined when it goes as a script (EVALSHA). */
  functionOf(name: string): string | undefined {
    return this.usable ? functionName(name) : undefined;
  }

  /**
   * Sends script `name`: by `FCALL` when it is in the library and functions
   * are usable, loading the library once if the server lacks it; else by
   * `EVALSHA` ({@link sendScript}). The reply as ioredis gives it.
   *
   * @throws the call's error, as a script's would be raised; a load that
   * failed for another reason than a refusal (a lost connection) raises its
   * own error.
   */
  async send(
    name: string,
    keys: ReadonlyArray<string>,
    argv: ReadonlyArray<Arg>,
  ): Promise<unknown> {
    const fn = this.functionOf(name);
    if (fn === undefined) return sendScript(this.redis, name, keys, argv);
    try {
      return await sendFunction(this.redis, fn, keys, argv);
    } catch (e) {
      if (libraryMissing(e)) {
        if (await this.load()) return await sendFunction(this.redis, fn, keys, argv);
      } else if (functionsRefused(e)) this.refused();
      else throw e;
      return sendScript(this.redis, name, keys, argv);
    }
  }

  /** The server refused a function call: scripts go by EVALSHA from now on. */
  refused(): void {
    this.usable = false;
  }

  /**
   * Loads the library on the server (on a cluster, on every primary), once
   * at a time: true when it is there now, false when the server refused
   * (functions are then off for this store).
   *
   * @throws the error of a load that failed otherwise (a lost connection).
   */
  load(): Promise<boolean> {
    this.loading ??= this.loadNow().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadNow(): Promise<boolean> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes("master") : [this.redis];
    try {
      await Promise.all(
        nodes.map((node) =>
          node.call("FUNCTION", "LOAD", LIBRARY.source).catch((e: unknown) => {
            if (!LOADED_ALREADY.test(messageOf(e))) throw e;
          }),
        ),
      );
      return true;
    } catch (e) {
      if (!functionsRefused(e)) throw e;
      this.usable = false;
      return false;
    }
  }
}
