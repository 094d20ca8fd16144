-- start: starts the attempt of a node just claimed: checks the lease, counts
-- a stall when the node was found running (its lease had expired), and
-- returns what the worker needs to run it.
-- KEYS: 1 run record, 2 node records, 3 node specs, 4 results, 5 leases of the node's queue
-- ARGV: 1 runId, 2 node, 3 token, 4 worker id, 5 now
-- Returns: {"OK", attempt, stalls, spec, run queues (comma list), deps...} (deps: see depResults in includes/run.lua),
--   {"REFUSED", state} (lease gone or node not startable; the lease is dropped),
--   {"STALLED_OUT"} (over maxStalls: the caller runs `stallout` with the full key layout)
--@include run

local runId, n, token, worker, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local member = runId .. "#" .. n .. "#" .. token
if not redis.call("ZSCORE", KEYS[5], member) then return { "REFUSED", "lease" } end
local r = getNode(n)
local st = r and r[ST] or "gone"
if st == "r" then
  if r[STALLS] + 1 > r[MAXST] then return { "STALLED_OUT" } end
  r[STALLS] = r[STALLS] + 1
  addHistory(n, r, "stalled", nil, now)
elseif st ~= "q" and st ~= "y" then
  redis.call("ZREM", KEYS[5], member)
  return { "REFUSED", st }
end
markStarted(n, r, worker, now)
local out = { "OK", r[ATT], r[STALLS], redis.call("HGET", K.spec, "s" .. n), redis.call("HGET", K.run, "queues") }
for _, v in ipairs(depResults(n)) do out[#out + 1] = v end
return out
