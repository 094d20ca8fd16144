-- cancel: cancels a pending or running run: unstarted nodes end `cancelled`
-- (removed from their queues, parked ones included) in bounded steps;
-- running handlers learn it at once from the run id PUBLISHed on the
-- signals channel, or else from their next heartbeat. The request id makes
-- it safe to re-send: the same request finding the run cancelled by itself
-- answers REPLAYED.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, now, budget, requestId, channel (the signals channel: the run id is
--   PUBLISHed on it), eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more} (cancelled), {REPLAYED, more} (cancelled by this very request,
--   re-sent), {ENDED, more} (the run had already ended), {GONE, 0} (no such run)
--   (more: 1 when work is left for `drain`)
--@include cascade

local M = loadRun(openRun(K, QUEUES, A.runId, A.now, false, A.eventsMax))
if not M then return { R.GONE, 0 } end
readWorkList(M)
if M.status == "cancelled" and redis.call("HGET", K.record, "cancelreq") == A.requestId then
  return { R.REPLAYED, endEarly(M, A.budget) } -- this very cancel, re-sent
end
if M.status ~= "pending" and M.status ~= "running" then return { R.ENDED, endEarly(M, A.budget) } end
-- (a run cancelled while its submission is written never started: an empty `started` says
-- so, as a run written whole has no such field, docs/redis-layout.md)
if M.status == "pending" then redis.call("HSET", K.record, "started", "") end
M.status = "cancelled"
M.dirty = true
redis.call("HSET", K.record, "status", "cancelled", "cancelreq", A.requestId)
redis.call("PUBLISH", A.channel, A.runId)
emit(M, "run")

local ready = {}
local more = process(M, { "C:0" }, ready, A.budget)
if not more then redis.call("ZREM", K.shardWork, A.runId) end
saveRun(M)
return { R.OK, more and 1 or 0 }
