-- waiting: counts the clients waiting for a run's end (RedisStore.waitForRun), in field
-- `w` of the run's hash: while it is set, the run's `run` and `run-ended` events are also
-- PUBLISHed on the shard's run-end channel (includes/run.lua, emit), so that a waiter
-- wakes for its own run instead of for every event of the shard. The field is deleted
-- when the count drops to 0: a run nobody waits for keeps no field. A run that does not
-- exist (never written, or expired) is left alone: no hash is made for it.
-- KEYS: record
-- ARGV: delta (1: a waiter starts; -1: it stops)
-- Replies: {OK} (counted), {GONE} (no such run)
if redis.call("EXISTS", K.record) == 0 then return { R.GONE } end
if redis.call("HINCRBY", K.record, "w", A.delta) <= 0 then redis.call("HDEL", K.record, "w") end
return { R.OK }
