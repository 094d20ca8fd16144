-- drain: continues a run's leftover work (a large fan-out, fan-in, skip
-- cascade, root enqueueing, cancellation or corruption sweep, the cascade of a
-- node that stalled out) within a budget. Safe to repeat: it only takes items
-- off the run's work list.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, now, budget, eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more} (more: 1 when work is still left)
--@include cascade

-- (the run's writes are buffered: the nodes it queues or ends go out in one HSET)
local M = loadRun(bufferRun(openRun(K, QUEUES, A.runId, A.now, false, A.eventsMax)))
if not M then
  redis.call("ZREM", K.shardWork, A.runId)
  return { R.OK, 0 }
end
readWorkList(M)
local ready = {}
local more = process(M, {}, ready, A.budget)
if not more then redis.call("ZREM", K.shardWork, A.runId) end
enqueue(M, ready, 1)
saveRun(M)
flushRun(M)
return { R.OK, more and 1 or 0 }
