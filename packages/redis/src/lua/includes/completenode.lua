-- Completing a node (complete, completemany): the body of complete.lua, so that one call
-- can complete many nodes.
--@include cascade
--@include attempt
--@include workers

-- node d's packed dependency list when its only dependency is node n, else false: a
-- completion hands out only such a dependent, so that a re-sent completion knows exactly
-- which nodes it handed out (another completion by the same worker at the same time may
-- have made a fan-in ready). The list is handed on to depResults, read once. keys: nodes
local function onlyDependency(M, d, n)
  local packed = aheadField(M, "nodes", "d" .. digits(d))
  -- a list of one id packs in at most 10 bytes: a fan-in's long list is never unpacked here
  if not packed or #packed > 10 then return false end
  local deps = unpackOne(packed)
  return type(deps) == "table" and #deps == 1 and deps[1] == n and packed
end

-- whether queue q (its keys) is paused: read once per queue and call (no script call pauses a
-- queue while another runs). keys: q.paused
--@percall
local PAUSED = {}
local function queuePaused(q)
  local p = PAUSED[q.paused]
  if p == nil then
    p = redis.call("EXISTS", q.paused) == 1
    PAUSED[q.paused] = p
  end
  return p
end

-- A plain job's completion, without the run machinery (openRun, loadRun, the write buffer,
-- the cascade, saveRun): node 0 of run `runId` under lease `token`, with `result` (bytes) at
-- `now`, when the run is a plain job as read: running, its single node running under that
-- lease with no dependents, the run's fields valid and none of the rare ones set (finished,
-- cfield, qbad, wk), and a budget left. It answers, writes and records what completeNode
-- does for such a node, which ends the run, byte for byte but the order in which the run's
-- hash gets its new fields (plainjob.redis.test.ts replays the store's calls without it and
-- compares every key): about a sixth of the Redis instructions of a plain job's claim and
-- completion (docs/benchmarks.md). Returns the reply; or nil and what it read (the fields
-- loadRun reads, then n0, p0, e0), having written nothing, when the run is not one or the
-- lease is not held: completeNode takes it from there. keys: record (= nodes = results),
-- events; queues: leases
local function plainCompletion(RC, keys, queues, runId, token, result, now, budget, emax, span)
  local v = redis.call("HMGET", keys.record, "status", "total", "ended", "finished", "retention", "cfield", "qbad",
    "w", "wk", "n0", "p0", "e0")
  if budget <= 0 or v[1] ~= "running" or v[2] ~= "1" or v[3] ~= "0" or v[4] or v[6] or v[7] or v[9]
    or (v[5] and not isCount(v[5])) then return nil, v end
  local r = v[10] and decodeNode(v[10])
  if not r or r[ST] ~= "r" or r[TOK] ~= token or #r[NEXT] ~= 0 then return nil, v end
  local q = queues[r[QIDX]]
  if not q or redis.call("ZREM", q.leases, runId .. "#0#" .. digits(token)) == 0 then return nil, v end
  -- (what endNode changes and records, then saveRun as the run ends with its only node)
  r[ST], r[FINISHED], r[DUE] = "s", r[STARTED] > 0 and now - r[STARTED] or now, 0
  local em = g17(emax or 10000)
  eventOf(keys.events, em, runId, now, { "s", 0, r[TASK], r[ATT] })
  eventOf(keys.events, em, runId, now, { "E", "succeeded" })
  if v[8] then redis.call("PUBLISH", keys.events .. ":ended", runId) end
  redis.call("HSET", keys.record, "n0", cmsgpack.pack(r), "r0", result, "status", "succeeded", "ended", "1",
    "finished", g17(now))
  -- (the attempt's trace span id, when traced, kept with the result as completeBody keeps it)
  if span ~= "" then redis.call("HSET", keys.record, "t0", span) end
  -- (progress and error fields only when there: flushRun's HDEL leaves out those read absent)
  if v[11] and v[12] then
    redis.call("HDEL", keys.record, "p0", "e0")
  elseif v[11] or v[12] then
    redis.call("HDEL", keys.record, v[11] and "p0" or "e0")
  end
  redis.call("PEXPIRE", keys.record, int(v[5] and tonumber(v[5]) or DEFAULT_RETENTION))
  return { RC.OK, 0 }
end

-- completes node n of run `runId` under lease `token` with `result` (bytes) at `now`: see
-- complete.lua for what it does and answers (its reply, as a list, its codes from RC:
-- complete's reply codes by name, as strings). `queues`: the keys of each of the run's
-- queues, in the run's order. `span`: the attempt's trace span id, kept as field t<n> of
-- results ("" = none, nothing kept). keys: record, nodes, specs, results, work (the run's),
-- shardWork, events, tokens, seq

local completeBody

-- `runs`: the runs this call opened, by id (completemany's), or nil (complete's). A run met
-- again is not opened and loaded again: its writes stay buffered until the caller flushes
-- every run it opened (flushRuns). `ahead`: the fields to read with the run's record when
-- the call opens it (the node fields of all the call's items of that run), or nil (this
-- node's); a node whose fields were not read so is read on its own
local function completeNode(RC, keys, queues, runId, n, token, result, now, worker, nextMax, leaseMs,
    served, budget, emax, span, runs, ahead)
  -- the run's writes are buffered (one HSET, one HDEL) and its node's record read with its
  -- record (one HMGET), with its progress and error fields: this completion deletes them,
  -- and one found absent needs no HDEL (flushRun)
  local ns = digits(n)
  local M = runs and runs[runId]
  if M then
    if M.cache[n] == nil and M.pre["n" .. ns] == nil then readAhead(M, { "n" .. ns, "p" .. ns, "e" .. ns }) end
  else
    local fields = ahead or { "n" .. ns, "p" .. ns, "e" .. ns }
    -- a node 0, its run's only item in this call: maybe a plain job's
    local read
    if n == 0 and #fields == 3 and keys.nodes == keys.record and keys.results == keys.record then
      local plain
      plain, read = plainCompletion(RC, keys, queues, runId, token, result, now, budget, emax, span)
      if plain then return plain end
    end
    M = bufferRun(openRun(keys, queues, runId, now, false, emax))
    M = loadRun(M, M.wbuf and fields or nil, read)
    if not M then return { RC.STALE, 0 } end
    -- (a run whose writes are not buffered writes as it goes: nothing to keep)
    if runs and M.wbuf then runs[runId] = M end
  end
  local reply = completeBody(M, RC, keys, queues, runId, n, token, result, now, worker, nextMax, leaseMs,
    served, budget, span)
  if not (runs and runs[runId]) then flushRun(M) end
  return reply
end


completeBody = function(M, RC, keys, queues, runId, n, token, result, now, worker, nextMax, leaseMs,
    served, budget, span)
  local r = getNode(M, n)
  if not r or r[ST] ~= "r" then
    if r and r[TOK] == token and r[ST] == "s" then
      -- this very completion, re-sent: the dependents it leased to this worker, in the order it
      -- leased them (declaration order), that still run under that lease
      local claims = {}
      for _, v in ipairs(r[NEXT]) do
        if #claims >= nextMax then break end
        local d = type(v) == "number" and (v >= 0 and v or -v - 1)
        local packed = d and onlyDependency(M, d, n)
        local dr = packed and getNode(M, d)
        if dr and dr[ST] == "r" and dr[STARTED] == finishedAt(r) and dr[WORKER] == worker
          and string.find(served, "," .. digits(dr[QIDX]) .. ",", 1, true) then
          flushRun(M)
          local deps = depResults(M, d, packed)
          if deps then claims[#claims + 1] = claimTuple(M, d, dr, dr[TOK], deps) end
        end
      end
      return { RC.REPLAYED, endEarly(M, budget), unpack(claims) }
    end
    if r and r[TOK] == token and r[ST] == "c" then return { RC.CANCELLED, endEarly(M, budget) } end
    return { RC.STALE, endEarly(M, budget) }
  end
  local q = takeLease(M, n, r, token)
  if not q then return { RC.STALE, endEarly(M, budget) } end
  put(M, "results", "p" .. digits(n), false)
  local ready = {}
  if M.status == "cancelled" then
    addHistory(M, n, r, "cancelled", nil)
    endNode(M, n, r, "c", errorValue("Cancelled",
      "the run was cancelled while this node ran: its result was discarded"))
    local more = cascade(M, n, ready, budget)
    enqueue(M, ready, 1)
    saveRun(M)
    return { RC.CANCELLED, (more or moreWork(M)) and 1 or 0 }
  end
  if span ~= "" then
    -- the attempt's trace span id rides in the same HSET: dependents' spans link to it
    putMany(M, "results", "r" .. digits(n), result, "t" .. digits(n), span)
  else
    put(M, "results", "r" .. digits(n), result)
  end
  endNode(M, n, r, "s", nil)
  local more = cascade(M, n, ready, budget)
  local claims, rest = {}, {}
  for _, d in ipairs(ready) do
    local dr = getNode(M, d)
    -- a run stopped on the way (a corrupt record) hands nothing out
    -- a delayed dependent (DUE set) waits for its time in the delayed set
    local packed = M.status == "running" and dr[ST] == "q" and dr[DUE] == 0 and #claims < nextMax
      and string.find(served, "," .. digits(dr[QIDX]) .. ",", 1, true)
      and onlyDependency(M, d, n)
    if packed and not queuePaused(queues[dr[QIDX]]) then
      local c = startHere(M, d, dr, worker, leaseMs, packed)
      if c then claims[#claims + 1] = c end
    else
      rest[#rest + 1] = d
    end
  end
  enqueue(M, rest, 1)
  saveRun(M)
  return { RC.OK, (more or moreWork(M)) and 1 or 0, unpack(claims) }
end
