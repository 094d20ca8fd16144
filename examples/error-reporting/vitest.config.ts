import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // one JSON report per package: .ci/run sums them (passed, failed, files that failed to load)
    reporters: ["default", "json"],
    outputFile: { json: ".vitest/report.json" },
  },
});
