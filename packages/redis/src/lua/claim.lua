-- claim: leases up to `max` nodes across the worker's queues, highest
-- priority first, then arrival, among ready nodes and the parked nodes of
-- the tasks the worker names (park.lua); each lease carries a new fencing
-- token. Retries of these queues whose backoff ended are made ready first
-- (at most `promote` per queue), so a due retry needs no maintenance tick.
-- A request id makes a re-sent call (ioredis re-sends unanswered commands
-- after a reconnect; the worker retries a failed claim with the same id)
-- return the first call's reply instead of leasing more: no lease is orphaned.
-- Each node leased is started in the same call (includes/startnode.lua, as start.lua
-- does): one round trip per claim. The run keys of a leased node are built from
-- `runPrefix` (the shard's run key prefix: they share the shard's hash slot), as a claim
-- cannot know its runs before it pops them.
-- KEYS: tokens (the shard's fencing-token counter), seq, lastClaim (the worker's last
--   claim request, a string), shardWork, events, workerNames (the shard's worker numbers);
--   per worker queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- A paused queue (its `paused` key set, pauseQueue) is skipped: its due retries are made
-- ready, but none of its nodes is leased and no worker is woken for it.
-- ARGV: now, max, leaseMs, requestId ("" = none), part (index of this call within the
--   request), promote (limit per queue), worker (id), eventsMax, runPrefix, queueNames (the
--   worker's queues, a comma list in KEYS order), tasks (names
--   of the tasks the worker handles)
-- Replies: {OK, due, items...}, each item queue index, member "runId#node", token, then the
--   start's reply (see start.lua) as a list, or, for the common start (OK, the run's one
--   queue the queue it was claimed from, no headers, no dependencies), its attempt, stalls,
--   task and spec in line (an integer after the token tells the two apart: a list of eight
--   costs Redis and the client's reply parser more than four values); an item in line whose
--   queue index, attempt, stalls and task are those of the last one in line is sent as 0,
--   member, token, spec (each value packed costs Redis about 800 instructions: a chord's
--   members, a batch's plain jobs of one task). The items come packed,
--   {OK, due, cmsgpack.pack(items)}: one string of the same values (Packed.ts, unpackReply),
--   {OK, due} when there are none; due: when the claim leased fewer nodes than it asked
--   for, the earliest due time (epoch ms) in the queues' delayed sets, "-" when they are
--   empty (the worker about to wait needs no read of its own, RedisStore.nextDueAt); ""
--   when the claim was full, or is a re-sent one's answer
--@include promoteDue
--@include wake
--@include startnode

-- the worker's queue names, in QUEUES order
local queueNames = {}
for name in string.gmatch(A.queueNames, "[^,]+") do queueNames[#queueNames + 1] = name end

-- a member of every leases set, scored +inf (no lease expires then): longer than Redis's
-- zset-max-listpack-value (64 bytes by default, up to 256 supported), it keeps the set a
-- skiplist, where adding a lease costs a lookup, not a walk of the list and a copy
-- (docs/redis-layout.md, `leases`). Readers count and reap leases below +inf.
-- (one literal: a constant of the function, made once at FUNCTION LOAD, where string.rep made
-- it on every call, about 10,800 Redis instructions: 230 dashes after the label)
local LEASES_SKIPLIST = "(keeps this set a skiplist)--------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------"

-- the codes of a start's reply (start.lua's), nested in this reply
--@once
local START_CODES = { OK = "OK", STALE = "STALE", STALLED_OUT = "STALLED_OUT", EXPIRED = "EXPIRED", CORRUPT = "CORRUPT" }

-- the leased triples {queue index, member, token, ...} with each node started: each followed
-- by its start's reply, a list or the common one's values in line, after `due` (see Replies)
local function started(triples, leased, due)
  -- the reply's items after {OK, due}
  local out, no = {}, 0
  local sharedOf = {} -- queue index -> the shard's keys and the queue's leases, made once
  -- the runs started from, by id: a run met again (a chord's members) is loaded once and
  -- written once, at the end
  local runs = {}
  -- the run's queues and headers and the node fields (record, dependency list, spec) of each
  -- run's nodes, read with the run's record when the first of them starts: one HMGET per run
  local ahead = {}
  -- the worker's tag in the shard's table (includes/workers.lua), read when a node starts
  local worker
  -- each member's run id and node id (and its digits, as in the member), split once
  -- ("runId#node": the last `#`), by the member's place among the triples (a list: its
  -- indexes dense)
  local runIds, nodeIds, nodeNames = {}, {}, {}
  for i = 1, #triples, 3 do
    local member = triples[i + 1]
    -- (a node id of one digit, a plain job's "0" most often, found by the member's last two
    -- bytes, "#" and a digit: the pattern costs about 1,000 Redis instructions a member)
    local b1, b2 = string.byte(member, -2, -1)
    local at = b1 == 35 and b2 >= 48 and b2 <= 57 and #member - 1 or string.find(member, "#[^#]*$")
    local runId, ns = string.sub(member, 1, at - 1), string.sub(member, at + 1)
    local j = (i + 2) / 3
    -- (node 0 without strtod)
    local n = ns == "0" and 0 or ns + 0
    runIds[j], nodeIds[j], nodeNames[j] = runId, n, ns
    local fields = ahead[runId]
    -- (a node numbered from SPEC_IN_RECORD_NODES on is of a run that keeps its specs before
    -- its records, in n<i>: its s<i> is not read, nodeSpec reads one it finds absent there)
    local apart = n < SPEC_IN_RECORD_NODES
    if fields == nil and ns == "0" then
      -- (a node 0, the first of its run here, maybe a plain job's, whose start reads its run
      -- itself (plainStart): its fields are listed only when another node of the run follows)
      ahead[runId] = false
    elseif not fields then
      -- (made at its size, with the run fields startNode reads: most runs a claim meets have
      -- one node in it)
      ahead[runId] = fields == false
        and { "queues", "hdr", "n0", "d0", "s0", "n" .. ns, "d" .. ns, apart and "s" .. ns or nil }
        or { "queues", "hdr", "n" .. ns, "d" .. ns, apart and "s" .. ns or nil }
    else
      fields[#fields + 1] = "n" .. ns
      fields[#fields + 1] = "d" .. ns
      if apart then fields[#fields + 1] = "s" .. ns end
    end
  end
  -- the run, queue index, open run and queue name of the last member started as a member of
  -- an open run: the next member of that run from that queue, once a like start was made
  -- (LIKE_START), goes to memberStartedLike at once, without the lookups of the general way
  -- (memberStarted's first step)
  local likeRun, likeQ, likeM, likeQueue
  -- the queue index, attempt, stalls and task of the last item in line: an item in line with
  -- the same is sent as 0, member, token, spec (see Replies)
  local lq, la, ls, lt
  for i = 1, #triples, 3 do
    local q, member, token = triples[i], triples[i + 1], triples[i + 2]
    local j = (i + 2) / 3
    local runId, n = runIds[j], nodeIds[j]
    out[no + 1] = q
    out[no + 2] = member
    out[no + 3] = token
    no = no + 3
    -- (`read`: what a plain job's start read of a run that is none, for startNode)
    local attempt, stalls, task, spec, queues, hdr, read, keys, queue
    if runId == likeRun and q == likeQ and LIKE_START.M == likeM then
      queue = likeQueue
      attempt, stalls, task, spec, queues, hdr = memberStartedLike(likeM, n, nodeNames[j], token, queue)
    end
    if attempt == nil then
      local shared = sharedOf[q]
      if not shared then
        shared = { shardWork = K.shardWork, events = K.events, leases = QUEUES[q].leases }
        sharedOf[q] = shared
      end
      -- (a run met again from the same queue, a chord's members: the keys it was opened with)
      local open = runs[runId]
      keys = open and open.k.leases == shared.leases and open.k or runKeysAt(A.runPrefix, runId, shared)
      worker = worker or workerTag(K.workerNames, A.worker, A.now)
      queue = queueNames[q]
      -- a chord's member after the first of its run in this call (its run opened with these
      -- keys, its fields read ahead with the run's record): started here, without startNode's
      -- call and a list for its reply's values (startNode's first steps for it)
      local M = leased and open and keys == open.k and open.wbuf and open.pre and open
      local oneHash = keys.nodes == keys.record and keys.specs == keys.record
      if M and oneHash then
        M.found = false
        attempt, stalls, task, spec, queues, hdr = memberStarted(M, n, nodeNames[j], token, worker, queue)
        likeRun, likeQ, likeM, likeQueue = runId, q, M, queue
      elseif leased and oneHash and n == 0 and ahead[runId] == false then
        -- a node 0, its run's only node in this call: maybe a plain job's, started here without
        -- startNode's call and a list for its reply's values
        attempt, stalls, task, spec, queues, hdr = plainStart(keys, runId, token, worker, A.now, queue, A.eventsMax)
        if not attempt then read, stalls = stalls, nil end
      end
    end
    -- (the common start: its values in line, see Replies)
    local inline = attempt and spec and hdr == "" and queues == queue
    if attempt and not inline then
      -- (headers, a run queue list other than this queue, or no spec: start.lua's list)
      out[no + 1] = { START_CODES.OK, attempt, stalls, task, spec, queues, hdr, 1 }
      no = no + 1
    elseif not attempt then
      local s = startNode(START_CODES, keys, runId, n, token, worker, A.now, queue, A.eventsMax, leased, runs,
        ahead[runId] or nil, read)
      -- ({OK, attempt, stalls, task, spec, queues, headers, 1}: 1, no dependencies, see depResults)
      if s[1] == START_CODES.OK and s[5] and s[8] == 1 and s[9] == nil and s[7] == "" and s[6] == queue then
        inline, attempt, stalls, task, spec = true, s[2], s[3], s[4], s[5]
      else
        out[no + 1] = s
        no = no + 1
      end
    end
    if inline and q == lq and attempt == la and stalls == ls and task == lt then
      out[no - 2] = 0
      out[no + 1] = spec
      no = no + 1
    elseif inline then
      out[no + 1] = attempt
      out[no + 2] = stalls
      out[no + 3] = task
      out[no + 4] = spec
      no = no + 4
      lq, la, ls, lt = q, attempt, stalls, task
    end
  end
  -- (the call's last change to its records)
  flushRuns(runs, true)
  if no == 0 then return { R.OK, due or "" } end
  -- the items packed in one string, which Redis answers as one value instead of a reply item
  -- each, and the client reads without a reply parser's allocations (Packed.ts, unpackReply:
  -- 2-3 µs of Node's CPU less per node claimed)
  return { R.OK, due or "", cmsgpack.pack(out) }
end

-- the leased triples a call's record (below) holds: its triples, or, from one queue, its
-- first token and its members {first, {member...}} (the members leased under tokens first + 1,
-- first + 2, ... from queue 1, as the single path leases them)
local function leasedTriples(kept)
  local members = kept[2]
  if type(members) ~= "table" then return kept end
  local first, triples = kept[1], {}
  for j = 1, #members do
    triples[3 * j - 2] = 1
    triples[3 * j - 1] = members[j]
    triples[3 * j] = first + j
  end
  return triples
end

local now, leaseMs, part = A.now, A.leaseMs, A.part
-- the worker's last request (lastClaim): its id, a NUL byte, and the msgpack list of what its
-- calls leased by part (1-based: see leasedTriples); one GET here and one SET with the lease's
-- expiry below
local parts
if A.requestId ~= "" then
  local last = redis.call("GET", K.lastClaim)
  local head = A.requestId .. "\0"
  if last and string.sub(last, 1, #head) == head then
    parts = cmsgpack.unpack(string.sub(last, #head + 1))
    local mine = parts[part + 1]
    if mine then return started(leasedTriples(mine)) end
  end
end

-- a queue none of whose delayed, paused and parked keys exists (one EXISTS: the common case) has
-- no retry to make ready, is open and has no parked node: its three reads are left out (and its
-- earliest due time below; a claim adds nothing to a delayed set)
local quiet = {}
for i, q in ipairs(QUEUES) do
  quiet[i] = redis.call("EXISTS", q.delayed, q.paused, q.parked) == 0
  if not quiet[i] then promoteDue(q.delayed, q.ready, K.seq, now, A.promote) end
end

local tasks = A.tasks

-- the best parked node of the worker's tasks in a parked set: {score, parked member, "runId#node"}, or false
local function bestParked(parked)
  local best
  for _, t in ipairs(tasks) do
    local top = redis.call("ZRANGEBYLEX", parked, "[" .. t .. "\0", "(" .. t .. "\1", "LIMIT", 0, 1)[1]
    if top then
      local score = tonumber(string.sub(top, #t + 2, #t + 17))
      if not best or score < best[1] then best = { score, top, string.sub(top, #t + 19) } end
    end
  end
  return best or false
end

-- (a queue that is not quiet: one EXISTS and one ZCARD; parked sets are read only when not empty)
local parked, open = {}, {}
for i, q in ipairs(QUEUES) do
  if quiet[i] then
    open[i], parked[i] = true, false
  else
    open[i] = redis.call("EXISTS", q.paused) == 0
    parked[i] = open[i] and #tasks > 0 and redis.call("ZCARD", q.parked) > 0 and bestParked(q.parked)
  end
end

-- one open queue and no parked node to weigh: its best ready node is popped without a look
local single = #QUEUES == 1 and open[1] and not parked[1]
local emptied = {} -- queue index -> true: a pop found its ready set empty

-- the node to lease next, best priority then arrival: its queue index and member
-- ("runId#node"), taken out of its ready or parked set; nil when there is none (several
-- queues, or parked nodes to weigh: `single` takes its nodes in one pop below)
local function pick()
  local best, bestScore, fromParked
  for i, q in ipairs(QUEUES) do
    local top = open[i] and redis.call("ZRANGE", q.ready, 0, 0, "WITHSCORES") or {}
    if top[1] and (not bestScore or tonumber(top[2]) < bestScore) then
      best, bestScore, fromParked = i, tonumber(top[2]), false
    end
    local p = parked[i]
    if p and (not bestScore or p[1] < bestScore) then
      best, bestScore, fromParked = i, p[1], true
    end
  end
  if not best then return nil end
  local q = QUEUES[best]
  if fromParked then
    local p = parked[best]
    redis.call("ZREM", q.parked, p[2])
    parked[best] = bestParked(q.parked)
    return best, p[3]
  end
  return best, redis.call("ZPOPMIN", q.ready)[1]
end

local out = {}
-- what this call leased, as its record keeps it (leasedTriples): from one queue, its first token
-- and its members, which cmsgpack packs for about 700 Redis instructions a node less than their
-- triples (a claim of 144, docs/benchmarks.md)
local kept = out
local max = math.floor(A.max)
if single and max > 0 then
  -- one queue to take from: its best `max` nodes in one range, their tokens in one INCRBY and
  -- their leases in one ZADD, as `max` turns of the loop below would take and lease them
  -- (ZRANGE then ZREMRANGEBYRANK, not ZPOPMIN: ZPOPMIN answers each member's score, which
  -- Redis formats as a double and Lua reads back as a string, for nothing)
  local ready = QUEUES[1].ready
  local top = redis.call("ZRANGE", ready, "0", digits(max - 1))
  local k = #top
  if k < max then emptied[1] = true end
  if k > 0 then
    redis.call("ZREMRANGEBYRANK", ready, "0", digits(k - 1))
    local first = grants.takeTokens(K.tokens, k) - 1
    kept = { first, top }
    local expiry, leases, nl = int(now + leaseMs), { "+inf", LEASES_SKIPLIST }, 2
    for j = 1, k do
      local member, token = top[j], first + j
      leases[nl + 1] = expiry
      leases[nl + 2] = member .. "#" .. digits(token)
      nl = nl + 2
      out[3 * j - 2] = 1
      out[3 * j - 1] = member
      out[3 * j] = token
      -- (at most 1,000 members per ZADD: unpack's stack is bounded)
      if nl >= 2000 or j == k then
        redis.call("ZADD", QUEUES[1].leases, unpack(leases, 1, nl))
        nl = 0
      end
    end
  end
elseif not single then
  for _ = 1, max do
    local best, member = pick()
    if not best then break end
    local token = grants.takeTokens(K.tokens, 1)
    redis.call("ZADD", QUEUES[best].leases, "+inf", LEASES_SKIPLIST, int(now + leaseMs), member .. "#" .. token)
    out[#out + 1] = best
    out[#out + 1] = member
    out[#out + 1] = token
  end
end

-- work left: wake another idle worker. For parked nodes, only when some of
-- this worker's tasks are left (it was full): a claim that takes nothing
-- never wakes anyone for a parked node, so workers without its task are not
-- woken over and over for a node they cannot run.
for i, q in ipairs(QUEUES) do
  if parked[i] or (open[i] and not emptied[i] and redis.call("ZCARD", q.ready) > 0) then wakeWorker(q.wake) end
end

if A.requestId ~= "" then
  parts = parts or {}
  parts[part + 1] = kept
  redis.call("SET", K.lastClaim, A.requestId .. "\0" .. cmsgpack.pack(parts), "PX", int(leaseMs))
end
-- a claim that came up short: the earliest due time of the queues' delayed sets
local due = ""
if #out < 3 * max then
  local best
  for i, q in ipairs(QUEUES) do
    local top = not quiet[i] and redis.call("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
    if top and top[2] and (not best or tonumber(top[2]) < tonumber(best)) then best = top[2] end
  end
  due = best or "-"
end
-- (leased here: their leases need no check)
return started(out, true, due)
