-- release: puts back a node its worker will not run (graceful shutdown):
-- queued again at the front, the attempt not counted, no stall. Gated by the
-- lease: re-sent, it finds the lease gone and changes nothing. A node record
-- it cannot decode is reported, not repaired (the caller runs `corrupt`).
-- KEYS: 1 run record, 2 node records, 3 node specs (unused), 4 results, 5 leases, 6 ready, 7 wake, 8 arrival seq
-- ARGV: 1 runId, 2 node, 3 token, 4 now
-- Returns: 1 released, 0 lease not held, -1 the node record is corrupt (the lease is kept)
--@include run

READONLY = true
local runId, n = ARGV[1], tonumber(ARGV[2])
local member = runId .. "#" .. n .. "#" .. ARGV[3]
if not redis.call("ZSCORE", KEYS[5], member) then return 0 end
local r = getNode(n)
if FOUND then return -1 end
redis.call("ZREM", KEYS[5], member)
if not r or r[ST] ~= "r" then return 0 end
addHistory(n, r, "released", nil, tonumber(ARGV[4]))
r[ST] = "q"
r[ATT] = math.max(0, r[ATT] - 1)
putNode(n, r)
redis.call("ZADD", KEYS[6], redis.call("INCR", KEYS[8]), runId .. "#" .. n)
redis.call("LPUSH", KEYS[7], "1")
redis.call("LTRIM", KEYS[7], 0, 0)
return 1
