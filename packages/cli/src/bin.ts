/**
 * Entry point of the `weft` command: `bin/weft.mjs` runs it through tsx.
 */
import { runCli } from "./cli.ts";

process.exitCode = await runCli(process.argv.slice(2));
