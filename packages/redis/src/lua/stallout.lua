-- stallout: fails a re-delivered node that went over its maxStalls, skips
-- its dependents and fails the run unless the node is tolerated.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 now, 5 budget
-- Returns: {"OK", more} or {"REFUSED"}
--@include run

local runId, n, token, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local M = loadRun()
local r = M and getNode(n)
if not r or r[ST] ~= "r" or r[STALLS] + 1 <= r[MAXST] then return { "REFUSED" } end
local _, _, leases = qkeys(r[QIDX])
if redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. token) == 0 then return { "REFUSED" } end
r[STALLS] = r[STALLS] + 1
addHistory(n, r, "stalled", nil, now)
local err = cmsgpack.pack({ tag = "Stalled", retryable = false, message = "lease expired " .. r[STALLS] ..
  " times (maxStalls " .. r[MAXST] .. "): the worker running it died or stopped heartbeating" })
endNode(M, n, r, "f", err, now)
if r[TOL] == 0 then failRun(M, n, err) end
local ready = {}
local more = cascade(M, n, ready, tonumber(ARGV[5]), now)
enqueue(M, ready, 1)
saveRun(M, now)
return { "OK", more and 1 or 0 }
