-- park: hands back a claimed node whose task the claiming worker has no
-- handler for: queued again, the attempt not counted and no history entry
-- (worker and start time cleared), moved to the queue's parked set, which
-- only claims naming its task read (claim.lua). It keeps its priority; its
-- arrival is now. Wakes an idle worker: one that has the task may be waiting.
-- KEYS: 1 run record, 2 node records, 3 node specs (unused), 4 results, 5 leases,
--   6 parked (zset), 7 wake, 8 arrival seq
-- ARGV: 1 runId, 2 node, 3 token, 4 now
-- Returns: 1 parked, 0 lease not held (a re-sent park does nothing)
--@include run

local runId, n = ARGV[1], tonumber(ARGV[2])
if redis.call("ZREM", KEYS[5], runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then return 0 end
local r = getNode(n)
if not r or r[ST] ~= "r" then return 0 end
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
r[WORKER] = ""
r[STARTED] = 0
local score = (16 - r[PRIO]) * PRIO_SPAN + redis.call("INCR", KEYS[8])
r[PARK] = score
putNode(n, r)
redis.call("ZADD", KEYS[6], 0, r[TASK] .. "\0" .. string.format("%016.0f", score) .. "\0" .. runId .. "#" .. n)
redis.call("LPUSH", KEYS[7], "1")
redis.call("LTRIM", KEYS[7], 0, 0)
return 1
