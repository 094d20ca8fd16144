-- fail: records a failed attempt if its fencing token still holds the lease.
-- With a retry time the node goes `retrying` (delayed until then); without,
-- it fails for good: dependents are skipped and the run fails unless the
-- node sits in a settled group (DESIGN.md §2.5). In a cancelled run the node
-- ends `cancelled`.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 error (msgpack), 5 now, 6 retryAt (epoch ms, -1 = final), 7 budget
-- Returns: {"OK", more} or {"STALE"}
--@include run

local runId, n, token, err, now, retryAt = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local M = loadRun()
local r = M and getNode(n)
if not r or r[ST] ~= "r" then return { "STALE" } end
local _, delayed, leases, wake = qkeys(r[QIDX])
if redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. token) == 0 then return { "STALE" } end
redis.call("HDEL", K.res, "p" .. n)
local ready = {}
local more = false
if M.status == "cancelled" then
  addHistory(n, r, "cancelled", err, now)
  endNode(M, n, r, "c", err, now)
  more = cascade(M, n, ready, tonumber(ARGV[7]), now)
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
  more = cascade(M, n, ready, tonumber(ARGV[7]), now)
end
enqueue(M, ready, 1)
saveRun(M, now)
return { "OK", more and 1 or 0 }
