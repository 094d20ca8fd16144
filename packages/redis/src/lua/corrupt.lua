-- corrupt: fails a node that the claim path found unreadable (its record,
-- its spec, its dependency list, a run record field or the run's queue
-- list), and its run, with a CorruptRecord error, so that the rest of the
-- claim batch runs; the sweep then skips every node of the run not started
-- and takes it out of its queue (includes/run.lua). Gated by the node's
-- lease: re-sent, it finds the lease gone and changes nothing.
-- KEYS: the uniform run layout (includes/run.lua), with the run's queue list, or only the
--   queue the node was claimed from when the run's own list is the corrupt part
-- ARGV: 1 runId, 2 node, 3 token, 4 now, 5 field, 6 why, 7 budget,
--   8 index (1-based) of the node's queue in this call's queue list, 9 "1" when the run's queue list is corrupt
-- Returns: {failed (0/1), more (0/1)} (more: work left for `drain`)
--@include run

local runId, n, now, field = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[5]
local budget = tonumber(ARGV[7])
local _, _, leases = queueOf(tonumber(ARGV[8]))
if not leases or redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then
  return { 0, 0 }
end
local M = loadRun(runId, now) -- a corrupt run record field fails the run here
if not M then return { 0, 0 } end
if ARGV[9] == "1" and not M.qbad then
  M.qbad = true
  redis.call("HSET", K.run, "qbad", 1)
end
local r = getNode(n) -- a corrupt node record is replaced by a failed one here
if r and not TERMINAL[r[ST]] then corruptNode(M, n, r, field, ARGV[6], now) end
M.dirty = true
return { 1, settleEarly(M, budget, now) }
