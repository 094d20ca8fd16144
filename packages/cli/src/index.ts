/**
 * @weft/cli — the `weft` command (`worker`, `submit`, `inspect`, `runs`, `cancel`, `retry`, `workers`,
 * `watch`, `queues`, `locks`) and
 * the pure renderers behind it, for examples and tools that print runs.
 * The `weft` command itself is `dist/bin.js` (package.json's `bin`), which
 * does not import this module (docs/packaging.md).
 */
export { type CliIo, runCli } from "./cli.ts";
export {
  defaultRedisUrl,
  maskUrl,
  type OpenStore,
  openRedisStore,
  type StoreTarget,
} from "./connect.ts";
export { HandlersModuleError, loadHandlers } from "./handlers.ts";
export {
  formatDuration,
  type InspectOptions,
  type RunSummary,
  type RunsOptions,
  renderInspect,
  renderRuns,
  renderWorkers,
  type SnapshotNode,
  toJson,
  unhandled,
  WIDE,
  type WorkersOptions,
} from "./render.ts";
export {
  JSON_VALUE_CHARS,
  jsonValue,
  PREVIEW_CHARS,
  previewValue,
  type QueuesOptions,
  renderEventLine,
  renderLocks,
  renderQueues,
} from "./render-ops.ts";
export { type NodeValues, nodeValues, withValues } from "./values.ts";
export { NODE_BARS, TREE_NODES, treeRows, type WatchTarget, watch } from "./watch.ts";
