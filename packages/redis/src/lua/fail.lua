-- fail: records a failed attempt if its fencing token still holds the lease.
-- With a retry time the node goes `retrying` (delayed until then); without,
-- it fails for good: dependents are skipped and the run fails unless the
-- node sits in a settled group (docs/guarantees.md #5). In a cancelled run the
-- node ends `cancelled`. Re-sent (the node is already retrying, failed or
-- cancelled under this token) it changes nothing and answers REPLAYED.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, node, token, error (msgpack ErrorInfo), now, retryAt (epoch ms, -1 = final),
--   budget, eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more}, {REPLAYED, more} or {STALE, more} (more: 1 when work is left for `drain`)
--@include cascade

local runId, n, token, err, budget = A.runId, A.node, A.token, A.error, A.budget
local M = loadRun(openRun(K, QUEUES, runId, A.now, false, A.eventsMax))
if not M then return { R.STALE, 0 } end
local r = getNode(M, n)
if not r or r[ST] ~= "r" then
  if r and r[TOK] == token and (r[ST] == "y" or r[ST] == "f" or r[ST] == "c") then
    return { R.REPLAYED, endEarly(M, budget) }
  end
  return { R.STALE, endEarly(M, budget) }
end
local q = takeLease(M, n, r, token)
if not q then return { R.STALE, endEarly(M, budget) } end
redis.call("HDEL", K.results, "p" .. n)
local ready = {}
local more = false
if M.status == "cancelled" then
  addHistory(M, n, r, "cancelled", err)
  endNode(M, n, r, "c", err)
  more = cascade(M, n, ready, budget)
elseif A.retryAt >= 0 then
  addHistory(M, n, r, "failed", err)
  r[ST] = "y"
  r[DUE] = A.retryAt
  putNode(M, n, r)
  nodeEvent(M, n, r, errorTag(err))
  redis.call("HSET", K.results, "e" .. n, err)
  markRare(M)
  redis.call("ZADD", q.delayed, A.retryAt, runId .. "#" .. n .. "#" .. r[PRIO])
  -- a retry must start by the node's deadline too: maintenance expires it if nobody claims it
  if (r[EXP] or 0) > 0 then redis.call("ZADD", q.expiring, r[EXP], runId .. "#" .. n) end
  wakeWorker(q.wake)
else
  addHistory(M, n, r, "failed", err)
  endNode(M, n, r, "f", err)
  if r[TOL] == 0 then failRun(M, n, err) end
  more = cascade(M, n, ready, budget)
end
enqueue(M, ready, 1)
saveRun(M)
return { R.OK, (more or moreWork(M)) and 1 or 0 }
