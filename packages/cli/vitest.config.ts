import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.base.ts";

// the e2e tests run the built `weft` (dist/bin.js): build it (and @weft/core, @weft/redis) first
export default mergeConfig(base, defineConfig({ test: { globalSetup: ["test/build.ts"] } }));
