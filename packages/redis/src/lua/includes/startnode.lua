-- Starting a node just claimed (start, claim): the body of start.lua, so that
-- claim starts the nodes it leases in the same call.
--@include attempt
--@include workers

-- node n (record r) just ended failed or expired here: its run fails (unless the node is
-- tolerated) and its cascade is listed for `drain`, which has the run's queues. Both go at
-- the far end of the work list (drain pops the near end), after the work earlier
-- transitions left (another node of the same claim batch that stalled out or expired):
-- that work runs first, then this node fails the run, then its cascade runs, as in the
-- model, where each transition runs whole in turn. The run fails at once when nothing is
-- listed before it. keys: work, shardWork, record, events
local function listEnding(M, n, r, err)
  markWork(M)
  if r[TOL] == 0 then
    if moreWork(M) then
      redis.call("LPUSH", M.k.work or M.k.record .. ":work", "F:" .. n)
    else
      failRun(M, n, err)
    end
  end
  redis.call("LPUSH", M.k.work or M.k.record .. ":work", "D:" .. n .. ":1")
  redis.call("ZADD", M.k.shardWork, M.nows, M.id)
end

-- the names in a run's queue list (a comma list), split once per list: the runs a claim
-- starts mostly share their queue list, and so do the calls that follow. Kept across calls
-- (a function of the list alone; no caller changes the names it gets); past
-- QUEUE_LISTS_MAX kept, all are dropped
--@kept
local QUEUE_LISTS = {}
local queueListsKept = 0
--@const
local QUEUE_LISTS_MAX = 256
local function queueList(queues)
  local names = QUEUE_LISTS[queues]
  if names then return names end
  names = {}
  for q in string.gmatch(queues, "[^,]+") do names[#names + 1] = q end
  if queueListsKept >= QUEUE_LISTS_MAX then
    QUEUE_LISTS = {}
    queueListsKept = 0
  end
  QUEUE_LISTS[queues] = names
  queueListsKept = queueListsKept + 1
  return names
end

-- The last chord member memberStarted started in this call from a queued record's bytes
-- through a like start (startedBytes, after the first of a run of like starts): its run (M),
-- the queue it was claimed from, the bytes its record was decoded from (its spec cut off),
-- what its start answered, its running record and the packing of that record but its token.
-- A member of the same run, claimed from the same queue, whose queued record is the same bytes
-- behind its own spec, starts the same way, its token aside (memberStartedLike). `plain`: the
-- same for the last like plain jobs (plainStart)
--@percall
local LIKE_START = {}

-- A plain job's start, without the run machinery (openRun, loadRun, the write buffer, the
-- node cache): node 0 of run `runId`, leased by this claim under `token` from `queue` (name)
-- to `worker` at `now`, when the run is a plain job as read: running, its single node queued
-- or retrying, with no dependency list and no deadline passed, the run's fields valid and
-- none of the rare ones set (finished, cfield, qbad, wk). It answers, writes and records
-- what startNode does for such a node, byte for byte (plainjob.redis.test.ts replays the
-- store's calls without it and compares every key): about a sixth of the Redis
-- instructions of a plain job's claim and completion (docs/benchmarks.md). Returns the
-- values of startNode's reply after its code (attempt, stalls, task, spec, queues, headers:
-- claim.lua answers them); or nil and what it read (the fields loadRun reads, then queues,
-- hdr, n0, d0, s0), having written nothing, when the run is not one: startNode takes it from
-- there. keys: record (= nodes = specs), events
local function plainStart(keys, runId, token, worker, now, queue, emax)
  -- (a plain job's four fields, status, n0, created and s0, when it is one: the run's other
  -- fields are absent, and of the checks below only its status's is left)
  local u = plainFields(keys.record, "s0")
  -- a plain job queued as the same bytes as the last like ones this call started from the same
  -- queue (LIKE_START.plain, made at the second): started from their packing, its token
  -- aside, without a decode, a check or a copy (memberStartedLike's way for a chord's members)
  local P = LIKE_START.plain
  if P and u and u[2] == P.from and P.queue == queue and u[1] == "running" then
    local bytes = P.prefix .. uintBytes(token)
    keepRunning(bytes, P.r, P.r, nil, P.prefix, token)
    redis.call("HSET", keys.record, "n0", bytes)
    plainEvents(keys.events, g17(emax or 10000), runId, now, "r", P.task, P.attempt)
    return P.attempt, P.stalls, P.task, u[4], DEFAULT_QUEUES, ""
  end
  local v = not u and redis.call("HMGET", keys.record, "status", "total", "ended", "finished", "retention", "cfield",
    "qbad", "w", "wk", "queues", "hdr", "n0", "d0", "s0")
  local r, from, spec, queues
  if u and u[1] == "running" or v and not (v[1] ~= "running" or (v[2] and v[2] ~= "1") or (v[3] and v[3] ~= "0")
    or v[4] or v[6] or v[7] or v[9] or v[13] or (v[5] and not isCount(v[5]))) then
    local bytes = u and u[2] or v[12]
    r = bytes and decodeNode(bytes)
    -- (the bytes it was decoded from: its start is made from the last one's packing when it can
    -- be, startedBytes: plain jobs of one task are queued as the same bytes)
    from = RECORD_BYTES
    -- (its spec before its record, or apart: see SPECS in includes/record.lua)
    spec = r and (SPECS[r] or (u and u[4] or v[14]))
    queues = v and v[10] or DEFAULT_QUEUES
  end
  if not spec or (r[ST] ~= "q" and r[ST] ~= "y") or ((r[EXP] or 0) > 0 and now >= r[EXP])
    or queueList(queues)[r[QIDX]] ~= queue then
    -- (what it read, in the layout of the HMGET above)
    return nil, v or { u[1], false, false, false, false, false, false, false, false, false, false, u[2], false, u[4] }
  end
  -- (what markStarted changes and records)
  local attempt = r[ATT] + 1
  r[ST], r[ATT], r[STARTED], r[WORKER], r[DUE], r[TOK] = "r", attempt, now, worker, 0, token
  local bytes = from and startedBytes(r, from, token, now, worker) or packRecord(r, true)
  redis.call("HSET", keys.record, "n0", bytes)
  plainEvents(keys.events, g17(emax or 10000), runId, now, "r", r[TASK], attempt)
  -- (a like start, of a plain job's four fields without a spec before its record, whose packing
  -- but its token startedBytes cut, and kept for its completion, so that keepRunning keeps it:
  -- a copy of it then serves the next ones)
  local last = LAST_START
  if u and from == u[2] and last.bytes and last.from == from and RUNNING_BYTES[bytes] == r then
    LIKE_START.plain = { from = from, queue = queue, prefix = last.bytes, r = copyRecord(r), attempt = attempt,
      stalls = r[STALLS], task = r[TASK] }
  end
  return attempt, r[STALLS], r[TASK], spec, queues, v and v[11] or ""
end

-- field `f` of the run as startNode reads it: from what the call read ahead when the
-- run's record, nodes and specs are one hash (`oneHash`), else from key `key`
local function startField(M, oneHash, f, key)
  if oneHash then return M.pre[f] or nil end
  return redis.call("HGET", key, f)
end

-- the member of node n's lease under `token` in its queue's leases set: made only where a
-- start reads or ends it (a node that claim leased in the same call needs neither)
local function leaseMember(runId, n, token)
  return runId .. "#" .. digits(n) .. "#" .. digits(token)
end

-- node n's start, when it is such a member of run M (LIKE_START.M) not read or written yet in this
-- call: its record's bytes made from the like start's packing and its token, kept for its
-- next decode, its `started` event; what memberStarted answers, from the like
-- start's. nil, having written nothing, otherwise: no decode, no check and no packing for a
-- chord's members after the third of a claim (docs/benchmarks.md). (A node with a dependency
-- list goes startNode's way: its claim carries its dependencies' results)
local function memberStartedLike(M, n, ns, token, queue)
  local like = LIKE_START
  local field = "n" .. ns
  local pre = M.pre
  local raw = pre[field]
  if like.queue ~= queue or type(raw) ~= "string" or M.cache[n] ~= nil or M.wbuf[field] ~= nil
    or pre["d" .. ns] ~= false then return nil end
  -- (a spec before the record, its length in one byte: decodeNode's first case)
  local b, len = string.byte(raw, 1, 2)
  if b ~= 196 or not len or len + 2 >= #raw then return nil end
  local at = len + 2
  if string.sub(raw, at + 1) ~= like.from then return nil end
  pre[field] = nil
  local spec = string.sub(raw, 1, at)
  local bytes = spec .. like.prefix .. uintBytes(token)
  M.wbuf[field] = bytes
  nodeEventOf(M.k.events, M.emax, M.id, M.now, "r", n, like.task, like.attempt)
  return like.attempt, like.stalls, like.task, spec, like.queues, like.hdr
end

-- A chord member's start in a claim that opened its run already (its nodes after the first
-- of the run in the call): node n, leased in this call (no lease to check), queued or
-- retrying, with no dependency list and no deadline, its record's queue the one it was
-- claimed from: what startNode does for it (markStarted's writes and `started` event),
-- without startNode's calls: 6 % of the Redis instructions of a chord member's claim
-- (docs/benchmarks.md; plainjob.redis.test.ts replays the store's calls without it and
-- compares every key). Returns what its reply holds (start.lua's OK: attempt, stalls, task,
-- spec, queues, headers; no dependencies), as values: claim.lua puts the common ones in line
-- in its reply without a list made for them. nil, having written nothing, when it is not
-- such a node (its record read into M.cache by getNode, as startNode reads it): startNode
-- takes it from there. keys: record (= nodes = specs), events
local function memberStarted(M, n, ns, token, worker, queue)
  local pre = M.pre
  if LIKE_START.M == M then
    local attempt, stalls, task, spec, queues, hdr = memberStartedLike(M, n, ns, token, queue)
    if attempt ~= nil then return attempt, stalls, task, spec, queues, hdr end
  end
  -- (the bytes its record was decoded from here, when getNode decodes it: DECODED_BYTES)
  local fresh = M.cache[n] == nil
  local r = getNode(M, n)
  if not r or (r[ST] ~= "q" and r[ST] ~= "y") or (r[EXP] or 0) > 0 or pre["d" .. ns] ~= false then return nil end
  local queues = pre.queues or DEFAULT_QUEUES
  if queueList(queues)[r[QIDX]] ~= queue then return nil end
  -- (markStarted's)
  local attempt = r[ATT] + 1
  r[ST], r[ATT], r[STARTED], r[WORKER], r[DUE], r[TOK] = "r", attempt, M.now, worker, 0, token
  -- (its bytes made now, from the last start's packing when it can be: startedBytes)
  local from = fresh and DECODED_BYTES
  M.wbuf["n" .. ns] = from and startedBytes(r, from, token, M.now, worker) or r
  nodeEventOf(M.k.events, M.emax, M.id, M.now, "r", n, r[TASK], attempt)
  local spec, hdr = nodeSpec(M, n, r) or nil, pre.hdr or ""
  -- (a like start, whose packing but its token startedBytes cut: the next like member's, too)
  local last = LAST_START
  -- (and kept for its completion, its fields such that keepRunning keeps it: a copy of it then
  -- serves the next ones, memberStartedLike)
  if from and last.bytes and last.from == from and RUNNING_BYTES[M.wbuf["n" .. ns]] == r then
    local like = LIKE_START
    like.M, like.queue, like.from, like.prefix, like.r = M, queue, from, last.bytes, copyRecord(r)
    like.attempt, like.stalls, like.task, like.queues, like.hdr = attempt, r[STALLS], r[TASK], queues, hdr
  end
  return attempt, r[STALLS], r[TASK], spec, queues, hdr
end

-- starts node n of run `runId`, leased under `token` from queue `queue` (name) to `worker`
-- at `now`: see start.lua for what it checks and answers (its replies, as a list, their
-- codes from RC: start's reply codes by name, as strings).
-- keys: record, nodes, specs, results, work (the run's), shardWork, events, leases (of the queue)
--
-- `runs`: the runs this call started nodes of, by id (claim's), or nil (start's). A run met
-- again is not loaded again and its writes stay buffered until the caller flushes every
-- run in `runs` (flushRuns). `ahead`: the fields to read with the run's record when the
-- call loads it (`queues`, `hdr`, then the node fields of all the call's nodes of that
-- run), or nil (those and this node's); a node whose fields were not read so is read on
-- its own. `read`: what plainStart read of the run (in the layout of its HMGET), when it
-- found the run is not a plain job's: loadRun reads it from there (claim.lua)
local function startNode(RC, keys, runId, n, token, worker, now, queue, emax, leased, runs, ahead, read)
  -- the node's record, dependency list and spec and the run's queues and headers are read
  -- with the run's record, in one HMGET, when they share its hash
  local oneHash = keys.nodes == keys.record and keys.specs == keys.record
  local ns = digits(n)
  local M = runs and runs[runId]
  if M then
    -- (what an earlier node of this call found corrupt is not this node's)
    M.found = false
    if M.pre["d" .. ns] == nil then readAhead(M, { "n" .. ns, "d" .. ns, "s" .. ns }) end
    -- a chord's member after the first of its run in this claim
    if leased and oneHash and M.wbuf then
      local attempt, stalls, task, spec, queues, hdr = memberStarted(M, n, ns, token, worker, queue)
      if attempt then return { RC.OK, attempt, stalls, task, spec, queues, hdr, 1 } end
    end
  else
    local fields = ahead or { "queues", "hdr", "n" .. ns, "d" .. ns, "s" .. ns }
    M = loadRun(openRun(keys, {}, runId, now, true, emax), oneHash and fields or nil, read)
    -- (a run whose fields are corrupt is loaded for each of its nodes, as start does)
    if runs and oneHash and M and not M.found then
      bufferRun(M)
      runs[runId] = M
    end
  end
  local r = M and not M.found and getNode(M, n)
  -- `leased`: the caller (claim) leased it in this very call
  if not leased and not redis.call("ZSCORE", keys.leases, leaseMember(runId, n, token)) then
    -- this very start, re-sent after it stalled the node out: the same answer
    if r and r[ST] == "f" and r[TOK] == token and r[STALLS] > r[MAXST] then
      local more = (redis.call("ZSCORE", keys.shardWork, runId) and moreWork(M)) and 1 or 0
      return { RC.STALLED_OUT, more, startField(M, oneHash, "queues", keys.record) or DEFAULT_QUEUES }
    end
    return { RC.STALE }
  end
  if M and M.found then return { RC.CORRUPT, M.found[1], M.found[2] } end
  if not r then
    redis.call("ZREM", keys.leases, leaseMember(runId, n, token))
    return { RC.STALE }
  end
  -- the node's record points into the run's queue list: it must name the queue the node came from
  local queues = startField(M, oneHash, "queues", keys.record) or DEFAULT_QUEUES
  local name = queueList(queues)[r[QIDX]]
  if name ~= queue then
    return { RC.CORRUPT, "queues", "node " .. n .. " was claimed from queue " .. queue ..
      ", not the queue its record's index " .. r[QIDX] .. " names in the run's queue list" }
  end
  local st = r[ST]
  local again = st == "r" and r[TOK] == token -- this very start, re-sent
  if st == "r" and not again then
    if r[STALLS] + 1 > r[MAXST] then
      redis.call("ZREM", keys.leases, leaseMember(runId, n, token))
      r[STALLS] = r[STALLS] + 1
      addHistory(M, n, r, "stalled", nil)
      r[TOK] = token -- a late report of the stalled attempt is stale
      local err = errorValue("Stalled", "lease expired " .. r[STALLS] .. " times (maxStalls " .. r[MAXST] ..
        "): the worker running it died or stopped heartbeating")
      endNode(M, n, r, "f", err)
      listEnding(M, n, r, err)
      saveRun(M)
      return { RC.STALLED_OUT, 1, queues }
    end
  elseif st ~= "r" and st ~= "q" and st ~= "y" then
    redis.call("ZREM", keys.leases, leaseMember(runId, n, token))
    return { RC.STALE }
  elseif (r[EXP] or 0) > 0 and now >= r[EXP] then
    -- not started by its deadline: it ends expired instead (core's Machine.startNode)
    redis.call("ZREM", keys.leases, leaseMember(runId, n, token))
    local err = expiredError(r[EXP])
    endNode(M, n, r, "x", err)
    listEnding(M, n, r, err)
    saveRun(M)
    return { RC.EXPIRED, 1, queues }
  end
  local packed = startField(M, oneHash, "d" .. digits(n), keys.nodes)
  -- (no list: no dependencies, what depResults answers for it, {1}, made below without a table)
  local deps, why
  if packed then
    deps, why = depResults(M, n, packed)
    if not deps then return { RC.CORRUPT, "d" .. n, why } end
  end
  if not again then
    if st == "r" then
      r[STALLS] = r[STALLS] + 1
      addHistory(M, n, r, "stalled", nil)
    end
    markStarted(M, n, r, worker, token)
  end
  local out = { RC.OK, r[ATT], r[STALLS], r[TASK], nodeSpec(M, n, r), queues,
    startField(M, oneHash, "hdr", keys.record) or "" }
  if not deps then
    out[8] = 1
    return out
  end
  for i = 1, #deps do out[7 + i] = deps[i] end
  return out
end
