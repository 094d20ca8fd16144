-- progress: records a running node's progress if its lease is held, and
-- answers the lease's state (as heartbeat does).
-- KEYS: leases (of the node's queue), results (of the node's run), record
-- ARGV: lease (the lease member "runId#node#token"), node, progress (msgpack)
-- Replies: {OK} (recorded), {STALE} (the lease is not held: nothing recorded), {CANCELLED}
--   (recorded, but the run was cancelled)
if not redis.call("ZSCORE", K.leases, A.lease) then return { R.STALE } end
redis.call("HSET", K.results, "p" .. A.node, A.progress)
if redis.call("HGET", K.record, "status") == "cancelled" then return { R.CANCELLED } end
return { R.OK }
