/**
 * vitest global setup: builds `weft` and the packages it runs on (`npm run
 * build` of @weft/redis and @weft/cli: tsc's incremental build, nothing to do
 * when dist/ is up to date), so the e2e tests never run a stale dist/bin.js.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  execFileSync("npm", ["run", "build", "-w", "@weft/redis", "-w", "@weft/cli"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}
