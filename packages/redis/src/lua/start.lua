-- start: starts the attempt of a node just claimed: checks the lease, counts
-- a stall when the node was found running under an older lease (that lease
-- had expired), and returns what the worker needs to run it. Re-sent with the
-- token the node already runs under (a command re-sent after a reconnect), it
-- answers the same and counts nothing again. It only reads before it writes:
-- a record it cannot decode (the run record, the node record, the dependency
-- list, or a queue list that does not match the queue the node came from) is
-- reported, and the caller runs `corrupt` with the full key layout.
-- KEYS: 1 run record, 2 node records, 3 node specs, 4 results, 5 leases of the node's queue
-- ARGV: 1 runId, 2 node, 3 token, 4 worker id, 5 now, 6 name of the queue the node was claimed from
-- Returns: {"OK", attempt, stalls, spec, run queues (comma list), deps...} (deps: see depResults in includes/run.lua),
--   {"REFUSED", state} (lease gone or node not startable; the lease is dropped),
--   {"STALLED_OUT"} (over maxStalls: the caller runs `stallout` with the full key layout),
--   {"CORRUPT", field, why} (nothing written; the lease is kept for `corrupt`)
--@include run

READONLY = true
local runId, n, token, worker, now, queue =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), ARGV[6]
local member = runId .. "#" .. n .. "#" .. ARGV[3]
if not redis.call("ZSCORE", KEYS[5], member) then return { "REFUSED", "lease" } end
local M = loadRun(runId, now)
local r = M and not FOUND and getNode(n)
if FOUND then return { "CORRUPT", FOUND[1], FOUND[2] } end
if not r then
  redis.call("ZREM", KEYS[5], member)
  return { "REFUSED", "gone" }
end
-- the node's record points into the run's queue list: it must name the queue the node came from
local queues = redis.call("HGET", K.run, "queues") or ""
local name, i = nil, 0
for q in string.gmatch(queues, "[^,]+") do
  i = i + 1
  if i == r[QIDX] then
    name = q
    break
  end
end
if name ~= queue then
  return { "CORRUPT", "queues", "node " .. n .. " was claimed from queue " .. queue ..
    ", not the queue its record's index " .. r[QIDX] .. " names in the run's queue list" }
end
local st = r[ST]
local again = st == "r" and r[TOK] == token -- this very start, re-sent
if st == "r" and not again then
  if r[STALLS] + 1 > r[MAXST] then return { "STALLED_OUT" } end
elseif st ~= "r" and st ~= "q" and st ~= "y" then
  redis.call("ZREM", KEYS[5], member)
  return { "REFUSED", st }
end
local deps, why = depResults(n)
if not deps then return { "CORRUPT", "d" .. n, why } end
if not again then
  if st == "r" then
    r[STALLS] = r[STALLS] + 1
    addHistory(n, r, "stalled", nil, now)
  end
  markStarted(n, r, worker, now, token)
end
local out = { "OK", r[ATT], r[STALLS], redis.call("HGET", K.spec, "s" .. n), queues }
for _, v in ipairs(deps) do out[#out + 1] = v end
return out
