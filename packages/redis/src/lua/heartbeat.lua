-- heartbeat: extends a lease if its fencing token still holds it.
-- KEYS: leases (of the node's queue), record (of the node's run)
-- ARGV: lease (the lease member "runId#node#token"), expiry (the new expiry, epoch ms)
-- Replies: {OK} (extended), {STALE} (the lease is lost), {CANCELLED} (extended, but the
--   run was cancelled)
if not redis.call("ZSCORE", K.leases, A.lease) then return { R.STALE } end
redis.call("ZADD", K.leases, "XX", A.expiry, A.lease)
if redis.call("HGET", K.record, "status") == "cancelled" then return { R.CANCELLED } end
return { R.OK }
