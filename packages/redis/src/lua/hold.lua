-- hold: hands back a claimed node held back by its task's rate limit (ratelimit.lua on the
-- task's limiter said no): queued again, the attempt not counted and no history entry
-- (worker and start time cleared), as park.lua does, and delayed until the limit frees
-- (the queue's delayed set, so that nextDueAt and promoteDue see it). A `queued` event.
-- KEYS: nodes (the run's hash), leases, delayed (of the node's queue), events
-- ARGV: runId, node, token, now, eventsMax (about how many events the events stream
--   keeps), dueAt (epoch ms, when the limit frees)
-- Replies: {OK} (held), {STALE} (the lease is not held: a re-sent hold does nothing)
--@include run

local runId, n = A.runId, A.node
if redis.call("ZREM", K.leases, runId .. "#" .. n .. "#" .. A.token) == 0 then return { R.STALE } end
local M = openRun(K, {}, runId, A.now, true, A.eventsMax)
local r = getNode(M, n)
if not r or r[ST] ~= "r" then return { R.STALE } end
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
r[WORKER] = ""
r[STARTED] = 0
r[DUE] = A.dueAt
putNode(M, n, r)
nodeEvent(M, n, r)
redis.call("ZADD", K.delayed, A.dueAt, runId .. "#" .. n .. "#" .. r[PRIO])
return { R.OK }
