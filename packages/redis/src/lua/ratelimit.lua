-- ratelimit: reserves up to `want` claims of a rate-limited queue in its sliding log, so
-- that across every worker at most `limit` claims fall in any window of `intervalMs`: the
-- caller claims at most what was granted and gives back (ZREM) what it did not use.
-- Callers' clock readings may arrive out of order (a reading taken before another's can
-- reach Redis after it), so a claim at `now` counts every reservation within one interval
-- either side of it (every window that holds `now`), and reservations are kept for two
-- intervals behind the newest reading.
-- KEYS: limiter (zset of reservations "<owner>:<i>" by time, one per queue, its own hash tag)
-- ARGV: now (epoch ms), limit, intervalMs, want, owner (a random id of this call)
-- Replies: {OK, granted, freeAt, members...}: freeAt is when the oldest reservation near
--   `now` leaves the window (epoch ms) when fewer than `want` were granted, else -1
local I = A.intervalMs
redis.call("ZREMRANGEBYSCORE", K.limiter, "-inf", A.now - 2 * I)
local lo, hi = "(" .. (A.now - I), "(" .. (A.now + I)
local used = redis.call("ZCOUNT", K.limiter, lo, hi)
local granted = math.max(0, math.min(A.want, A.limit - used))
local members = {}
for i = 1, granted do
  local m = A.owner .. ":" .. i
  redis.call("ZADD", K.limiter, A.now, m)
  members[#members + 1] = m
end
redis.call("PEXPIRE", K.limiter, 2 * I + 60000)
local freeAt = -1
if granted < A.want then
  local oldest = redis.call("ZRANGEBYSCORE", K.limiter, lo, hi, "WITHSCORES", "LIMIT", 0, 1)
  freeAt = (oldest[2] and tonumber(oldest[2]) or A.now) + I
end
local out = { R.OK, granted, freeAt }
for _, m in ipairs(members) do out[#out + 1] = m end
return out
