-- expire: ends `expired` a queued or retrying node past its deadline that
-- nobody claimed (maintenance reads the queue's `expiring` set and calls this
-- per due entry): the node leaves its queue, its dependents are skipped (a
-- settled group receives the Expired error), and its run fails unless the node
-- is tolerated (docs/schedules.md, "Delayed and expiring work"). A node that
-- started, ended, or is not past its deadline is left as it is; re-sent, the
-- call finds the node expired and changes nothing.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, node, now, budget, eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more} (expired; more: 1 when work is left for `drain`), {STALE, more} (nothing
--   to expire), {GONE} (no such run)
--@include cascade

local n = A.node
local M = loadRun(openRun(K, QUEUES, A.runId, A.now, false, A.eventsMax))
if not M then return { R.GONE } end
local r = getNode(M, n)
if not r or (r[ST] ~= "q" and r[ST] ~= "y") or (r[EXP] or 0) == 0 or A.now < r[EXP] then
  return { R.STALE, endEarly(M, A.budget) }
end
unqueue(M, n, r)
local err = expiredError(r[EXP])
endNode(M, n, r, "x", err)
if r[TOL] == 0 then failRun(M, n, err) end
local ready = {}
local more = cascade(M, n, ready, A.budget)
enqueue(M, ready, 1)
saveRun(M)
return { R.OK, (more or moreWork(M)) and 1 or 0 }
