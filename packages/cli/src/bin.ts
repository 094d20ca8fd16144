#!/usr/bin/env node
/**
 * Entry point of the `weft` command (`bin` in package.json points at its
 * build, `dist/bin.js`: plain JavaScript, no TypeScript loader at run time).
 */
import { runCli } from "./cli.ts";

process.exitCode = await runCli(process.argv.slice(2));
