-- progress: records a running node's progress if its lease is held (a `progress`
-- event with the progress as recorded: includes/events.lua), and answers the
-- lease's state (as heartbeat does).
-- KEYS: leases (of the node's queue), record (the run's hash; K.results names it too), events
-- ARGV: lease (the lease member "runId#node#token"), node, progress (msgpack), runId, now,
--   eventsMax (about how many events the events stream keeps)
-- Replies: {OK} (recorded), {STALE} (the lease is not held: nothing recorded), {CANCELLED}
--   (recorded, but the run was cancelled)
--@include events
if not redis.call("ZSCORE", K.leases, A.lease) then return { R.STALE } end
-- (a first progress of the node: the run's `rare` marker goes, docs/redis-layout.md)
if redis.call("HSET", K.results, "p" .. A.node, A.progress) == 1 then redis.call("HDEL", K.record, "rare") end
-- (the event holds the progress itself, not its bytes: the entry is read as one msgpack value)
local ok, progress = pcall(cmsgpack.unpack, A.progress)
if ok then eventOf(K.events, A.eventsMax, A.runId, tonumber(A.now), { "p", tonumber(A.node), progress }) end
if redis.call("HGET", K.record, "status") == "cancelled" then return { R.CANCELLED } end
return { R.OK }
