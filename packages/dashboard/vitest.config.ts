import { defineConfig } from "vitest/config";
import base from "../../vitest.base.ts";

// @opentelemetry's packages map the "module" condition (which the shared config lists) to an
// ES build with extensionless imports that Node cannot load: resolve them as Node does
export default defineConfig({
  ...base,
  ssr: { resolve: { conditions: ["@weft/source", "node", "development|production"] } },
});
