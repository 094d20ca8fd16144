-- start: starts the attempt of a node just claimed: checks the lease, counts
-- a stall when the node was found running under an older lease (that lease
-- had expired), and returns what the worker needs to run it. A queued or
-- retrying node past its deadline (expiresAt) ends `expired` instead. A node found
-- over its maxStalls fails instead (Stalled), and its run unless the node is
-- tolerated; its dependents are left on the run's work list for `drain`
-- (after any work listed before: see listEnding),
-- which the caller runs with the run's queues (start is not handed their
-- keys). Re-sent with the token the node already runs under, or that stalled
-- it out (a command re-sent after a reconnect), it answers the same and
-- counts nothing again. It only reads before it writes: a record it cannot
-- decode (the run record, the node record, the dependency list, or a queue
-- list that does not match the queue the node came from) is reported, and the
-- caller runs `corrupt` with the run's queues.
-- KEYS: record, nodes, specs, results, work (the run's), shardWork, events, leases (of
--   the queue the node was claimed from)
-- ARGV: runId, node, token, worker (id), now, queue (name of the queue the node was
--   claimed from), eventsMax (about how many entries the events stream keeps)
-- Replies: {OK, attempt, stalls, spec, queues (the run's, comma list), headers (the run's,
--   msgpack, "" = none), deps...} (deps: see depResults in includes/attempt.lua), {STALE} (the lease is gone, or the node is not
--   startable: the lease is dropped), {STALLED_OUT, more, queues} (the node failed over
--   its maxStalls; more: 1 when work is left for `drain`), {EXPIRED, more, queues} (the
--   node was queued or retrying past its expiresAt: it ended `expired`), {CORRUPT, field, why}
--   (nothing written; the lease is kept for `corrupt`)
--@include attempt

-- node n (record r) just ended failed or expired here: its run fails (unless the node is
-- tolerated) and its cascade is listed for `drain`, which has the run's queues. Both go at
-- the far end of the work list (drain pops the near end), after the work earlier
-- transitions left (another node of the same claim batch that stalled out or expired):
-- that work runs first, then this node fails the run, then its cascade runs, as in the
-- model, where each transition runs whole in turn. The run fails at once when nothing is
-- listed before it. keys: work, shardWork, record, events
local function listEnding(M, n, r, err)
  if r[TOL] == 0 then
    if moreWork(M) then
      redis.call("LPUSH", M.k.work, "F:" .. n)
    else
      failRun(M, n, err)
    end
  end
  redis.call("LPUSH", M.k.work, "D:" .. n .. ":1")
  redis.call("ZADD", M.k.shardWork, M.now, M.id)
end

local n, token = A.node, A.token
local member = A.runId .. "#" .. n .. "#" .. token
local M = loadRun(openRun(K, {}, A.runId, A.now, true, A.eventsMax))
local r = M and not M.found and getNode(M, n)
if not redis.call("ZSCORE", K.leases, member) then
  -- this very start, re-sent after it stalled the node out: the same answer
  if r and r[ST] == "f" and r[TOK] == token and r[STALLS] > r[MAXST] then
    local more = (redis.call("ZSCORE", K.shardWork, A.runId) and moreWork(M)) and 1 or 0
    return { R.STALLED_OUT, more, redis.call("HGET", K.record, "queues") or "" }
  end
  return { R.STALE }
end
if M and M.found then return { R.CORRUPT, M.found[1], M.found[2] } end
if not r then
  redis.call("ZREM", K.leases, member)
  return { R.STALE }
end
-- the node's record points into the run's queue list: it must name the queue the node came from
local queues = redis.call("HGET", K.record, "queues") or ""
local name, i = nil, 0
for q in string.gmatch(queues, "[^,]+") do
  i = i + 1
  if i == r[QIDX] then
    name = q
    break
  end
end
if name ~= A.queue then
  return { R.CORRUPT, "queues", "node " .. n .. " was claimed from queue " .. A.queue ..
    ", not the queue its record's index " .. r[QIDX] .. " names in the run's queue list" }
end
local st = r[ST]
local again = st == "r" and r[TOK] == token -- this very start, re-sent
if st == "r" and not again then
  if r[STALLS] + 1 > r[MAXST] then
    redis.call("ZREM", K.leases, member)
    r[STALLS] = r[STALLS] + 1
    addHistory(M, n, r, "stalled", nil)
    r[TOK] = token -- a late report of the stalled attempt is stale
    local err = errorValue("Stalled", "lease expired " .. r[STALLS] .. " times (maxStalls " .. r[MAXST] ..
      "): the worker running it died or stopped heartbeating")
    endNode(M, n, r, "f", err)
    listEnding(M, n, r, err)
    saveRun(M)
    return { R.STALLED_OUT, 1, queues }
  end
elseif st ~= "r" and st ~= "q" and st ~= "y" then
  redis.call("ZREM", K.leases, member)
  return { R.STALE }
elseif (r[EXP] or 0) > 0 and A.now >= r[EXP] then
  -- not started by its deadline: it ends expired instead (core's Machine.startNode)
  redis.call("ZREM", K.leases, member)
  local err = expiredError(r[EXP])
  endNode(M, n, r, "x", err)
  listEnding(M, n, r, err)
  saveRun(M)
  return { R.EXPIRED, 1, queues }
end
local deps, why = depResults(M, n)
if not deps then return { R.CORRUPT, "d" .. n, why } end
if not again then
  if st == "r" then
    r[STALLS] = r[STALLS] + 1
    addHistory(M, n, r, "stalled", nil)
  end
  markStarted(M, n, r, A.worker, token)
end
local out = { R.OK, r[ATT], r[STALLS], redis.call("HGET", K.specs, "s" .. n), queues,
  redis.call("HGET", K.record, "hdr") or "" }
for _, v in ipairs(deps) do out[#out + 1] = v end
return out
