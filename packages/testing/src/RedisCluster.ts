/**
 * Starts a private Redis Cluster on loopback ports, for tests: `masters`
 * primaries with `replicasPerMaster` replicas each, formed with
 * `redis-cli --cluster create` (optionally TLS-only, with a password), so a
 * test can run Weft on a real cluster, kill, stop or restart a node, switch
 * a primary gracefully, and watch a replica take over.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeTestCertificates } from "./internal/certificates.ts";
import { pingSocket, randomFreePort } from "./internal/ports.ts";

const run = promisify(execFile);

/** One `redis-server` of a cluster. */
export interface ClusterNode {
  readonly port: number;
  /** Kills the process at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Stops the process (SIGSTOP): it holds its connections but answers nothing, as a hung host. */
  pause(): void;
  /** Lets a paused process go on (SIGCONT). */
  resume(): void;
  /**
   * Starts a killed node again on its port, with its cluster configuration
   * file: it rejoins, and when its slots went to its replica meanwhile it
   * becomes that new primary's replica. Resolves once it is attached to a
   * primary and synced (or, if it still holds slots, once the cluster is healthy).
   * @throws Error when that does not happen within 30 s.
   */
  restart(): Promise<void>;
}

/** A running private Redis Cluster. */
export interface RedisCluster {
  readonly nodes: ReadonlyArray<ClusterNode>;
  /** `{ host, port }` of every node, for ioredis's `Cluster`. */
  readonly startupNodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  /**
   * `redis+cluster://127.0.0.1:<port>,...` naming every node, for
   * `RedisStore.connect`; `rediss+cluster://` with TLS, with the password
   * (percent-encoded) when the nodes require one.
   */
  readonly url: string;
  /** With TLS: the PEM file of the test CA that signed every node's certificate (for `127.0.0.1` and `redis.test`). */
  readonly caFile?: string;
  /** Ports of the current primaries, as the cluster reports them. */
  primaries(): Promise<number[]>;
  /** Port of the primary serving `key`'s slot (`CLUSTER KEYSLOT`), as a live node reports it. */
  primaryOf(key: string): Promise<number>;
  /** Ports of the live replicas of the primary on `port`, as a live node reports them. */
  replicasOf(port: number): Promise<number[]>;
  /**
   * Promotes the replica on `replicaPort` with `CLUSTER FAILOVER` (graceful:
   * the replica catches up with its primary first, nothing is lost) and
   * resolves once every node sees it as a primary and the cluster is healthy.
   * @throws Error when that does not happen within 30 s.
   */
  failover(replicaPort: number): Promise<void>;
  /**
   * Resolves once every slot is served by a live primary again, as every
   * live node sees it (after a primary was killed and its replica promoted).
   * @throws Error when that does not happen within `timeoutMs`.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A free port in 20,000–39,999 whose cluster bus port (port + 10,000) is
 * free too, none of `taken` (RedisServer.ts's single servers take
 * 10,000–19,999).
 */
const clusterPort = (taken: ReadonlyArray<number>): Promise<number> =>
  randomFreePort(20_000, 20_000, taken, (port) => port + 10_000);

/** `cluster nodes` lines as fields: id, address, flags, primary, ..., slots from index 8. */
const fields = (lines: ReadonlyArray<string>) => lines.map((l) => l.split(" "));
const portOf = (address: string) => Number(address.split(":")[1]!.split("@")[0]);

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster-enabled servers on free
 * loopback ports (persistence off, `cluster-node-timeout` 1 s so a failover
 * takes 2–3 s) and forms the cluster. With `tls`, every node serves TLS
 * only (clients, the cluster bus, replication) with a certificate for
 * `127.0.0.1` signed by a test CA (`caFile`); with `password`, every node
 * requires it (`requirepass`, `masterauth`). `url` carries both.
 *
 * @throws Error when `redis-server`/`redis-cli` are missing or the cluster does not form within 30 s.
 */
export const startRedisCluster = async (
  opts: {
    readonly masters?: number;
    readonly replicasPerMaster?: number;
    /** Every node serves TLS only (clients, the cluster bus, replication), with a test CA (`caFile`). */
    readonly tls?: boolean;
    /** Every node requires this password (`requirepass`, and `masterauth` for replicas). */
    readonly password?: string;
  } = {},
): Promise<RedisCluster> => {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 1;
  const dir = mkdtempSync(join(tmpdir(), "weft-cluster-"));
  let certs: ReturnType<typeof makeTestCertificates> | undefined;
  try {
    certs = opts.tls ? makeTestCertificates(dir) : undefined;
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  /** redis-cli's options to reach a node: TLS with the test CA, the password. */
  const reach = [
    ...(certs ? ["--tls", "--cacert", certs.caFile] : []),
    ...(opts.password === undefined ? [] : ["-a", opts.password, "--no-auth-warning"]),
  ];
  /** redis-server's options for them: TLS everywhere (clients, bus, replication), the password. */
  const serve = [
    ...(certs
      ? [
          "--tls-cluster",
          "yes",
          "--tls-replication",
          "yes",
          "--tls-cert-file",
          certs.certFile,
          "--tls-key-file",
          certs.keyFile,
          "--tls-ca-cert-file",
          certs.caFile,
          "--tls-auth-clients",
          "no",
        ]
      : []),
    ...(opts.password === undefined
      ? []
      : ["--requirepass", opts.password, "--masterauth", opts.password]),
  ];
  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await run("redis-cli", ["-p", String(port), ...reach, ...args], { timeout: 10_000 })).stdout;
  const procs = new Map<number, ChildProcess>();
  const ports: number[] = [];
  /** The node's own Unix socket: it answers there only once its ports are bound. */
  const socketOf = (port: number) => join(dir, `node-${port}.sock`);
  const startNode = (port: number) => {
    const proc = spawn(
      "redis-server",
      [
        ...(certs ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)]),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "1000",
        // replicas sync at once (the default waits 5 s), so a primary killed
        // early in a test has an in-sync replica to fail over to
        "--repl-diskless-sync-delay",
        "0",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--unixsocket",
        socketOf(port),
        "--unixsocketperm",
        "700",
        ...serve,
      ],
      { stdio: "ignore" },
    );
    procs.set(port, proc);
  };

  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await clusterPort(ports);
    ports.push(port);
    startNode(port);
  }
  const alive = (port: number) => {
    const p = procs.get(port);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  };
  /** Whether the node on `port` answers on its socket within 10 s (false once it exited). */
  const answering = async (port: number) => {
    const deadline = Date.now() + 10_000;
    while (alive(port) && Date.now() <= deadline) {
      if (await pingSocket(socketOf(port))) return true;
      await pause(50);
    }
    return false;
  };
  const info = async (port: number) => {
    try {
      return await cli(port, "cluster", "info");
    } catch {
      return "";
    }
  };
  const nodes = async (port: number) => {
    try {
      return (await cli(port, "cluster", "nodes")).trim().split("\n");
    } catch {
      return [];
    }
  };
  const stop = async () => {
    await Promise.all(
      [...procs.values()].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            p.kill("SIGKILL");
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const waitHealthy = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const live = ports.filter(alive);
      const states = await Promise.all(live.map(info));
      const views = await Promise.all(live.map(nodes));
      // every slot-holding primary is alive and unflagged, as every live node sees it
      const ok =
        states.every((s) => s.includes("cluster_state:ok")) &&
        views.every((lines) => {
          const owners = fields(lines).filter((f) => f[2]?.includes("master") && f.length > 8);
          return (
            owners.length === masters &&
            owners.every((f) => !f[2]!.includes("fail") && alive(portOf(f[1]!)))
          );
        });
      if (ok) return;
      await pause(100);
    }
    throw new Error(`the Redis Cluster did not become healthy within ${timeoutMs} ms`);
  };
  const anyLive = () => {
    const live = ports.find(alive);
    if (live === undefined) throw new Error("no node of the cluster is alive");
    return live;
  };
  /** `cluster nodes` as seen by a live node: id, port, flags, primary id, slot ranges. */
  const view = async () =>
    fields(await nodes(anyLive())).map((f) => ({
      id: f[0]!,
      port: portOf(f[1]!),
      flags: f[2] ?? "",
      primary: f[3] ?? "-",
      slots: f.slice(8),
    }));
  const synced = async (port: number) =>
    (await cli(port, "info", "replication").catch(() => "")).includes("master_link_status:up");
  const waitFor = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen within 30 s`);
      await pause(100);
    }
  };
  const kill = (port: number) =>
    new Promise<void>((resolve) => {
      const p = procs.get(port)!;
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once("exit", () => resolve());
      p.kill("SIGKILL");
    });
  const restart = async (port: number) => {
    if (alive(port)) throw new Error(`cluster node on port ${port} is running`);
    startNode(port);
    await waitFor(`node ${port} answering`, async () => (await info(port)) !== "");
    await waitFor(`node ${port} rejoining as a synced replica`, async () => {
      const me = (await view()).find((n) => n.port === port);
      if (!me || me.flags.includes("fail")) return false;
      if (me.flags.includes("master")) return me.slots.length > 0;
      return synced(port);
    });
    await waitHealthy();
  };
  try {
    // a node that exits at start found its port or bus port taken (by another test's
    // server, between clusterPort and the start): it starts again on other ports
    for (let i = 0; i < ports.length; i++) {
      for (let tries = 1; ; tries++) {
        const port = ports[i]!;
        if (await answering(port)) break;
        if (alive(port) || tries === 5)
          throw new Error(`cluster node on port ${port} did not start`);
        procs.delete(port);
        ports[i] = await clusterPort(ports);
        startNode(ports[i]!);
      }
    }
    await run(
      "redis-cli",
      [
        ...reach,
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ],
      { timeout: 30_000 },
    );
    // wait until every replica has attached to its primary, as every node sees
    // it, and finished its first sync
    const deadline = Date.now() + 30_000;
    for (;;) {
      const views = await Promise.all(ports.map(nodes));
      const attached = views.every(
        (lines) =>
          lines.length === ports.length &&
          fields(lines).filter((f) => f[2]?.includes("slave")).length === masters * replicas,
      );
      const replication = await Promise.all(
        ports.map((p) => cli(p, "info", "replication").catch(() => "")),
      );
      const synced =
        replication.filter((r) => r.includes("master_link_status:up")).length ===
        masters * replicas;
      if (attached && synced) break;
      if (Date.now() > deadline) throw new Error("cluster replicas did not attach within 30 s");
      await pause(100);
    }
    await waitHealthy();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    nodes: ports.map((port) => ({
      port,
      kill: () => kill(port),
      pause: () => {
        procs.get(port)!.kill("SIGSTOP");
      },
      resume: () => {
        procs.get(port)!.kill("SIGCONT");
      },
      restart: () => restart(port),
    })),
    startupNodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    url: `redis${certs ? "s" : ""}+cluster://${
      opts.password === undefined ? "" : `:${encodeURIComponent(opts.password)}@`
    }${ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
    ...(certs ? { caFile: certs.caFile } : {}),
    primaries: async () => {
      const live = ports.find(alive);
      if (live === undefined) return [];
      return fields(await nodes(live))
        .filter((f) => f[2]?.includes("master") && !f[2].includes("fail") && f.length > 8)
        .map((f) => portOf(f[1]!));
    },
    primaryOf: async (key) => {
      const slot = Number((await cli(anyLive(), "cluster", "keyslot", key)).trim());
      const owner = (await view()).find(
        (n) =>
          n.flags.includes("master") &&
          !n.flags.includes("fail") &&
          n.slots.some((range) => {
            const [from, to = from] = range.split("-").map(Number);
            return from! <= slot && slot <= to!;
          }),
      );
      if (!owner) throw new Error(`no live primary serves slot ${slot} (key ${key})`);
      return owner.port;
    },
    replicasOf: async (port) => {
      const all = await view();
      const primary = all.find((n) => n.port === port);
      if (!primary) return [];
      return all
        .filter((n) => n.primary === primary.id && alive(n.port) && !n.flags.includes("fail"))
        .map((n) => n.port);
    },
    failover: async (replicaPort) => {
      await cli(replicaPort, "cluster", "failover");
      await waitFor(`node ${replicaPort} becoming a primary`, async () => {
        const views = await Promise.all(ports.filter(alive).map(nodes));
        return views.every((lines) =>
          fields(lines).some((f) => portOf(f[1]!) === replicaPort && f[2]!.includes("master")),
        );
      });
      await waitHealthy();
    },
    waitHealthy,
    stop,
  };
};
