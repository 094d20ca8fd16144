-- Shared run-level machinery: the node record, the run record, and the
-- settle cascade of core's Machine.ts, with a work budget so that no call
-- does unbounded work (DESIGN.md §2.10). Work left over is pushed on the
-- run's work list and the run registered in the shard's work set; `drain`
-- continues it.
--
-- Uniform KEYS layout of every run-touching script (1-4 name the run's one
-- hash today; node fields are n<i> records, s<i> specs, d<i> deps, r<i>
-- results, e<i> errors, p<i> progress, h<i> history):
--   1 run record (hash)      2 node records (hash)   3 node specs (hash)
--   4 results (hash)         5 run work list (list)  6 shard work set (zset)
--   7 shard events (stream)  8 shard runs (zset)     9 fencing tokens (string)
--  10 arrival seq (string)
--  then per run queue i (1-based, in the run's queue order) five keys:
--   ready (zset), delayed (zset), leases (zset), wake (list), parked (zset)

-- node record fields (a msgpack array)
local ST, ATT, STALLS, PEND, STARTED, FINISHED, WORKER, DUE, MAXST, QIDX, PRIO, TOL, NEXT, TASK =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
-- set by park.lua: the ready score the node was parked with (its parked member is
-- task .. "\0" .. that score as 16 digits .. "\0" .. runId#node); left stale once claimed
local PARK = 15

local TERMINAL = { s = true, f = true, c = true, k = true }
local STATE_NAME = { w = "waiting", q = "queued", r = "running", y = "retrying", s = "succeeded", f = "failed", c = "cancelled", k = "skipped" }
local PRIO_SPAN = 1099511627776 -- 2^40

local K = {
  run = KEYS[1], nodes = KEYS[2], spec = KEYS[3], res = KEYS[4], work = KEYS[5],
  shardWork = KEYS[6], events = KEYS[7], runs = KEYS[8], tok = KEYS[9], seq = KEYS[10],
}
local function qkeys(i)
  local b = 10 + (i - 1) * 5
  return KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5]
end

-- records decoded in this call, by node id: every change goes through putNode
-- on the same table, so a second read of a node costs no decode
local CACHE = {}

local function getNode(n)
  local r = CACHE[n]
  if r then return r end
  local raw = redis.call("HGET", K.nodes, "n" .. n)
  if not raw then return nil end
  r = cmsgpack.unpack(raw)
  CACHE[n] = r
  return r
end

local function putNode(n, r)
  CACHE[n] = r
  redis.call("HSET", K.nodes, "n" .. n, cmsgpack.pack(r))
end

-- the run record, loaded once per script and flushed by saveRun
local function loadRun()
  local v = redis.call("HMGET", K.run, "status", "total", "ended", "finished", "retention", "id")
  if not v[1] then return nil end
  return { status = v[1], total = tonumber(v[2]), ended = tonumber(v[3]), finished = v[4],
    retention = tonumber(v[5]), id = v[6], dirty = false }
end

local function emit(M, now)
  redis.call("XADD", K.events, "MAXLEN", "~", 10000, "*", "run", M.id, "status", M.status)
end

local function saveRun(M, now)
  if not M.dirty then return end
  if M.ended >= M.total and not M.finished then
    M.finished = now
    local was = M.status
    if M.status == "running" then M.status = "succeeded" end
    redis.call("HSET", K.run, "status", M.status, "ended", M.ended, "finished", now)
    if was == "running" then emit(M, now) end
    local expired = {}
    for _, k in ipairs({ K.run, K.nodes, K.spec, K.res, K.work }) do
      if not expired[k] then
        expired[k] = true
        redis.call("PEXPIRE", k, M.retention)
      end
    end
  else
    redis.call("HSET", K.run, "status", M.status, "ended", M.ended)
  end
end

-- appends an attempt that did not succeed to the node's history (field h<n> of the run hash),
-- as one more msgpack value: {attempt, worker, startedAt, endedAt, outcome, error?}
local function addHistory(n, r, outcome, err, now)
  local entry = { r[ATT], r[WORKER], r[STARTED], now, outcome }
  if err then entry[6] = cmsgpack.unpack(err) end
  local field = "h" .. n
  redis.call("HSET", K.res, field, (redis.call("HGET", K.res, field) or "") .. cmsgpack.pack(entry))
end

local function skipError(kind, msg)
  return cmsgpack.pack({ tag = kind, message = msg, retryable = false })
end

-- ends node n in `state`, with error bytes or nil
local function endNode(M, n, r, state, err, now)
  r[ST] = state
  r[FINISHED] = now
  r[DUE] = 0
  if err then redis.call("HSET", K.res, "e" .. n, err) else redis.call("HDEL", K.res, "e" .. n) end
  putNode(n, r)
  M.ended = M.ended + 1
  M.dirty = true
end

local function failRun(M, n, err)
  if M.status ~= "running" then return end
  M.status = "failed"
  M.dirty = true
  redis.call("HSET", K.run, "status", "failed", "fnode", n, "err", err)
  emit(M)
end

-- one step of the cascade: dependent d of `from` loses one pending dependency
local function release(M, d, from, ready, stack, now)
  local r = getNode(d)
  if TERMINAL[r[ST]] then return end
  r[PEND] = r[PEND] - 1
  if r[PEND] > 0 then putNode(d, r) return end
  if M.status == "running" then
    r[ST] = "q"
    putNode(d, r)
    ready[#ready + 1] = d
  else
    local kind = M.status == "cancelled" and "Cancelled" or "Skipped"
    endNode(M, d, r, M.status == "cancelled" and "c" or "k",
      skipError(kind, "run " .. M.status .. " before this node could start (last upstream: node " .. from .. ")"), now)
    stack[#stack + 1] = "D:" .. d .. ":1"
  end
end

-- Runs work items until the stack and the run's work list are empty or the
-- budget is spent. Items: "D:<node>:<i>" resolve dependents of a settled
-- node from index i; "R:<i>" enqueue roots from node i; "C:<i>" cancel
-- unstarted nodes from node i. Returns true when work is left.
local function process(M, stack, ready, budget, now)
  while true do
    local item = table.remove(stack)
    if not item then
      item = redis.call("RPOP", K.work)
      if not item then return false end
    end
    if budget <= 0 then
      stack[#stack + 1] = item
      for i = 1, #stack do redis.call("RPUSH", K.work, stack[i]) end
      redis.call("ZADD", K.shardWork, now, M.id)
      return true
    end
    local kind, a, b = string.match(item, "^(%a):(%d+):?(%d*)$")
    a = tonumber(a)
    if kind == "D" then
      local r = getNode(a)
      local ok = r[ST] == "s"
      local list = r[NEXT]
      local i = tonumber(b)
      while i <= #list do
        if budget <= 0 then break end
        budget = budget - 1
        local v = list[i]
        if v >= 0 then
          if ok then
            release(M, v, a, ready, stack, now)
          else
            local dr = getNode(v)
            if not TERMINAL[dr[ST]] then
              endNode(M, v, dr, "k", skipError("Skipped",
                "upstream node " .. a .. " (" .. r[TASK] .. ") " .. STATE_NAME[r[ST]]), now)
              stack[#stack + 1] = "D:" .. v .. ":1"
            end
          end
        else
          release(M, -v - 1, a, ready, stack, now)
        end
        i = i + 1
      end
      if i <= #list then
        -- resume this node before the dependents it pushed, as the model's loop does
        table.insert(stack, #stack + 1, "D:" .. a .. ":" .. i)
      end
    elseif kind == "R" then
      -- a walked node costs about twice a dependent: two units of budget each
      local last = math.min(M.total - 1, a + math.ceil(budget / 2) - 1)
      for n = a, last do
        local r = getNode(n)
        if r[ST] == "w" and r[PEND] == 0 then
          r[ST] = "q"
          putNode(n, r)
          ready[#ready + 1] = n
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = "R:" .. (last + 1) end
    elseif kind == "C" then
      local last = math.min(M.total - 1, a + math.ceil(budget / 2) - 1)
      for n = a, last do
        local r = getNode(n)
        local st = r[ST]
        if st == "w" or st == "q" or st == "y" then
          local member = M.id .. "#" .. n
          local readyKey, delayedKey, _, _, parkedKey = qkeys(r[QIDX])
          if st == "q" then redis.call("ZREM", readyKey, member) end
          if st == "q" and r[PARK] then
            redis.call("ZREM", parkedKey, r[TASK] .. "\0" .. string.format("%016.0f", r[PARK]) .. "\0" .. member)
          end
          if st == "y" then redis.call("ZREM", delayedKey, member .. "#" .. r[PRIO]) end
          endNode(M, n, r, "c", nil, now)
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = "C:" .. (last + 1) end
    end
  end
end

local function readyScore(prio)
  return (16 - prio) * PRIO_SPAN + redis.call("INCR", K.seq)
end

-- puts ready nodes in their queues, in order, and wakes idle workers
local function enqueue(M, ready, from)
  local woken = {}
  for j = from, #ready do
    local n = ready[j]
    local r = getNode(n)
    local readyKey, _, _, wake = qkeys(r[QIDX])
    redis.call("ZADD", readyKey, readyScore(r[PRIO]), M.id .. "#" .. n)
    if not woken[wake] then
      woken[wake] = true
      redis.call("LPUSH", wake, "1")
      redis.call("LTRIM", wake, 0, 0)
    end
  end
end

-- settles node n (already ended by the caller) and runs the cascade
local function cascade(M, n, ready, budget, now)
  local stack = { "D:" .. n .. ":1" }
  local more = process(M, stack, ready, budget, now)
  if not more then redis.call("ZREM", K.shardWork, M.id) end
  return more
end

-- results of node n's dependencies, inline when there are at most 256. The
-- dependency list lives apart from the record (field d<n>), so that a chord
-- body with 10,000 dependencies keeps a small record while its counter drops.
local function depResults(n)
  local packed = redis.call("HGET", K.nodes, "d" .. n)
  if not packed then return { 1 } end
  local deps = cmsgpack.unpack(packed)
  if #deps > 256 then return { 0 } end
  local fields = {}
  for i = 1, #deps do fields[i] = "r" .. deps[i] end
  local ok = redis.call("HMGET", K.res, unpack(fields))
  local out = { 1 }
  for i = 1, #deps do
    if ok[i] then
      out[#out + 1] = 1
      out[#out + 1] = ok[i]
    else
      out[#out + 1] = 0
      out[#out + 1] = redis.call("HGET", K.res, "e" .. deps[i]) or ""
    end
  end
  return out
end

-- node n starts its next attempt on `worker`
local function markStarted(n, r, worker, now)
  r[ST] = "r"
  r[ATT] = r[ATT] + 1
  r[STARTED] = now
  r[WORKER] = worker
  r[DUE] = 0
  putNode(n, r)
end

-- leases node n (already queued/retrying) to `worker`; returns its claim tuple
local function startHere(n, r, worker, leaseMs, now, runId)
  markStarted(n, r, worker, now)
  local token = redis.call("INCR", K.tok)
  local _, _, leases = qkeys(r[QIDX])
  redis.call("ZADD", leases, now + leaseMs, runId .. "#" .. n .. "#" .. token)
  return { n, token, r[ATT], r[STALLS], redis.call("HGET", K.spec, "s" .. n), depResults(n) }
end
