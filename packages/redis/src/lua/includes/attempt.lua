-- An attempt starts: the node's lease, its dependencies' results, the claim a
-- worker gets.
--@include run
--@include enqueue
--@include grants

-- A list packed longer than INLINE_DEPS_BYTES holds more than 256 ids (an id packs in at
-- most 9 bytes, a range of 4 or more ids in at most 28): depResults answers {0} for it
-- without unpacking it (the worker reads the results by the spec's dependency list).
local INLINE_DEPS_BYTES = 256 * 9 + 5

-- node n's dependency list (field d<n>, ids below n in declaration order; a replaced node's
-- lists the nodes its replacement added, past it), from `packed` when the caller read
-- it, as decoded (ranges not expanded: see countDeps in includes/record.lua), and how many
-- ids it holds; nil and why when corrupt. keys: nodes
local function readDeps(M, n, packed)
  packed = packed or redis.call("HGET", M.k.nodes, "d" .. digits(n))
  if not packed then return {}, 0 end
  local list, why = unpackOne(packed)
  if not list then return nil, why end
  local count
  count, why = countDeps(list, n, M.total)
  if not count then return nil, why end
  return list, count
end

-- what depResults answers for a node whose dependencies the worker reads: {0, traced},
-- traced 1 when the run has its `tr` marker (some node's attempt recorded a trace span id,
-- completenode.lua), else 0: the worker then reads their results without their span ids
-- (a 10,000-wide body's reads then take about a third of the time, docs/benchmarks.md).
-- keys: record
local function outsideDeps(M)
  return { 0, bufferedField(M, "record", "tr") and 1 or 0 }
end

-- results of node n's dependencies, inline when there are at most 256: {1, ok, bytes, ...}
-- (ok 1: bytes is the result, kept after the dependency's record in n<d> or, written before
-- 2026-12-05, apart in r<d>; 0: its error or ""), then, when some dependency's attempt
-- recorded a trace span id (field t<d>, complete.lua), one string of them all joined by ","
-- ("" for one without); or {0, traced} (the worker reads them: a 100,000-wide chord body's
-- list, one range, is counted here, not walked; see outsideDeps); nil and why when the list
-- is corrupt. The dependency list lives apart from the record (field d<n>), so that a chord
-- body with 10,000 dependencies keeps a small record while its counter drops. `packed`: the
-- list as the caller read it, if it did. keys: nodes, results, record
local function depResults(M, n, packed)
  packed = packed or redis.call("HGET", M.k.nodes, "d" .. digits(n))
  if packed and #packed > INLINE_DEPS_BYTES then return outsideDeps(M) end
  local list, count = readDeps(M, n, packed)
  if not list then return nil, count end
  if count == 0 then return { 1 } end
  if count > 256 then return outsideDeps(M) end
  local deps = expandDeps(list)
  -- each dependency's record (its result after it: RESULTS in includes/record.lua) and span id
  local fields = {}
  for i = 1, #deps do
    fields[i] = "n" .. digits(deps[i])
    fields[#deps + i] = "t" .. digits(deps[i])
  end
  -- (this call's buffered writes first: a completion hands out a dependent before it flushes)
  local buf = M.wbuf
  local ok = buf and {}
  if ok then
    -- every result written by this call (a chain's next step): no read. Their span ids are
    -- buffered too when traced, else absent: t<d> is only ever written with the result, and a
    -- node succeeds once
    for i = 1, #deps do
      local rec = buf[fields[i]]
      local v = type(rec) == "table" and RESULTS[rec]
      if not v then
        ok = nil
        break
      end
      ok[i] = v
      ok[#deps + i] = buf[fields[#deps + i]] or false
    end
  end
  if not ok then
    ok = redis.call("HMGET", M.k.results, unpack(fields))
    -- the records read as results: buffered ones by the table this call wrote
    local apart = {}
    for i = 1, #deps do
      local rec = buf and buf[fields[i]]
      local v
      if type(rec) == "table" then
        v = RESULTS[rec]
      elseif type(rec) == "string" then
        v = resultAfter(rec)
      elseif ok[i] then
        v = resultAfter(ok[i])
      end
      ok[i] = v or false
      -- (a result kept apart, r<d>: a node that succeeded before 2026-12-05)
      if not v then apart[#apart + 1] = i end
      local t = buf and buf[fields[#deps + i]]
      if t ~= nil then ok[#deps + i] = t end
    end
    if #apart > 0 then
      local names = {}
      for j = 1, #apart do names[j] = "r" .. digits(deps[apart[j]]) end
      local got = redis.call("HMGET", M.k.results, unpack(names))
      for j = 1, #apart do ok[apart[j]] = got[j] or false end
    end
  end
  local out = { 1 }
  local spans, traced = {}, false
  for i = 1, #deps do
    if ok[i] then
      out[#out + 1] = 1
      out[#out + 1] = ok[i]
    else
      out[#out + 1] = 0
      out[#out + 1] = bufferedField(M, "results", "e" .. digits(deps[i])) or ""
    end
    spans[i] = ok[#deps + i] or ""
    if ok[#deps + i] then traced = true end
  end
  if traced then out[#out + 1] = table.concat(spans, ",") end
  return out
end

-- node n starts its next attempt on `worker` under lease `token` (a `started` event).
-- keys: nodes, events
local function markStarted(M, n, r, worker, token)
  r[ST] = "r"
  r[ATT] = r[ATT] + 1
  r[STARTED] = M.now
  r[WORKER] = worker
  r[DUE] = 0
  r[TOK] = token
  putNode(M, n, r)
  nodeEvent(M, n, r)
end

-- the claim of node n, running under `token`: {node, token, attempt, stalls, task, spec, deps...},
-- its dependencies' results (depResults's list) inline: one list fewer for Redis to turn into
-- its reply. keys: specs
local function claimTuple(M, n, r, token, deps)
  local c = { n, token, r[ATT], r[STALLS], r[TASK], nodeSpec(M, n, r) }
  for i = 1, #deps do c[6 + i] = deps[i] end
  return c
end

-- leases node n (already queued or retrying) to `worker` until now + leaseMs; returns its
-- claim, or nil when its dependency list or queue index is corrupt (the node and its run
-- then fail); `packed`: its dependency list, when the caller read it. keys: tokens, nodes,
-- results, specs, events; queues: leases
local function startHere(M, n, r, worker, leaseMs, packed)
  local deps, why = depResults(M, n, packed)
  if not deps then
    corruptNode(M, n, r, "d" .. n, why)
    return nil
  end
  local q = queueOf(M, r[QIDX])
  if not q then
    corruptNode(M, n, r, "queues", "node " .. n .. " has queue index " .. tostring(r[QIDX]) ..
      ", which the run's queue list does not have")
    return nil
  end
  local token = grants.takeTokens(M.k.tokens, 1)
  markStarted(M, n, r, worker, token)
  grants.addLease(q.leases, int(M.now + leaseMs), M.id .. "#" .. digits(n) .. "#" .. digits(token))
  return claimTuple(M, n, r, token, deps)
end
