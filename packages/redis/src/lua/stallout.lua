-- stallout: fails a re-delivered node that went over its maxStalls, skips
-- its dependents and fails the run unless the node is tolerated. The node's
-- token becomes the re-delivery's, so a late report of the stalled attempt
-- is stale. Gated by the lease: re-sent, it is refused and changes nothing.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 now, 5 budget
-- Returns: {"OK", more} or {"REFUSED", more} (more: 1 when work is left for `drain`)
--@include run

local runId, n, token, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local M = loadRun(runId, now)
if not M then return { "REFUSED", 0 } end
local r = getNode(n)
if not r or r[ST] ~= "r" or r[STALLS] + 1 <= r[MAXST] then return { "REFUSED", settleEarly(M, budget, now) } end
local _, _, leases = queueOf(r[QIDX])
if not leases or redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then
  return { "REFUSED", settleEarly(M, budget, now) }
end
r[STALLS] = r[STALLS] + 1
addHistory(n, r, "stalled", nil, now)
r[TOK] = token
local err = cmsgpack.pack({ tag = "Stalled", retryable = false, message = "lease expired " .. r[STALLS] ..
  " times (maxStalls " .. r[MAXST] .. "): the worker running it died or stopped heartbeating" })
endNode(M, n, r, "f", err, now)
if r[TOL] == 0 then failRun(M, n, err) end
local ready = {}
local more = cascade(M, n, ready, budget, now)
enqueue(M, ready, 1)
saveRun(M, now)
return { "OK", (more or moreWork()) and 1 or 0 }
