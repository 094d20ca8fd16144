/**
 * One write per turn: the commands a store sends on a connection in one turn
 * of the event loop leave in one system call, as ioredis's auto-pipelining
 * would send them, without the pipeline object it builds for every turn
 * (which copies every defined script onto itself: about 40 µs of CPU per
 * round trip, measured on 2026-12-02, docs/benchmarks.md).
 *
 * The connection's socket is corked at the first command of a turn and
 * uncorked at the end of the turn (`process.nextTick`, after the microtasks
 * queued by then): Node sends what was written meanwhile in one `writev`.
 */
import type { Writable } from "node:stream";

/** The sockets corked in this turn. */
const corked = new WeakSet<Writable>();

/**
 * Corks `connection`'s socket until the end of this turn, once per turn.
 * Anything but a single-server ioredis connection with a socket (a
 * pipeline, a Redis Cluster client, one not connected yet) is left as it is.
 */
export const oneWritePerTurn = (connection: object): void => {
  const stream: unknown = Reflect.get(connection, "stream");
  if (
    typeof stream !== "object" ||
    stream === null ||
    !("cork" in stream) ||
    typeof stream.cork !== "function" ||
    Reflect.get(connection, "isPipeline") === true
  )
    return;
  const socket = stream as Writable;
  if (corked.has(socket) || socket.destroyed) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
};
