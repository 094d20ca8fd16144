/**
 * The vitest settings every workspace package shares; each package's
 * vitest.config.ts merges its own over these (`mergeConfig`).
 */
import { defineConfig } from "vitest/config";

/** The export condition under which workspace packages resolve to their TypeScript sources. */
const SOURCE = "@weft/source";

export default defineConfig({
  // @weft/* resolve to src/ (their "@weft/source" export), not to dist/: tests need no build.
  // Tests run in vitest's server-side environment, whose resolver reads ssr.resolve; the
  // other three are its defaults, which a custom list replaces.
  ssr: { resolve: { conditions: [SOURCE, "module", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // one JSON report per package: .ci/run sums them (passed, failed, files that failed to load)
    reporters: ["default", "json"],
    outputFile: { json: ".vitest/report.json" },
  },
});
