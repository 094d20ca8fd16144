-- scheduleadvance: compare-and-set of a schedule's firing state (its last decided tick,
-- the tick being fired, its last run): writes `state` with version `version + 1` only if
-- the stored version is still `version`, so of two beats that read the same state one
-- claims the tick.
-- KEYS: schedule
-- ARGV: version, state (msgpack)
-- Replies: {OK} (written), {STALE} (another beat moved it first), {GONE} (no such schedule)
local v = redis.call("HGET", K.schedule, "version")
if not v then return { R.GONE } end
if tonumber(v) ~= A.version then return { R.STALE } end
redis.call("HSET", K.schedule, "state", A.state, "version", A.version + 1)
return { R.OK }
