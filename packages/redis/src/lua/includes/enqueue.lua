-- A run's nodes in their queues: each node record names its queue by index into
-- the run's queue list, and the run's `queues` (see includes/run.lua) hold the
-- keys of each.
--@include run
--@include priorityScore
--@include wake

-- the keys of the run's queue i ({ ready, delayed, leases, wake, parked, expiring, paused }), or nil when
-- i is not a queue index of this call
local function queueOf(M, i)
  if type(i) ~= "number" or i < 1 or i ~= math.floor(i) then return nil end
  return M.queues[i]
end

-- ends the lease of attempt `token` of running node n (record r): the keys of
-- its queue, or nil when that lease is not held (a stale or re-sent report)
local function takeLease(M, n, r, token)
  local q = queueOf(M, r[QIDX])
  if not q or redis.call("ZREM", q.leases, M.id .. "#" .. digits(n) .. "#" .. digits(token)) == 0 then return nil end
  return q
end

-- puts ready nodes (ids ready[from..]) in their queues, in order, and wakes idle workers;
-- a node no longer queued (swept on the way) stays out. A delayed node (DUE set) goes to
-- the delayed set, due by the earlier of DUE and its deadline (claiming it then expires
-- it); a node with a deadline is listed in `expiring` for maintenance.
-- keys: seq, nodes; queues: ready, delayed, wake, expiring
local function enqueue(M, ready, from)
  local woken = {}
  for j = from, #ready do
    local n = ready[j]
    local r = getNode(M, n)
    local q = queueOf(M, r and r[QIDX])
    if r and r[ST] == "q" and q then
      local exp = r[EXP] or 0
      if exp > 0 then redis.call("ZADD", q.expiring, exp, M.id .. "#" .. digits(n)) end
      if r[DUE] > 0 then
        local due = (exp > 0 and exp < r[DUE]) and exp or r[DUE]
        redis.call("ZADD", q.delayed, due, M.id .. "#" .. digits(n) .. "#" .. digits(r[PRIO]))
      else
        redis.call("ZADD", q.ready, int(readyScore(r[PRIO], M.k.seq)), M.id .. "#" .. digits(n))
      end
      if not woken[q.wake] then
        woken[q.wake] = true
        wakeWorker(q.wake)
      end
    end
  end
end

-- takes a node that will not run out of its queue (ready, parked or delayed when queued,
-- delayed when retrying) and its deadline out of `expiring`; when the run's queue list is
-- corrupt, out of every queue this call was given. queues: ready, delayed, parked, expiring
local function unqueue(M, n, r)
  local member = M.id .. "#" .. digits(n)
  local function out(q)
    if r[ST] == "q" then redis.call("ZREM", q.ready, member) end
    if r[ST] == "q" and r[DUE] > 0 then redis.call("ZREM", q.delayed, member .. "#" .. r[PRIO]) end
    if (r[EXP] or 0) > 0 then redis.call("ZREM", q.expiring, member) end
    if r[ST] == "q" and r[PARK] then
      redis.call("ZREM", q.parked, r[TASK] .. "\0" .. string.format("%016.0f", r[PARK]) .. "\0" .. member)
    end
    if r[ST] == "y" then redis.call("ZREM", q.delayed, member .. "#" .. r[PRIO]) end
  end
  local q = queueOf(M, r[QIDX])
  if q and not M.qbad then return out(q) end
  for i = 1, math.min(#M.queues, 64) do out(M.queues[i]) end
end
