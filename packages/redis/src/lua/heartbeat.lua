-- heartbeat: extends a lease if its fencing token still holds it.
-- KEYS: 1 leases of the node's queue, 2 run record
-- ARGV: 1 lease member "runId#node#token", 2 new expiry (epoch ms)
-- Returns: 0 lost, 1 held, 2 held but the run was cancelled
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
redis.call("ZADD", KEYS[1], "XX", tonumber(ARGV[2]), ARGV[1])
if redis.call("HGET", KEYS[2], "status") == "cancelled" then return 2 end
return 1
