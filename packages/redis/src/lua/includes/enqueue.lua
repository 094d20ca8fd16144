-- A run's nodes in their queues: each node record names its queue by index into
-- the run's queue list, and the run's `queues` (see includes/run.lua) hold the
-- keys of each.
--@include run
--@include priorityScore
--@include wake

-- the keys of the run's queue i ({ ready, delayed, leases, wake, parked }), or nil when
-- i is not a queue index of this call
local function queueOf(M, i)
  if type(i) ~= "number" or i < 1 or i ~= math.floor(i) then return nil end
  return M.queues[i]
end

-- ends the lease of attempt `token` of running node n (record r): the keys of
-- its queue, or nil when that lease is not held (a stale or re-sent report)
local function takeLease(M, n, r, token)
  local q = queueOf(M, r[QIDX])
  if not q or redis.call("ZREM", q.leases, M.id .. "#" .. n .. "#" .. token) == 0 then return nil end
  return q
end

-- puts ready nodes (ids ready[from..]) in their queues, in order, and wakes idle workers;
-- a node no longer queued (swept on the way) stays out. keys: seq, nodes; queues: ready, wake
local function enqueue(M, ready, from)
  local woken = {}
  for j = from, #ready do
    local n = ready[j]
    local r = getNode(M, n)
    local q = queueOf(M, r and r[QIDX])
    if r and r[ST] == "q" and q then
      redis.call("ZADD", q.ready, readyScore(r[PRIO], M.k.seq), M.id .. "#" .. n)
      if not woken[q.wake] then
        woken[q.wake] = true
        wakeWorker(q.wake)
      end
    end
  end
end

-- takes a node that will not run out of its queue (ready or parked when queued, delayed
-- when retrying); when the run's queue list is corrupt, out of every queue this call was
-- given. queues: ready, delayed, parked
local function unqueue(M, n, r)
  local member = M.id .. "#" .. n
  local function out(q)
    if r[ST] == "q" then redis.call("ZREM", q.ready, member) end
    if r[ST] == "q" and r[PARK] then
      redis.call("ZREM", q.parked, r[TASK] .. "\0" .. string.format("%016.0f", r[PARK]) .. "\0" .. member)
    end
    if r[ST] == "y" then redis.call("ZREM", q.delayed, member .. "#" .. r[PRIO]) end
  end
  local q = queueOf(M, r[QIDX])
  if q and not M.qbad then return out(q) end
  for i = 1, math.min(#M.queues, 64) do out(M.queues[i]) end
end
