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

-- puts the nodes gathered in `acc` (enqueue's) in their ready sets: they take their arrival
-- numbers in the order they were gathered, all in one INCRBY of the shard's counter
-- `seqKey` (as one INCR each would number them), and go in with one ZADD per queue (at most
-- 1,000 members each: unpack's stack is bounded). queues: ready
local function flushReady(acc, seqKey)
  local k = acc.k
  if k == 0 then return end
  local seq = redis.call("INCRBY", seqKey, k) - k
  local adds, order = {}, {} -- queue -> its ZADD arguments so far; the queues in first use
  for i = 1, k do
    local q, member, prio = acc[3 * i - 2], acc[3 * i - 1], acc[3 * i]
    local args = adds[q]
    if not args then
      args = {}
      adds[q] = args
      order[#order + 1] = q
    end
    args[#args + 1] = int((16 - prio) * PRIO_SPAN + seq + i)
    args[#args + 1] = member
    if #args >= 2000 then
      redis.call("ZADD", q.ready, unpack(args))
      adds[q] = {}
    end
  end
  for _, q in ipairs(order) do
    local args = adds[q]
    if #args > 0 then redis.call("ZADD", q.ready, unpack(args)) end
  end
  acc.k = 0
end

-- puts ready nodes (ids ready[from..]) in their queues, in order, and wakes idle workers;
-- a node no longer queued (swept on the way) stays out. A delayed node (DUE set) goes to
-- the delayed set, due by the earlier of DUE and its deadline (claiming it then expires
-- it); a node with a deadline is listed in `expiring` for maintenance. Nodes bound for a
-- ready set are gathered and put in with flushReady: at once, or, when the run carries a
-- call's accumulator (M.toReady: submitmany's, for all its runs), when the call flushes it.
-- keys: seq, nodes; queues: ready, delayed, wake, expiring
local function enqueue(M, ready, from)
  local woken = {}
  local acc = M.toReady or { k = 0 }
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
        local k = acc.k
        acc[3 * k + 1] = q
        acc[3 * k + 2] = M.id .. "#" .. digits(n)
        acc[3 * k + 3] = r[PRIO]
        acc.k = k + 1
      end
      if not woken[q.wake] then
        woken[q.wake] = true
        wakeWorker(q.wake)
      end
    end
  end
  if not M.toReady then flushReady(acc, M.k.seq) end
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
