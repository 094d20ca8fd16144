-- submitmany: writes several small runs of one shard in one call, each exactly as
-- one `submit` call of phase "begin+commit" writes it (includes/submitrun.lua):
-- each run its own reply, so that one run's EXISTS, CONFLICT or DUPLICATE leaves
-- the others written. A call re-sent after a reconnect (same nonces) is
-- answered as a re-sent `submit` is, run by run. A new plain job (one node in one queue, no
-- idempotency window, no time limit, no delay) is written by plainSubmit below, without
-- submitRun's tables, as submitRun would write it.
-- A run's own keys are not in KEYS but built from `runPrefix`, as claim builds them (they
-- share the shard's hash slot): its record (the run's hash, also its nodes, specs and
-- results: Keys.ts) `runPrefix .. runId`, its work `record .. ":work"`, its idempotency
-- key's string and the run that string names from the run's arguments (four keys a run
-- in KEYS were half the bytes of a plain job's call).
-- KEYS: shardWork, events, runList, seq, pending (the shard's); per run queue:
--   ready (its queue's other six keys are named as it is but the last word: Scripts.ts) (the queues of every run of the batch)
-- ARGV: count (runs in the batch), budget, eventsMax, runPrefix, runs (one msgpack array of
--   strings, Packed.ts; per run, flat, either short or full. Short, a run whose other fields
--   are all at their defaults (see SHORT): "", runId, now, queue index, then node 0's record
--   and spec (as a node's below); or, when its time, queue index and record are the last
--   short run's of the call (a batch's plain jobs of one task), "\255", runId, spec (each
--   argument read costs a Lua string made). Full: runId, now,
--   queues (comma list), queue indexes (comma list of 1-based positions in the
--   batch's queue keys, in the run's order), tags (JSON), retentionMs, windowMs, fingerprint,
--   nonce, output, seen, reuse, notBefore, expiresAt, headers, idempotency (the key's string's
--   Redis key, "" for a run without a key), namedRun (the run id `seen` names, "" when
--   nothing was seen), node count, then 4 values per node as submit's nodes)
-- Replies: {OK, reply of run 1, reply of run 2, ...}, each reply one of submit's:
--   {OK, more}, {EXISTS, runId}, {CONFLICT, runId}, {RETRY}, {GONE}, {DUPLICATE},
--   {ADOPT, runId}, but the integer 0 for {OK, 0} (the most common: one list fewer for Redis
--   to turn into its reply, about 4,000 instructions); the replies stop at a RETRY or an
--   ADOPT: the runs after it are not written (the caller sends them again once it has read
--   their keys again)
--@include submitrun

-- the values a run sent short stands for that no other constant names: its retention as the
-- client writes it (7 days, in ms: DEFAULT_RETENTION) and what a run reuses under its key
-- (read only under one: a short run has none); the client sends a run short only with that
-- retention (RedisStore.ts, isShort)
--@once
local SHORT = { retention = "604800000", reuse = "return-existing" }

--@once
local codes = { OK = R.OK, EXISTS = R.EXISTS, CONFLICT = R.CONFLICT, RETRY = R.RETRY, GONE = R.GONE,
  DUPLICATE = R.DUPLICATE, ADOPT = R.ADOPT }

-- a plain job's record as sent (its bytes) -> what plainSubmit makes of it: {its bytes once
-- queued, its task, attempt and priority}, or false when it is no plain job's. Of one call:
-- a batch's plain jobs of one task are sent as the same bytes, decoded, checked and packed
-- queued once (4.3 % of a plain job's Redis instructions, docs/benchmarks.md)
local LIKE = {}

-- whether this call's runs sent short are new, as the first of them that plainSubmit checks
-- found it (nil: none checked yet). A run sent short has an id the client made at random for
-- this call (RedisStore.ts, isShort: nonce ""), so none of them is there unless this call was
-- sent before (a re-send after a reconnect): then the first one checked is there too, as an
-- earlier send wrote the call's runs in order, up to the first RETRY or ADOPT, and writes every
-- run sent short it reaches. When that first one was not there, the others are not looked up:
-- one HEXISTS a call instead of one a plain job (docs/redis-layout.md, "Re-sent scripts")
local FRESH = nil

-- A new plain job, written without submitRun's tables (its arguments by label, its keys, the
-- run's state, openRun): the run whose fields start at f[at], when it is one
-- node in one queue, not there yet, with no idempotency window, no time limit and no delay,
-- and a budget is left. It writes, adds and answers exactly what submitRun, submitWhole and
-- plainJob do for it (plainjob.redis.test.ts replays the store's calls without it and
-- compares every key): its reply (0, as {OK, 0}: see Replies); or nil, having written
-- nothing, for submitRun to write the run. `toReady`: the call's accumulator of ready nodes (enqueue's)
-- (a run sent short: its id `sRun`, time `sNow`, queue index `sQueue`, record and spec
-- `list2` and `list3` as sent, every other field at its default; else nil and its fields
-- from f[at] on)
local function plainSubmit(f, at, toReady, sRun, sNow, sQueue, list2, list3)
  local short = sRun ~= nil
  if short then
    if A.budget <= 0 then return nil end
  else
    list2, list3 = f[at + 19], f[at + 20]
    if num(f[at + 17]) ~= 1 or f[at + 18] ~= "0" or f[at + 21] ~= "" or num(f[at + 6]) ~= 0
      or A.budget <= 0 then
      return nil
    end
  end
  local q = QUEUES[num(short and sQueue or f[at + 3])]
  if not q then return nil end
  local runId = short and sRun or f[at]
  local record = A.runPrefix .. runId
  if not (short and FRESH) then
    local there = redis.call("HEXISTS", record, "status") == 1
    if short and FRESH == nil then FRESH = not there end
    if there then return nil end
  end
  -- (what its record's bytes give, read once per call: plain jobs of one task are sent as the
  -- same bytes)
  local like = LIKE[list2]
  if like == nil then
    local node, from = plainRecord(list2)
    if node and node[QIDX] == 1 and node[DUE] == 0 then
      node[ST] = "q"
      like = { queuedBytes(node, from), node[TASK], node[ATT], node[PRIO] }
    else
      like = false
    end
    LIKE[list2] = like
  end
  if not like then return nil end
  local now = num(short and sNow or f[at + 1])
  local nows = g17(now)
  -- (runFields's list, but for a run whose other fields are all at their defaults, most plain
  -- jobs: written below without the list and its function)
  local raw, add
  if not short and not (f[at + 8] == "" and f[at + 2] == DEFAULT_QUEUES and f[at + 9] == DEFAULT_OUT
      and f[at + 7] == "" and f[at + 4] == "[]" and num(f[at + 5]) == DEFAULT_RETENTION and num(f[at + 12]) <= 0
      and num(f[at + 13]) <= 0 and f[at + 14] == "") then
    raw, add = runFields("running", nows, f[at + 17], f[at + 8], f[at + 2], f[at + 9], f[at + 7], f[at + 4],
      num(f[at + 5]), f[at + 5], 1, num(f[at + 12]), num(f[at + 13]), f[at + 14])
  end
  listRun(K.runList, runId)
  local bytes = like[1]
  if raw then
    add("n0", bytes)
    if list3 ~= "" then add("s0", list3) end
  end
  plainEvents(K.events, g17(A.eventsMax or 10000), runId, now, "q", like[2], like[3])
  -- (enqueue's: queued, no deadline, not delayed)
  local k = toReady.k
  toReady[3 * k + 1] = q
  toReady[3 * k + 2] = runId .. "#0"
  toReady[3 * k + 3] = like[4]
  toReady.k = k + 1
  wakeWorker(q.wake)
  if raw then
    redis.call("HSET", record, unpack(raw))
  elseif list3 ~= "" then
    redis.call("HSET", record, "status", "running", "created", nows, "n0", bytes, "s0", list3)
  else
    redis.call("HSET", record, "status", "running", "created", nows, "n0", bytes)
  end
  return 0
end

-- (the runs the call commits, listed as one entry at its end)
LISTED.on = true
local out = { R.OK }
local at = 1
-- the roots of every run, put in their ready sets together at the end (flushReady): they
-- take their arrival numbers in the batch's order, as one run after the other would
local toReady = { k = 0 }
local unhanded = { __index = function(_, label) error("script submitmany was not handed key " .. tostring(label), 2) end }
-- the shard's keys a run's submission uses beside its own (runKeysAt adds them)
local shared = { shardWork = K.shardWork, events = K.events, seq = K.seq }
-- the last run sent short: its time, queue index and record, which a run sent "\255" repeats
local sNow, sQueue, sList2
for r = 1, A.count do
  local f = A.runs
  local mark, sRun, sList3, width = f[at], nil, nil, 6
  if mark == "" then
    sRun, sNow, sQueue, sList2, sList3 = f[at + 1], f[at + 2], f[at + 3], f[at + 4], f[at + 5]
  elseif mark == "\255" then
    sRun, sList3, width = f[at + 1], f[at + 2], 3
  end
  local lean = plainSubmit(f, at, toReady, sRun, sNow, sQueue, sList2, sList3)
  if lean then
    out[#out + 1] = lean
    at = at + (sRun and width or 22)
  else
    -- (a run sent short: the full list it stands for)
    local from = at
    if sRun then
      f = { sRun, sNow, DEFAULT_QUEUES, sQueue, "[]", SHORT.retention, "0", "", "", DEFAULT_OUT, "",
        SHORT.reuse, "0", "0", "", "", "", "1", "0", sList2, sList3, "" }
      at = 1
    end
    -- (a table of its own, not runKeysAt's, whose shard keys come through its metatable: the
    -- one below refuses a label the call was not handed)
    local base = A.runPrefix .. f[at]
    local keys = { record = base, nodes = base, specs = base, results = base, shardWork = shared.shardWork,
      events = shared.events, seq = shared.seq }
    -- (a run without a key never reads its idempotency key: any key of the shard stands for it)
    local idem, named = f[at + 15], f[at + 16]
    keys.idempotency = idem == "" and keys.record or idem
    keys.namedRun = named == "" and keys.record or A.runPrefix .. named
    keys.runList, keys.pending, keys.work = K.runList, K.pending, keys.record .. ":work"
    setmetatable(keys, unhanded)
    local queues = {}
    for i in string.gmatch(f[at + 3], "%d+") do queues[#queues + 1] = QUEUES[tonumber(i)] end
    local n = tonumber(f[at + 17])
    local nodes = {}
    for i = at + 18, at + 17 + 4 * n do nodes[#nodes + 1] = f[i] end
    out[#out + 1] = submitRun(keys, queues, {
      runId = f[at], now = tonumber(f[at + 1]), phase = "begin+commit", total = n, queues = f[at + 2],
      tags = f[at + 4], retentionMs = tonumber(f[at + 5]), windowMs = tonumber(f[at + 6]),
      budget = A.budget, fingerprint = f[at + 7], nonce = f[at + 8], output = f[at + 9], seen = f[at + 10],
      reuse = f[at + 11], eventsMax = A.eventsMax, notBefore = tonumber(f[at + 12]),
      expiresAt = tonumber(f[at + 13]), headers = f[at + 14], nodes = nodes,
      totalS = f[at + 17], retentionS = f[at + 5], -- (as sent: written as they are)
      toReady = toReady,
    }, codes)
    -- the runs after one whose key changed are sent again, after it (they may meet it)
    local reply = out[#out]
    if reply[1] == R.RETRY or reply[1] == R.ADOPT then break end
    out[#out] = batchItem(reply)
    at = sRun and from + width or at + 18 + 4 * n
  end
end
flushReady(toReady, K.seq)
flushListed()
return out
