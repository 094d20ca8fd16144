-- waitrun: reads a run's record for a client waiting for the run to stop or end
-- (RedisStore.waitForRun, what `result()` uses) and counts the client in field `w` of the
-- run's hash while it waits: while the field is set, the run's `run` and `run-ended`
-- events are also PUBLISHed on the shard's run-end channel (includes/run.lua, emit), so
-- that a waiter wakes for its own run instead of for every event of the shard. The field
-- is deleted when its count drops to 0: a run nobody waits for keeps none. A run that
-- does not exist is left alone (no hash is made for it).
-- KEYS: record
-- ARGV: mode ("start": a wait begins, counted unless the run is over; "check": a counted
--   waiter reads again, uncounted once the run is over; "stop": a counted waiter gives up),
--   quiet (1: the wait is for every node to end, the run's `finished` set), fields (the
--   record fields to answer; a start or a check names `status` and `finished` among them,
--   a stop needs neither)
-- Replies: {OK, counted (1: the waiter is counted after this call), the values of
--   `fields` (nil where absent)}, {GONE} (no such run; nothing counted)
-- the run is over for this wait: stopped (succeeded, failed, cancelled) and, with `quiet`,
-- ended (the same rule as TypeScript's; where they disagree, on a corrupt status, the
-- waiter reads the run as over and sends a stop)
local STOPPED = { succeeded = true, failed = true, cancelled = true }

if redis.call("EXISTS", K.record) == 0 then return { R.GONE } end
local v = redis.call("HMGET", K.record, unpack(A.fields))
local status, finished
for i, f in ipairs(A.fields) do
  if f == "status" then status = v[i] elseif f == "finished" then finished = v[i] end
end
local over = STOPPED[status] and (A.quiet == 0 or finished)
local counted = 0
if A.mode == "start" and not over then
  redis.call("HINCRBY", K.record, "w", 1)
  counted = 1
elseif A.mode == "check" and not over then
  counted = 1
elseif A.mode ~= "start" then
  if redis.call("HINCRBY", K.record, "w", -1) <= 0 then redis.call("HDEL", K.record, "w") end
end
return { R.OK, counted, unpack(v) }
