-- release: puts back a node its worker will not run (graceful shutdown):
-- queued again at the front, the attempt not counted, no stall. Gated by the
-- lease: re-sent, it finds the lease gone and changes nothing. A `queued` event. A node record
-- it cannot decode is reported, not repaired (the caller runs `corrupt`).
-- KEYS: nodes, results (the run's hash), leases, ready, wake (of the node's queue), seq, events
-- ARGV: runId, node, token, now, eventsMax (about how many events the events stream keeps)
-- Replies: {OK} (released), {STALE} (the lease is not held), {CORRUPT} (the node record
--   cannot be decoded; the lease is kept)
--@include run
--@include priorityScore
--@include wake

local runId, n = A.runId, A.node
local member = runId .. "#" .. n .. "#" .. A.token
if not redis.call("ZSCORE", K.leases, member) then return { R.STALE } end
local M = openRun(K, {}, runId, A.now, true, A.eventsMax)
local r = getNode(M, n)
if M.found then return { R.CORRUPT } end
redis.call("ZREM", K.leases, member)
if not r or r[ST] ~= "r" then return { R.STALE } end
addHistory(M, n, r, "released", nil)
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
putNode(M, n, r)
nodeEvent(M, n, r)
redis.call("ZADD", K.ready, frontScore(K.seq), runId .. "#" .. n)
wakeWorker(K.wake)
return { R.OK }
