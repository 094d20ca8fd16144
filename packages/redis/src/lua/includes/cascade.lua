-- The cascade of core's Machine.ts (a node that ended resolves its dependents, a
-- failure skips them), with a work budget so that no call does unbounded work
-- (docs/guarantees.md §10). Work left over is pushed on the run's work list and
-- the run registered in the shard's work set; `drain` continues it.
--@include run
--@include enqueue

-- node n (record r) is ready at M.now: `queued`, held (DUE) until the latest of NBF and
-- now + DLY when that is later than now, its deadline (EXP) lowered to now + EXPIN (core's
-- Machine.readyTimes). keys: nodes
local function queueNode(M, n, r)
  r[ST] = "q"
  local due = r[NBF] or 0
  local dly = r[DLY] or 0
  if dly > 0 and M.now + dly > due then due = M.now + dly end
  if due > M.now then r[DUE] = due end
  local ein = r[EXPIN] or 0
  if ein > 0 then
    if r[EXPAT] == nil then r[EXPAT] = r[EXP] or 0 end
    if r[EXP] == 0 or M.now + ein < r[EXP] then r[EXP] = M.now + ein end
  end
  putNode(M, n, r)
end

-- one step of the cascade: dependent d of `from` has one dependency fewer pending; when it
-- was the last, d is ready (or ends with its run, when the run has ended; an error
-- callback's node is still made ready in a failed run; or `expired` when it is already
-- past its deadline). keys: nodes, results, record, events
local function resolveDependency(M, d, from, ready, stack)
  local r = getNode(M, d)
  if not r or TERMINAL[r[ST]] then return end
  r[PEND] = r[PEND] - 1
  if r[PEND] > 0 then putNode(M, d, r) return end
  -- an error callback's node (TOL 2) also runs after its run failed: never after a cancel
  if M.status == "running" or (M.status == "failed" and r[TOL] == 2) then
    queueNode(M, d, r)
    local exp = r[EXP] or 0
    if exp > 0 and M.now >= exp then
      local err = expiredError(exp)
      endNode(M, d, r, "x", err)
      if r[TOL] == 0 then failRun(M, d, err) end
      stack[#stack + 1] = "D:" .. digits(d) .. ":1"
      return
    end
    nodeEvent(M, d, r)
    ready[#ready + 1] = d
  else
    local kind = M.status == "cancelled" and "Cancelled" or "Skipped"
    endNode(M, d, r, M.status == "cancelled" and "c" or "k",
      errorValue(kind, "run " .. M.status .. " before this node could start (last upstream: node " .. from .. ")"))
    stack[#stack + 1] = "D:" .. digits(d) .. ":1"
  end
end

-- how node n is a dependent of node d (record rd): "e" through an error edge, "s" a settled
-- one, "p" a plain one
local function edgeKind(rd, n)
  local e = "e" .. n
  for _, v in ipairs(rd[NEXT]) do
    if v == e then return "e" end
    if v == -n - 1 then return "s" end
    if v == n then return "p" end
  end
  return "p"
end

-- re-drives node n (core's Machine.redriveRun): a node that did not succeed is `waiting`
-- again with a fresh retry budget (attempts and stalls 0), its deadline its absolute one
-- again (EXPIN counts anew once it is ready) and its dependencies not succeeded counted
-- pending; but a node that waits on an event that can no longer happen stays as it ended
-- (core's staysEnded): an error edge from a node that succeeded or stays ended, a plain edge
-- from one that stays ended. Its declared dependencies come before it, so they are re-driven
-- already: one still ended and not succeeded stays so. A dependency after it (a replaced
-- node's list holds its replacement's output nodes; a chord body's, the members added to
-- its chord) is re-driven later in the walk: it is pending unless it succeeded. Returns the
-- work done (1 + its dependencies read) and whether n has none pending. keys: nodes, results
local function redriveNode(M, n)
  local r = getNode(M, n)
  if not r or r[ST] == "s" then return 1, false end
  local packed = redis.call("HGET", M.k.nodes, "d" .. n)
  local deps = packed and unpackOne(packed)
  deps = type(deps) == "table" and expandDeps(deps, M.total) or {}
  local pending = 0
  for i = 1, #deps do
    local d = deps[i]
    local rd = type(d) == "number" and getNode(M, d)
    local st = rd and rd[ST]
    if st == "s" then
      if d < n and r[TOL] == 2 and edgeKind(rd, n) == "e" then return 1 + i, false end
    elseif st and d > n then
      pending = pending + 1
    elseif st and TERMINAL[st] then
      if edgeKind(rd, n) ~= "s" then return 1 + i, false end
    elseif st then
      pending = pending + 1
    end
  end
  r[ST] = "w"
  r[ATT] = 0
  r[STALLS] = 0
  r[FINISHED] = 0
  r[DUE] = 0
  r[PEND] = pending
  if r[EXPAT] ~= nil then r[EXP] = r[EXPAT] end
  put(M, "results", "e" .. n, false)
  putNode(M, n, r)
  M.ended = M.ended - 1
  M.dirty = true
  return 1 + #deps, pending == 0
end

-- Runs work items until the stack and the run's work list are empty or the
-- budget is spent; nodes made ready are added to `ready` (enqueue puts them in
-- their queues). Items: "D:<node>:<i>" resolve dependents of an ended node
-- from index i; "F:<node>" fail the run as that node's failure (its error record);
-- "R:<i>" enqueue roots from node i; "P:<i>:<j>" enqueue roots i..j the submission wrote
-- queued (then "R:<j + 1>"); "C:<i>" cancel unstarted
-- nodes from node i; "X:<i>" sweep a run stopped by a corrupt record from
-- node i; "V:<i>:<q>" re-drive nodes from node i (q: how many had none pending so far;
-- then "R:0" queues them, and the count is kept in the record's field `rdq`). Returns true
-- when work is left. keys: work, shardWork, and those of
-- getNode and endNode; queues: those of unqueue
local function process(M, stack, ready, budget)
  while true do
    local item = table.remove(stack)
    if not item then
      M.fromList = false
      if M.workEmpty then return false end
      item = redis.call("RPOP", M.k.work or M.k.record .. ":work")
      if not item then
        M.workEmpty = true
        if M.wk then
          M.wk = false
          put(M, "record", "wk", false)
        end
        return false
      end
      -- (a listed item: a corruption found on its way sweeps right after it, noteCorruption)
      M.fromList = true
    end
    if budget <= 0 then
      stack[#stack + 1] = item
      listWork(M, stack)
      M.fromList = false
      return true
    end
    -- (an item this call's cascade made is a table { kind, node, index }, read without a parse:
    -- a string's `[1]` is nil)
    local kind, a, b = item[1], item[2], item[3]
    if kind == nil then
      kind, a, b = string.match(item, "^(%a):(%d+):?(%d*)$")
      a = tonumber(a)
    end
    if kind == "D" then
      local r = getNode(M, a)
      local ok = r and r[ST] == "s"
      local list = r and r[NEXT] or {}
      local i = tonumber(b) or 1
      -- the dependents' records in one read: a lone plain dependent's (a chain's next step)
      -- with its dependency list and spec, which a completion hands out with it
      local v1 = list[1]
      if #list == 1 and type(v1) == "number" and v1 >= 0 then
        -- (a chord body read by an earlier member's completion in this call is not read again)
        if M.cache[v1] == nil then
          local ds = digits(v1)
          prefetchList(M, { v1 }, { "d" .. ds, "s" .. ds })
        end
      elseif #list > 1 then
        local ids = {}
        for j = i, math.min(#list, i + budget - 1) do
          local v = list[j]
          if type(v) == "number" then ids[#ids + 1] = v >= 0 and v or -v - 1 end
        end
        prefetchList(M, ids)
      end
      while i <= #list do
        if budget <= 0 then break end
        budget = budget - 1
        local v = list[i]
        -- "e<id>": an error edge, resolved when the node failed or expired, skipping otherwise
        local e = type(v) == "string" and tonumber(string.match(v, "^e(%d+)$"))
        if e then
          v = e
        end
        if type(v) ~= "number" then
          -- not a node id: nothing to resolve
        elseif v >= 0 then
          if (e and (r[ST] == "f" or r[ST] == "x")) or (not e and ok) then
            resolveDependency(M, v, a, ready, stack)
          else
            local dr = getNode(M, v)
            if dr and not TERMINAL[dr[ST]] then
              endNode(M, v, dr, "k", errorValue("Skipped",
                "upstream node " .. a .. " (" .. r[TASK] .. ") " .. STATE_NAME[r[ST]]))
              stack[#stack + 1] = "D:" .. digits(v) .. ":1"
            end
          end
        else
          resolveDependency(M, -v - 1, a, ready, stack)
        end
        i = i + 1
      end
      if i <= #list then
        -- resume this node before the dependents it pushed, as the model's loop does
        table.insert(stack, #stack + 1, "D:" .. digits(a) .. ":" .. digits(i))
      end
    elseif kind == "F" then
      -- a node that ended failed or expired after other work was listed (start.lua's
      -- listEnding) fails the run now, in its turn; its error is its record's
      budget = budget - 1
      local err = bufferedField(M, "results", "e" .. a)
      if err then failRun(M, a, err) end
    elseif kind == "R" then
      -- a walked node costs about twice a dependent: two units of budget each
      local last = math.min(M.total - 1, a + math.ceil(budget / 2) - 1)
      prefetchNodes(M, a, last)
      local buf = M.wbuf
      -- the nodes a submission wrote with a dependency list (submitWhole): not roots, passed
      -- undecoded (a chain's every step but the first; decoding a record is most of a walked
      -- node's cost)
      local waits = M.waits
      for n = a, last do
        if not (waits and waits[n]) then
          -- (the bytes of a record getNode decodes here, not one it had: DECODED_BYTES)
          DECODED_BYTES = false
          local r = getNode(M, n)
          local from = DECODED_BYTES
          -- (a failed run: the roots an error callback's replacement added)
          if r and (M.status == "running" or (M.status == "failed" and r[TOL] == 2)) and r[ST] == "w"
            and r[PEND] == 0 then
            -- a root already past its deadline is queued all the same: its claim or maintenance expires it
            queueNode(M, n, r)
            -- (its bytes as the first record queued from the same bytes packed: what the flush
            -- would pack; a later change puts the record again)
            if from and buf then buf["n" .. digits(n)] = queuedBytes(r, from) end
            nodeEvent(M, n, r)
            ready[#ready + 1] = n
          end
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = "R:" .. (last + 1) end
    elseif kind == "P" then
      -- nodes a..b, roots the submission wrote queued, all with the one record kept in the
      -- run's field `pq` (submit.lua, `queued`): each goes in its queue and is recorded as the
      -- R walk does a root it queues, without its record read, decoded, changed and written
      -- again (332 Lua operations per member of a wide chord's drain, 131 so, and no read or
      -- write of it: docs/benchmarks.md). A run no longer running leaves them waiting, as the
      -- R walk leaves a root it does not queue. Then the R walk from the node after them.
      local to = tonumber(b)
      local last = math.min(to, a + math.ceil(budget / 2) - 1)
      local tpl = M.pqr
      if tpl == nil then
        local raw = redis.call("HGET", M.k.record, "pq")
        tpl = raw and decodeRecord(raw) or false
        M.pqr = tpl
      end
      local q = tpl and queueOf(M, tpl[QIDX])
      -- the usual case, the first work of the call in a running run, the roots queued with no
      -- time limit: put in their ready set at once, numbered as enqueue and flushReady would
      -- number them (ahead of what the call queues after them), their `queued` events written
      -- short, one table for them all (about 7 % of a wide chord's Redis instructions, the drain's
      -- bookkeeping of each root: docs/benchmarks.md)
      local bulk = q and #ready == 0 and not M.toReady and M.status == "running" and tpl[ST] == "q"
        and tpl[PEND] == 0 and (tpl[EXP] or 0) == 0 and tpl[DUE] == 0
      if bulk then
        local count = last - a + 1
        local seq = redis.call("INCRBY", M.k.seq, count) - count
        local base = (16 - tpl[PRIO]) * PRIO_SPAN + seq - a + 1
        local prefix = M.id .. "#"
        local args, k = {}, 0
        for n = a, last do
          args[k + 1] = int(base + n)
          args[k + 2] = prefix .. digits(n)
          k = k + 2
          if k >= 2000 then
            redis.call("ZADD", q.ready, unpack(args, 1, k))
            k = 0
          end
        end
        if k > 0 then redis.call("ZADD", q.ready, unpack(args, 1, k)) end
        wakeWorker(q.wake)
        nodeEventOf(M.k.events, M.emax, M.id, M.now, tpl[ST], a, tpl[TASK], tpl[ATT], last)
      end
      for n = bulk and last + 1 or a, last do
        if M.status == "running" and tpl then
          -- (the one record stands for each: enqueue reads it, nothing in this call changes it)
          M.cache[n] = tpl
          nodeEvent(M, n, tpl)
          ready[#ready + 1] = n
        else
          local r = getNode(M, n)
          if r and r[ST] == "q" and r[PEND] == 0 then
            if M.status == "running" then
              nodeEvent(M, n, r)
              ready[#ready + 1] = n
            else
              -- (as the submission wrote a root: waiting, no fencing token)
              r[ST], r[TOK] = "w", nil
              putNode(M, n, r)
            end
          end
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < to then
        stack[#stack + 1] = { "P", last + 1, to }
      else
        put(M, "record", "pq", false)
        M.pqr = nil
        if to < M.total - 1 then stack[#stack + 1] = "R:" .. (to + 1) end
      end
    elseif kind == "V" then
      -- a cancel meanwhile: the nodes not re-driven yet stay as they ended, and the walk
      -- gives back the count of `ended` it held (see redrive.lua)
      if M.status ~= "running" then
        M.ended = M.ended + 1
        M.dirty = true
      else
        local q = tonumber(b) or 0
        local n = a
        while n < M.total and budget > 0 do
          local cost, free = redriveNode(M, n)
          budget = budget - cost
          if free then q = q + 1 end
          n = n + 1
        end
        if n < M.total then
          stack[#stack + 1] = "V:" .. n .. ":" .. q
        else
          -- the walk is done: it gives back the count of `ended` it held (see redrive.lua)
          M.ended = M.ended + 1
          M.dirty = true
          redis.call("HSET", M.k.record, "rdq", q)
          stack[#stack + 1] = "R:0"
        end
      end
    elseif kind == "C" or kind == "X" then
      local last = math.min(M.total - 1, a + math.ceil(budget / 2) - 1)
      local reason = kind == "X" and errorValue("Skipped", "a corrupt record (field " ..
        tostring(M.corruption) .. ") stopped the run before this node could start")
      prefetchNodes(M, a, last)
      for n = a, last do
        local r = getNode(M, n)
        local st = r and r[ST]
        if st == "w" or st == "q" or st == "y" then
          unqueue(M, n, r)
          endNode(M, n, r, kind == "X" and "k" or "c", reason or nil)
        end
      end
      budget = budget - 2 * (last - a + 1)
      if last < M.total - 1 then stack[#stack + 1] = kind .. ":" .. (last + 1) end
    end
  end
end

-- node n has ended (the caller ended it): runs the cascade from it, within `budget`;
-- returns true when work is left. keys: those of process
local function cascade(M, n, ready, budget)
  local r = M.cache[n]
  -- (a node without dependents has nothing to resolve: only work already listed runs)
  local stack = (budget > 0 and r and #r[NEXT] == 0) and {} or { { "D", n, 1 } }
  local more = process(M, stack, ready, budget)
  if not more then unlistRun(M) end
  return more
end

-- ends a call that stopped early (a stale report, a refused start): work that a corrupt
-- record found on the way queued (the sweep) runs now. Returns 1 when the run still has
-- work listed for `drain`, else 0. keys: those of process, enqueue and saveRun
local function endEarly(M, budget)
  if M.dirty then
    local ready = {}
    if not process(M, {}, ready, budget) then unlistRun(M) end
    enqueue(M, ready, 1)
    saveRun(M)
  end
  return (redis.call("ZSCORE", M.k.shardWork, M.id) and moreWork(M)) and 1 or 0
end
