-- complete: records a node's result if the attempt's fencing token still
-- holds its lease (DESIGN.md §2.2), makes dependents ready in declaration
-- order (§2.3, §2.4) and leases up to `nextMax` of them to the same worker.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 result bytes, 5 now, 6 worker id,
--   7 nextMax, 8 lease ms, 9 queue indexes the worker serves (",1,3,"), 10 budget
-- Returns: {"OK", more, claims...} where each claim is
--   {node, token, attempt, stalls, spec, deps...}; or {"STALE"}
--@include run

local runId, n, token, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[5])
local M = loadRun()
local r = M and getNode(n)
if not r or r[ST] ~= "r" then return { "STALE" } end
local _, _, leases = qkeys(r[QIDX])
if redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. token) == 0 then return { "STALE" } end
redis.call("HSET", K.res, "r" .. n, ARGV[4])
redis.call("HDEL", K.res, "p" .. n)
endNode(M, n, r, "s", nil, now)
local ready = {}
local more = cascade(M, n, ready, tonumber(ARGV[10]), now)
local nextMax, served = tonumber(ARGV[7]), ARGV[9]
local claims, rest = {}, {}
for _, d in ipairs(ready) do
  local dr = getNode(d)
  if #claims < nextMax and string.find(served, "," .. dr[QIDX] .. ",", 1, true) then
    claims[#claims + 1] = startHere(d, dr, ARGV[6], tonumber(ARGV[8]), now, runId)
  else
    rest[#rest + 1] = d
  end
end
enqueue(M, rest, 1)
saveRun(M, now)
return { "OK", more and 1 or 0, unpack(claims) }
