-- park: hands back a claimed node whose task the claiming worker has no
-- handler for: queued again, the attempt not counted and no history entry
-- (worker and start time cleared), moved to the queue's parked set, which
-- only claims naming its task read (claim.lua). It keeps its priority; its
-- arrival is now. Wakes an idle worker: one that has the task may be waiting. A
-- `queued` event.
-- KEYS: nodes (the run's hash), leases, parked, wake (of the node's queue), seq, events
-- ARGV: runId, node, token, now, eventsMax (about how many events the events stream keeps)
-- Replies: {OK} (parked), {STALE} (the lease is not held: a re-sent park does nothing)
--@include run
--@include priorityScore
--@include wake

local runId, n = A.runId, A.node
if redis.call("ZREM", K.leases, runId .. "#" .. n .. "#" .. A.token) == 0 then return { R.STALE } end
local M = openRun(K, {}, runId, A.now, true, A.eventsMax)
local r = getNode(M, n)
if not r or r[ST] ~= "r" then return { R.STALE } end
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
r[WORKER] = ""
r[STARTED] = 0
local score = readyScore(r[PRIO], K.seq)
r[PARK] = score
putNode(M, n, r)
nodeEvent(M, n, r)
redis.call("ZADD", K.parked, 0, r[TASK] .. "\0" .. string.format("%016.0f", score) .. "\0" .. runId .. "#" .. n)
wakeWorker(K.wake)
return { R.OK }
