-- release: puts back a node its worker will not run (graceful shutdown):
-- queued again at the front, the attempt not counted, no stall.
-- KEYS: 1 run record, 2 node records, 3 node specs (unused), 4 results, 5 leases, 6 ready, 7 wake, 8 arrival seq
-- ARGV: 1 runId, 2 node, 3 token, 4 now
-- Returns: 1 released, 0 lease not held
--@include run

local runId, n = ARGV[1], tonumber(ARGV[2])
if redis.call("ZREM", KEYS[5], runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then return 0 end
local r = getNode(n)
if not r or r[ST] ~= "r" then return 0 end
addHistory(n, r, "released", nil, tonumber(ARGV[4]))
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
putNode(n, r)
redis.call("ZADD", KEYS[6], redis.call("INCR", KEYS[8]), runId .. "#" .. n)
redis.call("LPUSH", KEYS[7], "1")
redis.call("LTRIM", KEYS[7], 0, 0)
return 1
