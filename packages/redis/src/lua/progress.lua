-- progress: records a running node's progress if its lease is held.
-- KEYS: 1 leases of the node's queue, 2 results
-- ARGV: 1 lease member "runId#node#token", 2 node, 3 progress (msgpack)
-- Returns: 1 recorded, 0 lease not held
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
redis.call("HSET", KEYS[2], "p" .. ARGV[2], ARGV[3])
return 1
