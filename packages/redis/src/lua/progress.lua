-- progress: records a running node's progress if its lease is held (a `progress`
-- event, fields r, k, ms, n and p: the progress as recorded), and answers the
-- lease's state (as heartbeat does).
-- KEYS: leases (of the node's queue), results (of the node's run), record, events
-- ARGV: lease (the lease member "runId#node#token"), node, progress (msgpack), runId, now,
--   eventsMax (about how many entries the events stream keeps)
-- Replies: {OK} (recorded), {STALE} (the lease is not held: nothing recorded), {CANCELLED}
--   (recorded, but the run was cancelled)
if not redis.call("ZSCORE", K.leases, A.lease) then return { R.STALE } end
redis.call("HSET", K.results, "p" .. A.node, A.progress)
redis.call("XADD", K.events, "MAXLEN", "~", A.eventsMax, "*", "r", A.runId, "k", "progress", "ms", A.now,
  "n", A.node, "p", A.progress)
if redis.call("HGET", K.record, "status") == "cancelled" then return { R.CANCELLED } end
return { R.OK }
