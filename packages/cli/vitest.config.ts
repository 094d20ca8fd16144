import { defineConfig } from "vitest/config";
import base from "../../vitest.base.ts";

// the e2e tests run the built `weft` (dist/bin.js): build it (and @weft/core, @weft/redis) first.
// @opentelemetry/api (loaded by `weft worker --trace` through @weft/dashboard) maps the "module"
// condition, which the shared config lists, to an ES build Node cannot load: resolve as Node does
export default defineConfig({
  ...base,
  ssr: { resolve: { conditions: ["@weft/source", "node", "development|production"] } },
  test: { ...base.test, globalSetup: ["test/build.ts"] },
});
