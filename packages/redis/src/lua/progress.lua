-- progress: records a running node's progress if its lease is held, and
-- answers the lease's state (as heartbeat does).
-- KEYS: 1 leases of the node's queue, 2 results, 3 run record
-- ARGV: 1 lease member "runId#node#token", 2 node, 3 progress (msgpack)
-- Returns: 0 lease not held (nothing recorded), 1 recorded, 2 recorded but the run was cancelled
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
redis.call("HSET", KEYS[2], "p" .. ARGV[2], ARGV[3])
if redis.call("HGET", KEYS[3], "status") == "cancelled" then return 2 end
return 1
