/**
 * Ports and readiness for the private servers that tests start: a port
 * chosen at random below the kernel's ephemeral range, and a PING over the
 * server's own Unix socket, which only the process that made it answers.
 */
import { createConnection, createServer } from "node:net";

/** Whether nothing listens on 127.0.0.1:`port` right now. */
export const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });

/**
 * A free port in [`from`, `from + span`), at random, none of `taken` and
 * none for which `alsoFree(port)` (a cluster's bus port) is taken.
 */
export const randomFreePort = async (
  from: number,
  span: number,
  taken: ReadonlyArray<number> = [],
  alsoFree: (port: number) => number | undefined = () => undefined,
): Promise<number> => {
  for (;;) {
    const port = from + Math.floor(Math.random() * span);
    const bus = alsoFree(port);
    if (taken.includes(port) || (bus !== undefined && taken.includes(bus))) continue;
    if ((await isFree(port)) && (bus === undefined || (await isFree(bus)))) return port;
  }
};

/**
 * Whether a Redis answers PING on the Unix socket at `path` (NOAUTH counts:
 * a server with `requirepass` is up all the same). A server answers there
 * only once it has bound its TCP ports, and only the server started with
 * that path made the socket: a PING over TCP could be answered by another
 * test's server that took the port first.
 */
export const pingSocket = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const sock = createConnection({ path });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
    sock.setTimeout(1_000, () => done(false));
  });
