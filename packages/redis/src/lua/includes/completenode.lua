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

-- Two completions made without the run machinery (openRun, loadRun, the write buffer, the
-- node cache, the cascade, saveRun), when the run as read is running, its fields valid and
-- none of the rare ones set (finished, cfield, qbad, wk), a budget is left and node n runs
-- under lease `token` (held): a plain job's (plainEnd) and a chain step's (chainStep). Each
-- answers, writes and records what completeNode does, byte for byte but the order in which
-- the run's hash gets its new fields (plainjob.redis.test.ts replays the store's calls
-- without them and compares every key): about a quarter of the Redis instructions of a
-- plain job's claim and completion, and of a chain step's (docs/benchmarks.md). `v`: the
-- run's fields as loadRun reads them, then n<n>, p<n>, e<n>; `r`: node n's record, decoded.
-- keys: record (= nodes = specs = results), events, tokens; queues: leases, paused

-- the lease of node n under `token` ends (ZREM): false when it was not held
local function leaseEnds(queues, runId, ns, r, token)
  local q = queues[r[QIDX]]
  return q and redis.call("ZREM", q.leases, runId .. "#" .. ns .. "#" .. digits(token)) == 1
end

-- node n (record r) succeeded: what endNode changes in its record and records (its event;
-- with `plainEnded`, a plain job's node 0, also its run's `run-ended`, plainEvents; with
-- `step`, none: a chain step writes it with its dependent's, stepEvents)
local function succeeded(keys, runId, n, r, now, em, plainEnded, step)
  -- (r as decoded: written from the packing of the last like success when it can be,
  -- packRecord)
  succeedsFrom(r)
  r[ST], r[FINISHED], r[DUE] = "s", r[STARTED] > 0 and now - r[STARTED] or now, 0
  if step then return end
  if plainEnded then
    plainEvents(keys.events, em, runId, now, "s", r[TASK], r[ATT], true)
  else
    nodeEventOf(keys.events, em, runId, now, "s", n, r[TASK], r[ATT])
  end
end

-- node n's progress and error fields deleted, when they are there (flushRun's HDEL leaves out
-- those read absent)
local function deleteProgress(keys, v, ns)
  if v[11] and v[12] then
    redis.call("HDEL", keys.record, "p" .. ns, "e" .. ns)
  elseif v[11] or v[12] then
    redis.call("HDEL", keys.record, (v[11] and "p" or "e") .. ns)
  end
end

-- a plain job's node 0 succeeded: its run ends (saveRun's writes, its `run-ended` event
-- and, when a client waits for it, the PUBLISH); it is deleted after its retention (saveRun).
-- `v`: the run's fields as runAndNode reads them; nil for a plain job's four (status, n0,
-- created as `created`, s0: the others absent)
local function plainEnd(RC, keys, queues, runId, r, v, token, result, now, emax, span, created)
  -- (one node, none ended: `total` absent or 1, `ended` absent or 0, runCounts)
  if v and ((v[2] and v[2] ~= "1") or (v[3] and v[3] ~= "0")) or not leaseEnds(queues, runId, "0", r, token) then
    return nil, v
  end
  local em = g17(emax or 10000)
  succeeded(keys, runId, 0, r, now, em, true)
  if v and v[8] then endedRun(keys.events .. ":ended", runId) end
  -- (its spec, when kept there, before its record and its result after it: packRecord)
  RESULTS[r] = result
  -- (no `ended` when the run had none, as saveRun: a finished run's is its `total`)
  if v and v[3] then
    redis.call("HSET", keys.record, "n0", packRecord(r),
      "status", "succeeded", "ended", "1", "finished", finishedField(now, v[13]))
  else
    redis.call("HSET", keys.record, "n0", packRecord(r), "status", "succeeded", "finished",
      finishedField(now, v and v[13] or created))
  end
  -- (the attempt's trace span id, when traced, kept with the result as completeBody keeps it,
  -- and the run's `tr` marker)
  if span ~= "" then redis.call("HSET", keys.record, "t0", span, "tr", "1") end
  if v then
    deleteProgress(keys, v, "0")
    -- (maintenance deletes it after the default retention; another one is the key's expiry)
    if v[5] then redis.call("PEXPIRE", keys.record, int(num(v[5]))) end
  end
  return { RC.OK, 0 }
end

-- The last chord member memberSucceeded completed in this call the general way whose running
-- record's bytes were its spec, a packing and its token (a record of 15 fields, the token
-- last, as startedBytes makes them): its run (M), that packing but its token (`prefix`), a
-- copy of its record once succeeded (`r`), the packing of that copy but its token (`packed`,
-- made at the first like completion), its one dependent's id (`d`) and record's field
-- (`dfield`) and its queue's keys (`q`). A member of the same run whose running record is
-- the same packing behind its own spec, under its own token, completes the same way in the
-- same call (memberSucceededLike).
-- `step`: the last chain steps chainStep handed out so, made at the second of them (see there)
--@percall
local LIKE_SUCCESS = {}

-- a chain step: node n succeeded and its one dependent d, a plain edge's, waited on it
-- alone (pending 1, dependency list {n}), with no time limit: d is queued (resolveDependency,
-- queueNode: its `queued` event) and handed out to `worker` under a new lease (startHere:
-- its `started` event), its claim in the reply, the run going on. Only when the worker may
-- take it (nextMax, a queue it serves, not paused); else, or for a dependent that is not
-- such, nil and `v`, with d's id (digits) and its fields read (n<d>, d<d>, s<d>) once read
-- `shared`: r is the record kept for n's decode as like ones' (RUNNING_TOKENS), never changed,
-- and the last success of this call is like its (LAST_SUCCESS): it is taken out of the cache as
-- a decode takes it, and its success made from that one's packing, without a copy of it
local function chainStep(RC, keys, queues, runId, n, r, v, token, result, now, worker, nextMax, leaseMs, served,
    emax, span, shared)
  local d = r[NEXT][1]
  -- (counts, as shortCompletion checked; absent in a run of one node: runCounts)
  local total, ended = v[2] and num(v[2]) or 1, v[3] and num(v[3]) or 0
  if nextMax < 1 or type(d) ~= "number" or d < 0 or ended + 1 >= total then return nil, v end
  local ds = digits(d)
  -- (read with the run's fields when d is node n + 1, runAndNode's)
  local u = d == n + 1 and v.after or redis.call("HMGET", keys.record, "n" .. ds, "d" .. ds, "s" .. ds)
  -- d like the dependents the last steps of this call handed out (LIKE_SUCCESS.step, made at
  -- the second of them: the same step of like chains): waiting as the same bytes on n alone by
  -- the same list, in a run of the same queues, served the same, it is started from their
  -- packing, its lease aside, without a decode, a check or a copy (memberStartedLike's way)
  local E = LIKE_SUCCESS.step
  local like = E and u[1] == E.from and u[2] == E.deps and u[3] and d == E.d and n == E.n and queues == E.queues
    and served == E.served
  local dr, from, spec, dq, attempt, stalls, task
  if like then
    spec, dq, attempt, stalls, task = u[3], E.dq, E.attempt, E.stalls, E.task
  else
    dr = u[1] and decodeNode(u[1])
    -- (the bytes it was decoded from: its start is made from the last one's packing when it
    -- can be, startedBytes: the same step of many like chains waits as the same bytes)
    from = RECORD_BYTES
    -- (its spec before its record, or apart: see SPECS in includes/record.lua)
    spec = dr and (SPECS[dr] or u[3])
    if not spec or dr[ST] ~= "w" or dr[PEND] ~= 1 or dr[DUE] ~= 0 or (dr[NBF] or 0) ~= 0 or (dr[DLY] or 0) ~= 0
      or (dr[EXPIN] or 0) ~= 0 or (dr[EXP] or 0) ~= 0 or not u[2] or #u[2] > 10 then return nil, v, ds, u end
    local deps = unpackOne(u[2])
    dq = queues[dr[QIDX]]
    if type(deps) ~= "table" or #deps ~= 1 or deps[1] ~= n or not dq
      or not string.find(served, "," .. digits(dr[QIDX]) .. ",", 1, true) or queuePaused(dq) then
      return nil, v, ds, u
    end
    attempt, stalls, task = dr[ATT] + 1, dr[STALLS], dr[TASK]
  end
  local ns = digits(n)
  if not leaseEnds(queues, runId, ns, r, token) then return nil, v, ds, u end
  local em = g17(emax or 10000)
  local done
  if shared then
    -- (as decodeNode takes a hit out)
    local raw, last = v[10], LAST_SUCCESS
    RUNNING_BYTES[raw], RUNNING_TOKENS[raw], RUNNING_PREFIXES[raw] = false, false, false
    RECORD_BYTES = false
    if not last.bytes then last.bytes = string.sub(last.packed, 1, -#uintBytes(last.token) - 1) end
    done = last.bytes .. uintBytes(token) .. (result or "")
  else
    succeeded(keys, runId, n, r, now, em, false, true)
  end
  -- (n's success, d's queuing and d's start)
  stepEvents(keys.events, em, runId, now, n, r[TASK], r[ATT], d, task, attempt - 1)
  local lease = grants.takeTokens(keys.tokens, 1)
  local bytes
  if like then
    -- (kept for its completion without a copy of its own: E.r, copied by that decode under
    -- this lease's token)
    bytes = E.prefix .. uintBytes(lease)
    keepRunning(bytes, E.r, E.r, nil, E.prefix, lease)
  else
    dr[PEND], dr[ST], dr[ATT], dr[STARTED], dr[WORKER], dr[TOK] = 0, "r", attempt, now, worker, lease
    bytes = from and startedBytes(dr, from, lease, now, worker) or packRecord(dr, true)
  end
  -- (the lease's expiry, the same for every step of the call, and the run's count of ended
  -- nodes as digits kept: a number handed to redis.call is formatted "%.17g" each time)
  local expiry = now + leaseMs
  grants.addLease(dq.leases, expiry % 1 == 0 and digits(expiry) or int(expiry),
    runId .. "#" .. ds .. "#" .. digits(lease))
  if not shared then
    RESULTS[r] = result
    done = packRecord(r)
  end
  redis.call("HSET", keys.record, "n" .. ns, done, "n" .. ds, bytes, "ended", digits(ended + 1))
  -- (a like start, of a record without a spec before it, whose packing but its token
  -- startedBytes cut, and kept for its completion, so that keepRunning keeps it: a copy of it
  -- then serves the next like steps)
  local last = LAST_START
  if not like and from == u[1] and last.bytes and last.from == from and RUNNING_BYTES[bytes] == dr then
    LIKE_SUCCESS.step = { from = from, deps = u[2], d = d, n = n, queues = queues, served = served, dq = dq,
      prefix = last.bytes, r = copyRecord(dr), attempt = attempt, stalls = stalls, task = task }
  end
  -- (its dependency's result, and span id when traced, inline: depResults's answer)
  local claim = { d, lease, attempt, stalls, task, spec, 1, 1, result }
  -- (the attempt's trace span id, when traced, kept with the result and handed to d with it)
  if span ~= "" then
    redis.call("HSET", keys.record, "t" .. ns, span, "tr", "1")
    claim[10] = span
  end
  deleteProgress(keys, v, ns)
  return { RC.OK, 0, claim }
end

-- node n's one dependent (its id and record) when the cascade from n (record r, just
-- succeeded) would only take one pending dependency off it, leaving it waiting: a chord
-- member's completion but the last, its body read already in this call (M.cache), the
-- run with no work listed (the cascade would pop none) and a budget left. Else nil: the
-- cascade runs (includes/cascade.lua, process, item "D")
local function soleWaitingDependent(M, r, budget)
  if budget <= 0 or not M.workEmpty then return nil end
  local list = r[NEXT]
  local v = list[1]
  if #list ~= 1 or type(v) ~= "number" then return nil end
  local d = v >= 0 and v or -v - 1
  local dr = M.cache[d]
  if not dr or TERMINAL[dr[ST]] or dr[PEND] <= 1 then return nil end
  return d, dr
end

-- the fields of run `key` that loadRun reads (status, total, ended, finished, retention,
-- cfield, qbad, w, wk), then node n's record, progress and error (n<n>, p<n>, e<n>), as one
-- HMGET of them answers; of node 0 (a run of one node's, maybe), then the run's `created` (plainEnd
-- writes `finished` from it). Of a run of several nodes (a chain step, most often), while it
-- is running and its `rare` marker is "0" (markRare), those of finished, cfield, qbad, wk,
-- p<n> and e<n> are known absent without being read: in a listpack, every absent field's
-- read walks the whole list (a step of a 10-node chain: 318,000 → 295,000 Redis
-- instructions, docs/benchmarks.md). Without the marker, a second HMGET reads them.
-- `retention` and `w` are not read then either (v.later: a chain step, which never ends the
-- run, has no use for them); readLater reads them when the step goes the general way
local function runAndNode(key, n, ns)
  -- (node 0 of a run of several nodes too, a chain's first step: since 2026-12-06 not one HMGET
  -- of thirteen fields, seven of them absent, docs/benchmarks.md; node n + 1's record,
  -- dependency list and spec with them, for chainStep: a chain's next step, most often, v.after)
  local ds = digits(n + 1)
  local u = redis.call("HMGET", key, "status", "rare", "total", "ended", "n" .. ns, "n" .. ds, "d" .. ds, "s" .. ds)
  if u[2] == "0" and u[1] == "running" then
    return { u[1], u[3], u[4], false, false, false, false, false, false, u[5], false, false, later = true,
      after = { u[6], u[7], u[8] } }
  end
  local x = n == 0
    and redis.call("HMGET", key, "finished", "retention", "cfield", "qbad", "w", "wk", "p0", "e0", "created")
    or redis.call("HMGET", key, "finished", "retention", "cfield", "qbad", "w", "wk", "p" .. ns, "e" .. ns)
  return { u[1], u[3], u[4], x[1], x[2], x[3], x[4], x[5], x[6], u[5], x[7], x[8], x[9] }
end

-- what runAndNode left for later in `v` (retention, w), read into it. keys: record
local function readLater(key, v)
  if not v.later then return end
  local x = redis.call("HMGET", key, "retention", "w")
  v[5], v[8], v.later = x[1], x[2], nil
end

-- a completion of node n that one of the two shortcuts above makes, its reply; or nil and
-- what it read (v; and a chain step's dependent's id and fields, see chainStep), having
-- written nothing: completeNode takes it from there
local function shortCompletion(RC, keys, queues, runId, n, token, result, now, worker, nextMax, leaseMs, served,
    budget, emax, span)
  local ns = digits(n)
  -- (a plain job's four fields, read first for a node 0: none of the others is there)
  local u = n == 0 and plainFields(keys.record, "s0")
  if u then
    -- a plain job started from the packing of like ones (its record kept as theirs, under its
    -- token: LIKE_START.plain), completed after a like success in this call (LAST_SUCCESS, of
    -- the same packing and duration): its success made from that one's packing, as plainEnd
    -- and succeededBytes would make it, without the copy of its record a decode makes
    local raw, last = u[2], LAST_SUCCESS
    local S = budget > 0 and u[1] == "running" and RUNNING_TOKENS[raw] == token and RUNNING_BYTES[raw]
    local prefix = S and RUNNING_PREFIXES[raw]
    if prefix and last.from == prefix and S[ST] == "r" and #S[NEXT] == 0 and not RUNNING_SPECS[raw]
      and last.fin == (S[STARTED] > 0 and now - S[STARTED] or now) then
      -- (taken out as decodeNode takes a hit out)
      RUNNING_BYTES[raw], RUNNING_TOKENS[raw], RUNNING_PREFIXES[raw] = false, false, false
      RECORD_BYTES = false
      if leaseEnds(queues, runId, "0", S, token) then
        plainEvents(keys.events, g17(emax or 10000), runId, now, "s", S[TASK], S[ATT], true)
        if not last.bytes then last.bytes = string.sub(last.packed, 1, -#uintBytes(last.token) - 1) end
        redis.call("HSET", keys.record, "n0", last.bytes .. uintBytes(token) .. (result or ""), "status", "succeeded",
          "finished", finishedField(now, u[3]))
        if span ~= "" then redis.call("HSET", keys.record, "t0", span, "tr", "1") end
        return { RC.OK, 0 }
      end
      return nil, { u[1], false, false, false, false, false, false, false, false, u[2], false, false, u[3] }
    end
    local r = budget > 0 and u[1] == "running" and decodeNode(u[2])
    if r and r[ST] == "r" and r[TOK] == token and #r[NEXT] == 0 then
      local reply = plainEnd(RC, keys, queues, runId, r, nil, token, result, now, emax, span, u[3])
      if reply then return reply end
    end
    -- (in the layout of runAndNode's reads)
    return nil, { u[1], false, false, false, false, false, false, false, false, u[2], false, false, u[3] }
  end
  local v = runAndNode(keys.record, n, ns)
  if budget <= 0 or v[1] ~= "running" or v[4] or v[6] or v[7] or v[9] or (v[5] and not isCount(v[5])) then
    return nil, v
  end
  -- a step started from the packing of like ones (its record kept as theirs under its token:
  -- LIKE_SUCCESS.step, memberStartedLike), completed after a like success in this call
  -- (LAST_SUCCESS, of the same packing and duration): chainStep makes its success from that
  -- one's packing, without the copy of its record a decode makes
  local raw, last = v[10], LAST_SUCCESS
  local S = raw and RUNNING_TOKENS[raw] == token and RUNNING_BYTES[raw]
  local prefix = S and RUNNING_PREFIXES[raw]
  if prefix and last.from == prefix and S[ST] == "r" and #S[NEXT] == 1 and not RUNNING_SPECS[raw]
    and last.fin == (S[STARTED] > 0 and now - S[STARTED] or now) and (not v[2] or isCount(v[2]))
    and (not v[3] or isCount(v[3])) then
    return chainStep(RC, keys, queues, runId, n, S, v, token, result, now, worker, nextMax, leaseMs, served, emax,
      span, true)
  end
  local r = raw and decodeNode(raw)
  if not r or r[ST] ~= "r" or r[TOK] ~= token then return nil, v end
  if #r[NEXT] == 0 and n == 0 then return plainEnd(RC, keys, queues, runId, r, v, token, result, now, emax, span) end
  if #r[NEXT] == 1 and (not v[2] or isCount(v[2])) and (not v[3] or isCount(v[3])) then
    return chainStep(RC, keys, queues, runId, n, r, v, token, result, now, worker, nextMax, leaseMs, served, emax, span)
  end
  return nil, v
end


-- node n's completion under `token` with `result`, when it is such a member (see LIKE_SUCCESS)
-- not read or written yet in this call and its dependent d still waits on others: its record
-- written as the like completion's packing, its token and its result, without a decode, a
-- check of its fields or a packing: a tenth of a chord member's Redis instructions with
-- memberStartedLike (docs/benchmarks.md); the rest as memberSucceeded. nil, having written
-- nothing, otherwise
local function memberSucceededLike(M, RC, runId, n, ns, token, result, budget, span)
  local like = LIKE_SUCCESS
  local field = "n" .. ns
  local pre = M.pre
  local raw = pre[field]
  if type(raw) ~= "string" or M.status ~= "running" or budget <= 0 or not M.workEmpty or M.cache[n] ~= nil
    or M.wbuf[field] ~= nil then return nil end
  local dr = M.cache[like.d]
  if not dr or TERMINAL[dr[ST]] or dr[PEND] <= 1 then return nil end
  -- (a spec before the record, its length in one byte: decodeNode's first case)
  local b, len = string.byte(raw, 1, 2)
  if b ~= 196 or not len or len + 2 >= #raw then return nil end
  local at = len + 2
  local tb = uintBytes(token)
  if string.sub(raw, at + 1) ~= like.prefix .. tb then return nil end
  local packed = like.packed
  if not packed then
    -- (an array of 15 fields whose last is the token, as the running bytes were)
    local bytes, last = cmsgpack.pack(like.r), uintBytes(like.r[TOK])
    if string.byte(bytes, 1) ~= 159 or string.sub(bytes, -#last) ~= last then return nil end
    packed = string.sub(bytes, 1, -#last - 1)
    like.packed = packed
  end
  -- (getNode's and decodeNode's: its bytes read, and the copy kept for them taken out)
  pre[field] = nil
  if RUNNING_BYTES[raw] then
    RUNNING_BYTES[raw], RUNNING_SPECS[raw], RUNNING_PREFIXES[raw], RUNNING_TOKENS[raw] = false, false, false, false
  end
  if redis.call("ZREM", like.q.leases, runId .. "#" .. ns .. "#" .. digits(token)) == 0 then
    return RC.STALE, endEarly(M, budget)
  end
  local buf = M.wbuf
  if not M.bare then buf["p" .. ns], buf["e" .. ns] = false, false end
  if span ~= "" then
    buf["t" .. ns] = span
    buf.tr = "1"
  end
  buf[field] = string.sub(raw, 1, at) .. packed .. tb .. result
  nodeEventOf(M.k.events, M.emax, M.id, M.now, "s", n, like.r[TASK], like.r[ATT])
  M.ended = M.ended + 1
  M.dirty = true
  dr[PEND] = dr[PEND] - 1
  buf[like.dfield] = dr
  -- (the run unlisted already: by the like completion, memberSucceeded's.) saveRun's, for a
  -- run that goes on (its dependent d still waits) and lists no work (M.workEmpty, as
  -- checked above): the count of ended nodes, and a status changed in this call, buffered
  if M.status ~= M.status0 then buf.status = M.status end
  buf.ended = M.ended
  M.endedF = true
  return RC.OK, 0
end

-- A chord member's completion in a call that opened its run already (completemany's items of
-- one run after the first): node n, running under `token`, whose one dependent d, read in
-- this call (M.cache), keeps waiting on others, the run running with no work listed and a
-- budget left: what completeBody does for it (soleWaitingDependent's case), without its
-- calls, one buffered write after another: the lease ended, progress and error deleted (none
-- to delete in a run whose `rare` marker stood when the call read it: M.bare),
-- the result (and span id), the record succeeded and its `succeeded` event, the run's count
-- of ended nodes, d's pending count down. 8 % of the Redis instructions of a chord
-- member's completion (docs/benchmarks.md); plainjob.redis.test.ts replays the
-- store's calls without it and compares every key. Its reply's code and `more`, as values
-- (completemany puts the common {OK, 0} in its reply without a list made for it); or nil,
-- having written nothing of its own (node n's record read into M.cache by getNode, as
-- completeBody reads it first): completeBody takes it from there. keys: record (= nodes =
-- results), events; queues: leases
local function memberSucceeded(M, RC, runId, n, ns, token, result, budget, span)
  if LIKE_SUCCESS.M == M then
    local code, more = memberSucceededLike(M, RC, runId, n, ns, token, result, budget, span)
    if code ~= nil then return code, more end
  end
  -- (its bytes, when read ahead and not yet decoded: what the next like member is compared to)
  local raw = M.cache[n] == nil and M.wbuf["n" .. ns] == nil and M.pre["n" .. ns]
  local r = getNode(M, n)
  if not r or r[ST] ~= "r" or r[TOK] ~= token or M.status ~= "running" then return nil end
  local d, dr = soleWaitingDependent(M, r, budget)
  if not d then return nil end
  -- (takeLease's)
  local q = queueOf(M, r[QIDX])
  if not q or redis.call("ZREM", q.leases, runId .. "#" .. ns .. "#" .. digits(token)) == 0 then
    return RC.STALE, endEarly(M, budget)
  end
  local buf = M.wbuf
  -- (M.bare: the run has none, see completemany.lua)
  if not M.bare then buf["p" .. ns] = false end
  RESULTS[r] = result
  if span ~= "" then
    buf["t" .. ns] = span
    buf.tr = "1"
  end
  -- (endNode's, for a success; r as decoded, a member's record met once in a call: written
  -- from the packing of the last like success when it can be, packRecord)
  succeedsFrom(r)
  r[ST] = "s"
  r[FINISHED] = r[STARTED] > 0 and M.now - r[STARTED] or M.now
  r[DUE] = 0
  if not M.bare then buf["e" .. ns] = false end
  buf["n" .. ns] = r
  nodeEventOf(M.k.events, M.emax, M.id, M.now, "s", n, r[TASK], r[ATT])
  -- (its running bytes its spec, a packing and its token: the next like member's, too)
  local b, len = false, false
  if type(raw) == "string" and r[16] == nil then b, len = string.byte(raw, 1, 2) end
  if b == 196 and len and len + 2 < #raw then
    local rest, tb = string.sub(raw, len + 3), uintBytes(token)
    -- (an array of 15 fields whose last is the token)
    if string.byte(rest, 1) == 159 and #rest > #tb and string.sub(rest, -#tb) == tb then
      local like = LIKE_SUCCESS
      like.M, like.prefix, like.r, like.packed, like.d, like.q, like.dfield =
        M, string.sub(rest, 1, -#tb - 1), copyRecord(r), false, d, q, "n" .. digits(d)
    end
  end
  M.ended = M.ended + 1
  M.dirty = true
  -- (what completeBody does then for d: its pending count down, the run not listed)
  dr[PEND] = dr[PEND] - 1
  buf["n" .. digits(d)] = dr
  unlistRun(M)
  saveRun(M)
  return RC.OK, moreWork(M) and 1 or 0
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
-- the call opens it (`rare`, then the records of all the call's items of that run), or nil
-- (this node's record, progress and error; a node alone in its run's items, which may take
-- a shortcut); a node whose fields were not read so is read on its own
local function completeNode(RC, keys, queues, runId, n, token, result, now, worker, nextMax, leaseMs,
    served, budget, emax, span, runs, ahead)
  -- the run's writes are buffered (one HSET, one HDEL) and its node's record read with its
  -- record (one HMGET), with its progress and error fields: this completion deletes them,
  -- and one found absent needs no HDEL (flushRun)
  local ns = digits(n)
  local M = runs and runs[runId]
  if M then
    if M.cache[n] == nil and M.pre["n" .. ns] == nil then readAhead(M, { "n" .. ns, "p" .. ns, "e" .. ns }) end
    -- a chord's member after the first of its run in this call
    if M.wbuf then
      local code, more = memberSucceeded(M, RC, runId, n, ns, token, result, budget, span)
      if code then return { code, more } end
    end
  else
    -- a node alone in its run's items of this call: maybe a plain job's or a chain step's
    -- (several: the run's `rare` marker first, then their records, completemany's)
    local read, ds, dread
    if not ahead and keys.nodes == keys.record and keys.specs == keys.record and keys.results == keys.record then
      local short
      short, read, ds, dread = shortCompletion(RC, keys, queues, runId, n, token, result, now, worker, nextMax,
        leaseMs, served, budget, emax, span)
      if short then return short end
      if read then readLater(keys.record, read) end
    end
    local fields = ahead or { "n" .. ns, "p" .. ns, "e" .. ns }
    M = bufferRun(openRun(keys, queues, runId, now, false, emax))
    M = loadRun(M, M.wbuf and fields or nil, read)
    if not M then return { RC.STALE, 0 } end
    -- none of the run's nodes has progress or an error: memberSucceeded deletes neither, and
    -- this node's deletes need no HDEL (M.gone, flushRun)
    if M.pre and (M.pre.rare == "0" or M.pre.rare == "w") then
      M.bare = true
      M.gone = M.gone or {}
      M.gone["p" .. ns], M.gone["e" .. ns] = true, true
    end
    -- (the dependent's fields a chain step read: the cascade's prefetch does not read them again)
    if dread and M.wbuf then noteAhead(M, { "n" .. ds, "d" .. ds, "s" .. ds }, dread, 0) end
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
  if M.status == "cancelled" then
    local ready = {}
    addHistory(M, n, r, "cancelled", nil)
    endNode(M, n, r, "c", errorValue("Cancelled",
      "the run was cancelled while this node ran: its result was discarded"))
    local more = cascade(M, n, ready, budget)
    enqueue(M, ready, 1)
    saveRun(M)
    return { RC.CANCELLED, (more or moreWork(M)) and 1 or 0 }
  end
  if span ~= "" then
    -- the attempt's trace span id rides in the same HSET: dependents' spans link to it; the
    -- run's `tr` marker says some node recorded one (a wide node's dependencies are read
    -- with their span ids only then: depResults)
    put(M, "results", "t" .. digits(n), span)
    put(M, "record", "tr", "1")
  end
  -- (kept after its record by endNode's write: RESULTS in includes/record.lua)
  RESULTS[r] = result
  endNode(M, n, r, "s", nil)
  local w, wr = soleWaitingDependent(M, r, budget)
  if w then
    -- what the cascade does for it (one dependency fewer pending, the dependent still waits,
    -- the run taken out of the work set) and what follows it with nothing ready: a chord's
    -- members but the last, without the cascade's and the hand-out's tables
    wr[PEND] = wr[PEND] - 1
    putNode(M, w, wr)
    unlistRun(M)
    saveRun(M)
    return { RC.OK, moreWork(M) and 1 or 0 }
  end
  local ready = {}
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
  -- (nothing to queue: enqueue would make its tables for none)
  if #rest > 0 then enqueue(M, rest, 1) end
  saveRun(M)
  return { RC.OK, (more or moreWork(M)) and 1 or 0, unpack(claims) }
end
