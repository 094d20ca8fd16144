-- corrupt: fails a node that the claim path found unreadable (its record,
-- its spec, its dependency list, a run record field or the run's queue
-- list), and its run, with a CorruptRecord error, so that the rest of the
-- claim batch runs; the sweep then skips every node of the run not started
-- and takes it out of its queue (includes/cascade.lua). Gated by the node's
-- lease: re-sent, it finds the lease gone and changes nothing.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts) (the run's queues, or only the
--   queue the node was claimed from when the run's own list is the corrupt part)
-- ARGV: runId, node, token, now, field, why, budget, queueIndex (1-based index of the
--   node's queue among this call's queues), queueListCorrupt (1 when the run's queue list
--   is corrupt, else 0), eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more} (failed; more: 1 when work is left for `drain`), {STALE} (the lease
--   is gone), {GONE} (no such run)
--@include cascade

local runId, n = A.runId, A.node
local M = openRun(K, QUEUES, runId, A.now, false, A.eventsMax)
local q = queueOf(M, A.queueIndex)
if not q or redis.call("ZREM", q.leases, runId .. "#" .. n .. "#" .. A.token) == 0 then
  return { R.STALE }
end
if not loadRun(M) then return { R.GONE } end -- a corrupt run record field fails the run here
if A.queueListCorrupt == 1 and not M.qbad then
  M.qbad = true
  redis.call("HSET", K.record, "qbad", 1)
  markRare(M)
end
local r = getNode(M, n) -- a corrupt node record is replaced by a failed one here
if r and not TERMINAL[r[ST]] then corruptNode(M, n, r, A.field, A.why) end
M.dirty = true
return { R.OK, endEarly(M, A.budget) }
