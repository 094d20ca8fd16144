/**
 * The soft time limit of an attempt (the task option `softTimeoutMs`;
 * Celery's `soft_time_limit`): a notice on `ctx.softTimeout`, not a
 * failure. The hard limit is `timeoutMs` (Celery's `time_limit`), which fails
 * the attempt with `Timeout` (docs/concepts.md, "Time limits").
 */
import { Data } from "effect";

/**
 * The reason `ctx.softTimeout` aborts with: the attempt ran `softTimeoutMs`
 * ms. A handler that rethrows it fails its attempt (retryable, as in
 * Celery, where `SoftTimeLimitExceeded` is raised inside the task).
 */
export class SoftTimeLimitExceeded extends Data.TaggedError("SoftTimeLimitExceeded")<{
  readonly softTimeoutMs: number;
}> {
  override get message() {
    return `the attempt ran past its soft time limit of ${this.softTimeoutMs} ms`;
  }
}
