import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.base.ts";

// packing four packages and installing them takes a while on a busy machine
export default mergeConfig(base, defineConfig({ test: { hookTimeout: 300_000 } }));
