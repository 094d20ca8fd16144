-- complete: records a node's result if the attempt's fencing token still
-- holds its lease (docs/guarantees.md #2), makes dependents ready in
-- declaration order (#3, #4) and leases up to `nextMax` of them to the same
-- worker. Re-sent (the node already succeeded under this token) it changes
-- nothing and answers the same claims: the dependents this completion
-- leased, found as those started by this worker at the completion's time
-- and still running (nothing is stored for it: a node record stays small).
-- In a cancelled run the node ends `cancelled` and its result is not recorded.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 node, 3 token, 4 result bytes, 5 now, 6 worker id,
--   7 nextMax, 8 lease ms, 9 queue indexes the worker serves (",1,3,"), 10 budget
-- Returns: {"OK", more, claims...} or {"REPLAYED", more, claims...} where each claim is
--   {node, token, attempt, stalls, spec, deps...}; {"STALE", more}; {"CANCELLED", more}
--   (more: 1 when work is left for `drain`)
--@include run

local runId, n, token, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local budget = tonumber(ARGV[10])
local M = loadRun(runId, now)
if not M then return { "STALE", 0 } end
local r = getNode(n)
if not r or r[ST] ~= "r" then
  if r and r[TOK] == token and r[ST] == "s" then
    -- this very completion, re-sent: the dependents it leased to this worker, in the order it
    -- leased them (declaration order), that still run under that lease
    local claims, nextMax, served = {}, tonumber(ARGV[7]), ARGV[9]
    for _, v in ipairs(r[NEXT]) do
      if #claims >= nextMax then break end
      local d = type(v) == "number" and (v >= 0 and v or -v - 1)
      local dr = d and getNode(d)
      if dr and dr[ST] == "r" and dr[STARTED] == finishedAt(r) and dr[WORKER] == ARGV[6]
        and string.find(served, "," .. dr[QIDX] .. ",", 1, true) then
        local deps = depResults(d)
        if deps then claims[#claims + 1] = claimTuple(d, dr, dr[TOK], deps) end
      end
    end
    return { "REPLAYED", settleEarly(M, budget, now), unpack(claims) }
  end
  if r and r[TOK] == token and r[ST] == "c" then return { "CANCELLED", settleEarly(M, budget, now) } end
  return { "STALE", settleEarly(M, budget, now) }
end
local _, _, leases = queueOf(r[QIDX])
if not leases or redis.call("ZREM", leases, runId .. "#" .. n .. "#" .. ARGV[3]) == 0 then
  return { "STALE", settleEarly(M, budget, now) }
end
redis.call("HDEL", K.res, "p" .. n)
local ready = {}
if M.status == "cancelled" then
  addHistory(n, r, "cancelled", nil, now)
  endNode(M, n, r, "c", skipError("Cancelled",
    "the run was cancelled while this node ran: its result was discarded"), now)
  local more = cascade(M, n, ready, budget, now)
  enqueue(M, ready, 1)
  saveRun(M, now)
  return { "CANCELLED", (more or moreWork()) and 1 or 0 }
end
redis.call("HSET", K.res, "r" .. n, ARGV[4])
endNode(M, n, r, "s", nil, now)
local more = cascade(M, n, ready, budget, now)
local nextMax, served = tonumber(ARGV[7]), ARGV[9]
local claims, rest = {}, {}
for _, d in ipairs(ready) do
  local dr = getNode(d)
  -- a run stopped on the way (a corrupt record) hands nothing out
  if M.status == "running" and dr[ST] == "q" and #claims < nextMax
    and string.find(served, "," .. dr[QIDX] .. ",", 1, true) then
    local c = startHere(M, d, dr, ARGV[6], tonumber(ARGV[8]), now, runId)
    if c then claims[#claims + 1] = c end
  else
    rest[#rest + 1] = d
  end
end
enqueue(M, rest, 1)
saveRun(M, now)
return { "OK", (more or moreWork()) and 1 or 0, unpack(claims) }
