/**
 * @weft/testing — the in-memory store, the conformance suite every store
 * must pass, and helpers for testing handlers.
 *
 * One entry point, plus `@weft/testing/conformance` (the suite, which needs
 * vitest and @fast-check/vitest, optional peer dependencies, so it stays out
 * of this entry point). A module under `src/internal/` is never exported
 * (docs/packaging.md).
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
