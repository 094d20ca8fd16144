/**
 * One write per turn: the commands a store sends on a connection in one turn
 * of the event loop leave in one system call, as ioredis's auto-pipelining
 * would send them, without the pipeline object it builds for every turn
 * (which copies every defined script onto itself: about 40 µs of CPU per
 * round trip, measured on 2026-12-02, docs/benchmarks.md).
 *
 * The connection's socket is corked at the first command of a turn and
 * uncorked once the turn's ticks and microtasks have run (a microtask asks
 * for a `process.nextTick`, which runs when the microtask queue is empty):
 * Node sends what was written meanwhile in one `writev`, before the event
 * loop polls again. Uncorking at `process.nextTick` alone would run before
 * the promise continuations of the turn (a worker's completions and its
 * claim went in two writes); `setImmediate`, as auto-pipelining does, waits
 * for the poll phase (measured 15 % slower per step of a 100-step chain).
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
  const uncork = () => {
    corked.delete(socket);
    socket.uncork();
  };
  // a tick asked for from a microtask runs once the microtask queue is empty: after the
  // commands that promise continuations of this turn send (a worker's claim, after the
  // completions a tick sent)
  queueMicrotask(() => process.nextTick(uncork));
};
