-- Shared run-level machinery: the node record, the run record, and the
-- settle cascade of core's Machine.ts, with a work budget so that no call
-- does unbounded work (docs/guarantees.md §10). Work left over is pushed on
-- the run's work list and the run registered in the shard's work set;
-- `drain` continues it.
--
-- Uniform KEYS layout of every run-touching script (1-4 name the run's one
-- hash today; node fields are n<i> records, s<i> specs, d<i> deps, r<i>
-- results, e<i> errors, p<i> progress, h<i> history, x<i> the raw bytes of a
-- corrupt record that was replaced):
--   1 run record (hash)      2 node records (hash)   3 node specs (hash)
--   4 results (hash)         5 run work list (list)  6 shard work set (zset)
--   7 shard events (stream)  8 shard runs (zset)     9 fencing tokens (string)
--  10 arrival seq (string)
--  then per run queue i (1-based, in the run's queue order) five keys:
--   ready (zset), delayed (zset), leases (zset), wake (list), parked (zset)
--
-- Corrupt records: no script raises on a record it cannot decode (Redis
-- would keep the writes made before the error). A node record, a
-- dependency list or a run record field that does not decode fails its node
-- (the record is replaced by a valid `failed` one, the raw bytes kept in
-- x<i>) and its run with a CorruptRecord error, and the first corruption of
-- a run that is not cancelled sweeps it: work item "X" skips every node not
-- started and takes it out of its queue. Scripts that do not get the uniform
-- layout (start, release) only report what they found (READONLY).

-- node record fields (a msgpack array)
local ST, ATT, STALLS, PEND, STARTED, FINISHED, WORKER, DUE, MAXST, QIDX, PRIO, TOL, NEXT, TASK =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
-- TOK: fencing token of the node's current or last lease
local TOK = 15
-- set by park.lua: the ready score the node was parked with (its parked member is
-- task .. "\0" .. that score as 16 digits .. "\0" .. runId#node); left stale once claimed
local PARK = 16

local TERMINAL = { s = true, f = true, c = true, k = true }
local STATE_NAME = { w = "waiting", q = "queued", r = "running", y = "retrying", s = "succeeded", f = "failed", c = "cancelled", k = "skipped" }
local RUN_STATUS = { pending = true, running = true, succeeded = true, failed = true, cancelled = true }
local PRIO_SPAN = 1099511627776 -- 2^40
local DEFAULT_RETENTION = 604800000 -- 7 days, for a run whose retention field is corrupt

local K = {
  run = KEYS[1], nodes = KEYS[2], spec = KEYS[3], res = KEYS[4], work = KEYS[5],
  shardWork = KEYS[6], events = KEYS[7], runs = KEYS[8], tok = KEYS[9], seq = KEYS[10],
}
local function qkeys(i)
  local b = 10 + (i - 1) * 5
  return KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5]
end

-- the keys of run queue i, or nil when i is not a queue index of this call
local function queueOf(i)
  if type(i) ~= "number" or i < 1 or i ~= math.floor(i) then return nil end
  return qkeys(i)
end

-- records decoded in this call, by node id: every change goes through putNode
-- on the same table, so a second read of a node costs no decode
local CACHE = {}
-- the run loaded by loadRun (the record a corrupt node fails), and the call's clock
local RUN, NOW
-- true in scripts without the uniform layout: a corrupt record is reported in FOUND, never repaired
local READONLY = false
local FOUND -- { field, why } of the first corrupt record a READONLY script found

local function corruptError(field, why)
  return cmsgpack.pack({ tag = "CorruptRecord", retryable = false,
    message = "corrupt record: key " .. K.run .. " field " .. field .. ": " .. why })
end

-- (allocation-free: these run on every record read, and garbage grows the Lua heap)
local function oneValue(ok, v, ...)
  if not ok then return nil, "not msgpack (" .. tostring(v) .. ")" end
  if v == nil then return nil, "no value" end
  if select("#", ...) > 0 then return nil, "trailing bytes after the record" end
  return v
end

-- decodes bytes that must hold exactly one msgpack value; nil and why when they do not
local function unpackOne(raw)
  return oneValue(pcall(cmsgpack.unpack, raw))
end

-- a node record, checked field by field; nil and why when it is not one
local function decodeNode(raw)
  local r, why = unpackOne(raw)
  if not r then return nil, why end
  if type(r) ~= "table" then return nil, "not an array" end
  if not STATE_NAME[r[ST]] then return nil, "unknown state " .. tostring(r[ST]) end
  for i = ATT, TOL do -- fields 2-12: numbers, but for the worker (7)
    if i ~= WORKER and type(r[i]) ~= "number" then return nil, "field " .. i .. " is not a number" end
  end
  if type(r[WORKER]) ~= "string" or type(r[TASK]) ~= "string" then return nil, "worker or task is not a string" end
  -- its entries are checked where they are walked: a fan-out's list can be long
  if type(r[NEXT]) ~= "table" then return nil, "dependents are not a list" end
  if r[TOK] == nil then r[TOK] = 0 end
  if type(r[TOK]) ~= "number" then return nil, "token is not a number" end
  return r
end

local function emit(M)
  redis.call("XADD", K.events, "MAXLEN", "~", 10000, "*", "run", M.id, "status", M.status)
end

-- the run ends failed (its first failure wins); n is the node that failed it, or nil
local function stopRun(M, n, err)
  if M.status ~= "running" and M.status ~= "pending" then return end
  M.status = "failed"
  M.dirty = true
  if n then
    redis.call("HSET", K.run, "status", "failed", "fnode", n, "err", err)
  else
    redis.call("HSET", K.run, "status", "failed", "err", err)
  end
  emit(M)
end

local function failRun(M, n, err)
  if M.status ~= "running" then return end
  stopRun(M, n, err)
end

-- the first corruption of a run that is not cancelled queues the sweep, after any work already listed
local function noteCorruption(M, field)
  if M.corruption then return end
  M.corruption = field
  redis.call("HSET", K.run, "cfield", field)
  if M.status ~= "cancelled" then
    redis.call("LPUSH", K.work, "X:0")
    redis.call("ZADD", K.shardWork, NOW, M.id)
  end
end

local putNode, endNode

-- node n's own record is corrupt: it becomes a valid failed record (the raw bytes kept in x<n>)
local function replaceNode(M, n, raw, why)
  redis.call("HSET", K.nodes, "x" .. n, raw)
  local r = { "f", 0, 0, 0, 0, 0, "", 0, 0, 0, 0, 0, {}, "?", 0 }
  local field = "n" .. n
  local err = corruptError(field, why)
  endNode(M, n, r, "f", err, NOW)
  stopRun(M, n, err)
  noteCorruption(M, field)
  return r
end

local function getNode(n)
  local r = CACHE[n]
  if r then return r end
  local raw = redis.call("HGET", K.nodes, "n" .. n)
  if not raw then return nil end
  local why
  r, why = decodeNode(raw)
  if r then
    CACHE[n] = r
    return r
  end
  if READONLY or not RUN then
    FOUND = FOUND or { "n" .. n, why }
    return nil
  end
  return replaceNode(RUN, n, raw, why)
end

putNode = function(n, r)
  CACHE[n] = r
  redis.call("HSET", K.nodes, "n" .. n, cmsgpack.pack(r))
end

-- how many nodes a run has, when its `total` field is corrupt: the n<i> fields are numbered from 0
local function probeTotal()
  if redis.call("HEXISTS", K.nodes, "n0") == 0 then return 0 end
  local hi = 1
  while redis.call("HEXISTS", K.nodes, "n" .. hi) == 1 do hi = hi * 2 end
  local lo = hi / 2 -- n<lo> exists, n<hi> does not
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    if redis.call("HEXISTS", K.nodes, "n" .. mid) == 1 then lo = mid else hi = mid end
  end
  return hi
end

local function isCount(v)
  local x = tonumber(v)
  return x ~= nil and x >= 0 and x == math.floor(x)
end

-- the run record, loaded once per script and flushed by saveRun. A corrupt
-- field fails the run; a corrupt count (total, ended) ends it at once (saveRun
-- sets `finished`), as what has ended can no longer be counted; nodes still
-- running finish on their own. READONLY: reported in FOUND.
local function loadRun(runId, now)
  NOW = now
  local v = redis.call("HMGET", K.run, "status", "total", "ended", "finished", "retention", "id", "cfield", "qbad")
  if not v[1] and not v[6] then return nil end
  local M = { status = v[1], total = tonumber(v[2]), ended = tonumber(v[3]), finished = v[4],
    retention = tonumber(v[5]), id = runId, corruption = v[7], qbad = v[8] == "1", dirty = false }
  local bad
  if not RUN_STATUS[v[1]] then bad = { "status", "unknown status " .. tostring(v[1]) }
  elseif not isCount(v[2]) then bad = { "total", "not a count: " .. tostring(v[2]) }
  elseif not isCount(v[3]) then bad = { "ended", "not a count: " .. tostring(v[3]) }
  elseif not M.retention or M.retention < 0 then bad = { "retention", "not a duration: " .. tostring(v[5]) }
  elseif v[6] ~= runId then bad = { "id", "names run " .. tostring(v[6]) }
  end
  if bad and READONLY then
    FOUND = FOUND or bad
    return M
  end
  RUN = M
  if not bad then return M end
  local err = corruptError(bad[1], bad[2])
  if bad[1] == "status" then M.status = "running" end -- unknown: fail it below
  if bad[1] == "retention" then M.retention = DEFAULT_RETENTION end
  if bad[1] == "total" or bad[1] == "ended" then
    M.total = probeTotal()
    M.ended = M.total
    redis.call("HSET", K.run, "total", M.total)
  end
  redis.call("HSET", K.run, "id", runId, "retention", M.retention)
  stopRun(M, nil, err)
  noteCorruption(M, bad[1])
  M.dirty = true
  return M
end

local function saveRun(M, now)
  if not M.dirty then return end
  if M.ended >= M.total and not M.finished then
    M.finished = now
    if M.status == "running" then M.status = "succeeded" end
    redis.call("HSET", K.run, "status", M.status, "ended", M.ended, "finished", now)
    -- every run's end is an event, so that a waiter for a quiet run wakes too
    emit(M)
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

-- when node record r ended (its FINISHED field is kept as a delta from STARTED once it
-- started, a few bytes instead of nine: the record then stays in a compact hash)
local function finishedAt(r)
  if r[STARTED] > 0 and r[FINISHED] < 1e12 then return r[STARTED] + r[FINISHED] end
  return r[FINISHED]
end

-- ends node n in `state`, with error bytes or nil
endNode = function(M, n, r, state, err, now)
  r[ST] = state
  r[FINISHED] = r[STARTED] > 0 and now - r[STARTED] or now
  r[DUE] = 0
  if err then redis.call("HSET", K.res, "e" .. n, err) else redis.call("HDEL", K.res, "e" .. n) end
  putNode(n, r)
  M.ended = M.ended + 1
  M.dirty = true
end

-- node n (its record valid) cannot run: a field of it (its spec, its dependency list, the
-- run's queue list) is corrupt. It ends failed, and its run with it.
local function corruptNode(M, n, r, field, why, now)
  if TERMINAL[r[ST]] then return end
  local err = corruptError(field, why)
  endNode(M, n, r, "f", err, now)
  stopRun(M, n, err)
  noteCorruption(M, field)
end

-- takes a node that will not run out of its queue (ready when queued, delayed when retrying);
-- when the run's queue list is corrupt, out of every queue this call was given
local function unqueue(M, n, r)
  local member = M.id .. "#" .. n
  local function out(readyKey, delayedKey, parkedKey)
    if r[ST] == "q" then redis.call("ZREM", readyKey, member) end
    if r[ST] == "q" and r[PARK] then
      redis.call("ZREM", parkedKey, r[TASK] .. "\0" .. string.format("%016.0f", r[PARK]) .. "\0" .. member)
    end
    if r[ST] == "y" then redis.call("ZREM", delayedKey, member .. "#" .. r[PRIO]) end
  end
  local readyKey, delayedKey, _, _, parkedKey = queueOf(r[QIDX])
  if readyKey and not M.qbad then return out(readyKey, delayedKey, parkedKey) end
  local i = 1
  while true do
    readyKey, delayedKey, _, _, parkedKey = qkeys(i)
    if not readyKey or i > 64 then return end
    out(readyKey, delayedKey, parkedKey)
    i = i + 1
  end
end

-- one step of the cascade: dependent d of `from` loses one pending dependency
local function release(M, d, from, ready, stack, now)
  local r = getNode(d)
  if not r or TERMINAL[r[ST]] then return end
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
-- unstarted nodes from node i; "X:<i>" sweep a run stopped by a corrupt
-- record from node i. Returns true when work is left.
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
      local ok = r and r[ST] == "s"
      local list = r and r[NEXT] or {}
      local i = tonumber(b) or 1
      while i <= #list do
        if budget <= 0 then break end
        budget = budget - 1
        local v = list[i]
        if type(v) ~= "number" then
          -- not a node id: nothing to resolve
        elseif v >= 0 then
          if ok then
            release(M, v, a, ready, stack, now)
          else
            local dr = getNode(v)
            if dr and not TERMINAL[dr[ST]] then
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
        if r and M.status == "running" and r[ST] == "w" and r[PEND] == 0 then
          r[ST] = "q"
          putNode(n, r)
          ready[#ready + 1] = n
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = "R:" .. (last + 1) end
    elseif kind == "C" or kind == "X" then
      local last = math.min(M.total - 1, a + math.ceil(budget / 2) - 1)
      local reason = kind == "X" and skipError("Skipped", "a corrupt record (field " ..
        tostring(M.corruption) .. ") stopped the run before this node could start")
      for n = a, last do
        local r = getNode(n)
        local st = r and r[ST]
        if st == "w" or st == "q" or st == "y" then
          unqueue(M, n, r)
          endNode(M, n, r, kind == "X" and "k" or "c", reason or nil, now)
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = kind .. ":" .. (last + 1) end
    end
  end
end

-- true when the run still has work listed (`drain` continues it)
local function moreWork()
  return redis.call("LLEN", K.work) > 0
end

local function readyScore(prio)
  return (16 - prio) * PRIO_SPAN + redis.call("INCR", K.seq)
end

-- puts ready nodes in their queues, in order, and wakes idle workers; a node
-- no longer queued (swept on the way) stays out
local function enqueue(M, ready, from)
  local woken = {}
  for j = from, #ready do
    local n = ready[j]
    local r = getNode(n)
    local readyKey, _, _, wake = queueOf(r and r[QIDX])
    if r and r[ST] == "q" and readyKey then
      redis.call("ZADD", readyKey, readyScore(r[PRIO]), M.id .. "#" .. n)
      if not woken[wake] then
        woken[wake] = true
        redis.call("LPUSH", wake, "1")
        redis.call("LTRIM", wake, 0, 0)
      end
    end
  end
end

-- ends a call that stopped early (a stale report, a refused start): work that a
-- corrupt record found on the way queued (the sweep) runs now. Returns 1 when
-- the run still has work listed for `drain`.
local function settleEarly(M, budget, now)
  if M.dirty then
    local ready = {}
    if not process(M, {}, ready, budget, now) then redis.call("ZREM", K.shardWork, M.id) end
    enqueue(M, ready, 1)
    saveRun(M, now)
  end
  return (redis.call("ZSCORE", K.shardWork, M.id) and moreWork()) and 1 or 0
end

-- settles node n (already ended by the caller) and runs the cascade
local function cascade(M, n, ready, budget, now)
  local stack = { "D:" .. n .. ":1" }
  local more = process(M, stack, ready, budget, now)
  if not more then redis.call("ZREM", K.shardWork, M.id) end
  return more
end

-- node n's dependency list (field d<n>, ids below n in declaration order); nil and why when corrupt
local function readDeps(n)
  local packed = redis.call("HGET", K.nodes, "d" .. n)
  if not packed then return {} end
  local deps, why = unpackOne(packed)
  if not deps then return nil, why end
  if type(deps) ~= "table" or #deps == 0 then return nil, "not a list of node ids" end
  for i = 1, #deps do
    local d = deps[i]
    if type(d) ~= "number" or d < 0 or d >= n or d ~= math.floor(d) then
      return nil, "entry " .. i .. " is not an upstream node id: " .. tostring(d)
    end
  end
  return deps
end

-- results of node n's dependencies, inline when there are at most 256; nil and why when
-- the list is corrupt. The dependency list lives apart from the record (field d<n>), so
-- that a chord body with 10,000 dependencies keeps a small record while its counter drops.
local function depResults(n)
  local deps, why = readDeps(n)
  if not deps then return nil, why end
  if #deps == 0 then return { 1 } end
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

-- node n starts its next attempt on `worker` under lease `token`
local function markStarted(n, r, worker, now, token)
  r[ST] = "r"
  r[ATT] = r[ATT] + 1
  r[STARTED] = now
  r[WORKER] = worker
  r[DUE] = 0
  r[TOK] = token
  putNode(n, r)
end

-- the claim tuple of node n, running under `token`: {node, token, attempt, stalls, spec, deps}
local function claimTuple(n, r, token, deps)
  return { n, token, r[ATT], r[STALLS], redis.call("HGET", K.spec, "s" .. n), deps }
end

-- leases node n (already queued/retrying) to `worker`; returns its claim tuple, or nil
-- when its dependency list is corrupt (the node and its run then fail)
local function startHere(M, n, r, worker, leaseMs, now, runId)
  local deps, why = depResults(n)
  if not deps then
    corruptNode(M, n, r, "d" .. n, why, now)
    return nil
  end
  local _, _, leases = queueOf(r[QIDX])
  if not leases then
    corruptNode(M, n, r, "queues", "node " .. n .. " has queue index " .. tostring(r[QIDX]) ..
      ", which the run's queue list does not have", now)
    return nil
  end
  local token = redis.call("INCR", K.tok)
  markStarted(n, r, worker, now, token)
  redis.call("ZADD", leases, now + leaseMs, runId .. "#" .. n .. "#" .. token)
  return claimTuple(n, r, token, deps)
end
