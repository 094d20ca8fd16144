/**
 * @weft/core/store — what a store implementer (and a test kit or a tool that
 * works below the client) uses: the Store contract and its request and reply
 * shapes, the run state machine as pure functions over a run's data (the
 * in-memory store runs it directly; the Redis store's Lua is held to it by the
 * conformance suite), the value codec, the DAG compiler, the fingerprint that
 * tells two submissions apart, the retry decision and one attempt of a node.
 *
 * The split rule is in `src/index.ts` and docs/packaging.md: names an application
 * writes are exported from `@weft/core`; names only a store, a kit or a tool
 * needs are exported here, once. An implementer imports both.
 */

export { inputOf, shapeValue } from "../Args.ts";
export { type AttemptEnv, type AttemptResult, attemptNow, runAttempt } from "../Attempt.ts";
export { AttemptAbort } from "../AttemptAbort.ts";
export {
  MAX_TICKS_PER_SCAN,
  type ScanReport,
  scanSchedule,
  scanSchedules,
  submitTick,
} from "../Beat.ts";
export {
  BIND_IMMUTABLE,
  BIND_WHOLE,
  type Bind,
  type CanvasNode,
  checkOptions,
  checkRetryDefaults,
  isConcurrencyKey,
  isQueueName,
  MAX_CONCURRENCY_KEY,
  signature,
} from "../Canvas.ts";
export { runTiming } from "../Client.ts";
export {
  decode,
  decodeSequence,
  encode,
  encodeRecord,
  MAX_VALUE_DEPTH,
  splitFirst,
  type ValueCheck,
  valueEnd,
  valueProblem,
} from "../Codec.ts";
export {
  type BatchedComplete,
  type Complete,
  type CompletionReceiver,
  type CompletionsOptions,
  completions,
  MAX_BATCH,
  MAX_IN_FLIGHT,
} from "../Completions.ts";
export {
  appendDag,
  chordBodies,
  compile,
  compileWalk,
  type Dag,
  type DagNode,
  type FailureSource,
  flatten,
  joinChord,
  MAX_CANVAS_DEPTH,
  MAX_NODES,
  type Shape,
  waitsOn,
} from "../Dag.ts";
export { type Deferred, deferred } from "../Deferred.ts";
export { described } from "../Described.ts";
export {
  corruptRecordInfo,
  corruptRecordMessage,
  expiredInfo,
  fatal,
  missingResultInfo,
  toErrorInfo,
} from "../Errors.ts";
export { followEvents, watchRun } from "../EventStream.ts";
export type { EventBatch, ReadEventsOptions } from "../Events.ts";
export { canonical, fingerprint } from "../Fingerprint.ts";
export { decodeHeaders, encodeHeaders } from "../Headers.ts";
export { acquireLock, type LockAcquisition } from "../Locks.ts";
export {
  addToChord,
  CANCELLED_COMPLETION,
  type ChordAddition,
  type Completion,
  cancelRun,
  checkProgress,
  commitRun,
  completeNode,
  corruptNode,
  createRun,
  type EventDraft,
  expireNode,
  failNode,
  holdNode,
  MAX_PROGRESS_MESSAGE,
  notInChord,
  parkNode,
  type RedriveRefusal,
  type Replaced,
  type RunState,
  type RunTiming,
  readNode,
  readyTimes,
  redriveRun,
  releaseNode,
  replaceNode,
  type StartResult,
  startNode,
} from "../Machine.ts";
export { MAP_TASK_NAME, mapHandler, mapTask } from "../Map.ts";
export { maxStallsOf, policyOf } from "../Policy.ts";
export { isReplacement } from "../Replace.ts";
export { shouldRetry } from "../Retry.ts";
export {
  checkSchedule,
  isScheduleStore,
  jitterOf,
  type ScheduleStore,
  type StoredDag,
  tickKey,
  ticksAfter,
  tickTags,
} from "../Schedule.ts";
export {
  type Claim,
  type ClaimRequest,
  CONCURRENCY_RETRY_MS,
  type CompleteItem,
  type CompleteOptions,
  checkStore,
  closedWhileWaiting,
  type DepResult,
  type FailOptions,
  type FinishedCounts,
  isSpanId,
  type LeaseRef,
  type LeaseState,
  type ListRunsOptions,
  type LockInfo,
  type LockRelease,
  type LockRenewal,
  type LockRequest,
  limitedQueues,
  type MaintainReport,
  type Memo,
  type MemoRequest,
  type QueueStats,
  type RedriveOptions,
  type RedriveResult,
  type ReportResult,
  type RunListing,
  type Store,
  type StoreSignal,
  type Submission,
  type SubmitManyResult,
  type SubmitRefusal,
  type SubmitResult,
  settleSubmit,
  type WaitForRunOptions,
  type WorkerInfo,
  type WorkerPresence,
} from "../Store.ts";
export { checkTaskName, decodeWith, encodeWith, errorTagOf } from "../Task.ts";
export { failureInfo } from "../TaskErrors.ts";
export {
  type Checked,
  type EffectCodec,
  type EncodedOf,
  isStandardSchema,
  isTaskSchema,
  objectFields,
  type TypeOf,
  validateStandard,
  vendorOf,
} from "../TaskSchema.ts";
export {
  type FinishedWindow,
  finishedWindow,
  type QueueThroughput,
  queueThroughput,
  THROUGHPUT_WINDOW_MS,
} from "../Throughput.ts";
