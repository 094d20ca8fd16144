import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.base.ts";

// core's tests are pure and fast: vitest's default timeouts
export default mergeConfig(
  base,
  defineConfig({ test: { testTimeout: 5_000, hookTimeout: 10_000 } }),
);
