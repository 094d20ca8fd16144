/**
 * @weft/testing — the in-memory store, the conformance suite every store
 * must pass, and helpers for testing handlers.
 */

export * from "./Arbitraries.ts";
export * from "./Drive.ts";
export * from "./FaultyStore.ts";
export * from "./Kit.ts";
export * from "./MemoryStore.ts";
export * from "./RedisCluster.ts";
export * from "./RedisServer.ts";
export * from "./Simulation.ts";
export * from "./VirtualClock.ts";
