/**
 * One BullMQ worker process for `BENCH_PROCESSES` (spawned by
 * `workerProcesses.ts`): `workers` × `Worker` of the bench queue with the
 * bench's processor, reporting to the bench process.
 */
import { connectionOf, startWorkers } from "./bullmq.ts";
import { childOptions, reporter, serve } from "./workerChild.ts";

const opts = childOptions();
const base = {
  connection: connectionOf(opts.url),
  ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
};
const workers = startWorkers(base, opts.workers, opts.concurrency, reporter);
await Promise.all(workers.map((w) => w.waitUntilReady()));
serve(
  () => new Map(),
  async () => {
    await Promise.all(workers.map((w) => w.close()));
  },
);
