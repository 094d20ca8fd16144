-- fail: records a failed attempt if its fencing token still holds the lease.
-- With a retry time the node goes `retrying` (delayed until then); without,
-- it fails for good: dependents are skipped and the run fails unless the
-- node sits in a settled group (docs/guarantees.md #5). In a cancelled run the
-- node ends `cancelled`. Re-sent (the node is already retrying, failed or
-- cancelled under this token) it changes nothing and answers REPLAYED.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 error (msgpack), 5 now, 6 retryAt (epoch ms, -1 = final), 7 budget
-- Returns: {"OK", more}, {"REPLAYED", more} or {"STALE", more} (more: 1 when work is left for `drain`)
--@include run

local runId, n, token, err, now, retryAt =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local budget = tonumber(ARGV[7])
local M = loadRun(runId, now)
if not M then return { "STALE", 0 } end
local r = getNode(n)
if not r or r[ST] ~= "r" then
  if r and r[TOK] == token and (r[ST] == "y" or r[ST] == "f" or r[ST] == "c") then
    return { "REPLAYED", settleEarly(M, budget, now) }
  end
  return { "STALE", settleEarly(M, budget, now) }
end
local _, delayed, leases, wake = queueOf(r[QIDX])
if not leases or redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then
  return { "STALE", settleEarly(M, budget, now) }
end
redis.call("HDEL", K.res, "p" .. n)
local ready = {}
local more = false
if M.status == "cancelled" then
  addHistory(n, r, "cancelled", err, now)
  endNode(M, n, r, "c", err, now)
  more = cascade(M, n, ready, budget, now)
elseif retryAt >= 0 then
  addHistory(n, r, "failed", err, now)
  r[ST] = "y"
  r[DUE] = retryAt
  putNode(n, r)
  redis.call("HSET", K.res, "e" .. n, err)
  redis.call("ZADD", delayed, retryAt, runId .. "#" .. n .. "#" .. r[PRIO])
  redis.call("LPUSH", wake, "1")
  redis.call("LTRIM", wake, 0, 0)
else
  addHistory(n, r, "failed", err, now)
  endNode(M, n, r, "f", err, now)
  if r[TOL] == 0 then failRun(M, n, err) end
  more = cascade(M, n, ready, budget, now)
end
enqueue(M, ready, 1)
saveRun(M, now)
return { "OK", (more or moreWork()) and 1 or 0 }
