-- ratelimit: reserves up to `want` claims of a rate-limited queue in its sliding log, so
-- that across every worker at most `limit` claims fall in any window of `intervalMs`: the
-- caller claims at most what was granted and gives back (ZREM) what it did not use.
-- KEYS: limiter (zset of reservations "<owner>:<i>" by time, one per queue, its own hash tag)
-- ARGV: now (epoch ms), limit, intervalMs, want, owner (a random id of this call)
-- Replies: {OK, granted, freeAt, members...}: freeAt is when the oldest reservation leaves the
--   window (epoch ms) when fewer than `want` were granted, else -1
redis.call("ZREMRANGEBYSCORE", K.limiter, "-inf", A.now - A.intervalMs)
local used = redis.call("ZCARD", K.limiter)
local granted = math.max(0, math.min(A.want, A.limit - used))
local members = {}
for i = 1, granted do
  local m = A.owner .. ":" .. i
  redis.call("ZADD", K.limiter, A.now, m)
  members[#members + 1] = m
end
redis.call("PEXPIRE", K.limiter, A.intervalMs + 60000)
local freeAt = -1
if granted < A.want then
  local oldest = redis.call("ZRANGE", K.limiter, 0, 0, "WITHSCORES")
  freeAt = oldest[2] and (tonumber(oldest[2]) + A.intervalMs) or A.now
end
local out = { R.OK, granted, freeAt }
for _, m in ipairs(members) do out[#out + 1] = m end
return out
