-- completemany: completes many nodes of one shard in one call, each as complete.lua does
-- (includes/completenode.lua), in the order given: a worker sends together the
-- completions that finished while its previous call was in flight. Their runs' keys are
-- built from `runPrefix` and their queues' keys from `queuePrefix` (the shard's: they
-- share its hash slot), as the runs differ from one item to the next.
-- KEYS: shardWork, events, tokens, seq, workerNames (the shard's worker numbers)
-- ARGV: now, worker (id), leaseMs, budget, eventsMax, runPrefix, queuePrefix, items (one
--   msgpack array of strings, Packed.ts: groups of 8: runId, node, token, result (bytes),
--   nextMax, served (as complete's), the run's queues (a comma list, in the run's order),
--   span (as complete's, "" = none)), shared ("", or a msgpack array of the last four fields
--   of every item, which then come in groups of 4: each string read costs a Lua string made)
-- Replies: {OK, packed}: `packed` is cmsgpack.pack of the list of the items' replies, one per
--   item in order, each a complete's reply (see complete.lua) but the integer 0 for {OK, 0}
--   (the most common), up to and including the first that left work for `drain` (more = 1):
--   the caller sends the items after it again once it has drained that work. {OK} for none
--@include completenode

--@once
local CODES = { OK = "OK", REPLAYED = "REPLAYED", STALE = "STALE", CANCELLED = "CANCELLED" }
--@once
local QUEUE_LABELS = { "ready", "delayed", "leases", "wake", "parked", "expiring", "paused" }

-- the keys of each queue of a comma list of queue names, in its order (made once per list:
-- the items of a call mostly share their runs' queue list; the tables are only read)
local queueKeysOf = {}
local function queueKeys(names)
  local out = queueKeysOf[names]
  if out then return out end
  out = {}
  queueKeysOf[names] = out
  for name in string.gmatch(names, "[^,]+") do
    local q = {}
    for _, label in ipairs(QUEUE_LABELS) do q[label] = A.queuePrefix .. name .. ":" .. label end
    out[#out + 1] = q
  end
  return out
end

-- the reply's items: each completion's reply, 0 for the common {OK, 0}
local out = {}
local items = A.items
-- the items' width, and their last four fields when they share them (RedisStore.completeArgs;
-- the run's queues as their keys)
local width, sNext, sServed, sQueues, sSpan = 8
if A.shared ~= "" then
  local tail = cmsgpack.unpack(A.shared)
  width, sNext, sServed, sQueues, sSpan = 4, num(tail[1]), tail[2], queueKeys(tail[3]), tail[4]
end
-- the worker's tag in the shard's table (includes/workers.lua): what node records name
local worker = workerTag(K.workerNames, A.worker, A.now)
local shared = { shardWork = K.shardWork, events = K.events, tokens = K.tokens, seq = K.seq }
-- the runs opened so far, by id: the items of a call often share a run (a chord's members),
-- which is then loaded once and written once, at the end
local runs = {}
-- the node fields of each run's items (record, progress, error; see `rare` below), read with
-- the run's record when the call opens it: one HMGET per run
local ahead = {}
-- A run with several items (a chord's members) reads its `rare` marker with them instead
-- of their progress and error fields: while it is "0", none of its nodes has either
-- (markRare, docs/redis-layout.md `rare`), and its members' completions delete neither
-- (M.bare, completeNode). A run with one item (most runs a call meets: plain jobs, chain
-- steps) has none listed: completeNode reads its node's fields itself (its node in `single`
-- only, until another item of the run follows: one table written per item, not two)
local single = {}
for i = 1, #items, width do
  local runId, ns = items[i], items[i + 1]
  local fields = ahead[runId]
  if fields then
    fields[#fields + 1] = "n" .. ns
  elseif single[runId] then
    ahead[runId] = { "rare", "n" .. single[runId], "n" .. ns }
  else
    single[runId] = ns
  end
end
for i = 1, #items, width do
  local runId = items[i]
  local span = sSpan or items[i + 7]
  local open = runs[runId]
  local keys = open and open.k or runKeysAt(A.runPrefix, runId, shared)
  -- (the node id as a number: the client writes it as its digits, which name its fields;
  -- node 0, a plain job's, without strtod)
  local id = items[i + 1]
  local n = id == "0" and 0 or id + 0
  -- a chord's member after the first of its run in this call (its run opened, its fields read
  -- ahead with the run's record): completed here, without completeNode's call and a list for
  -- its reply (completeNode's first steps for it)
  local code, more
  if open and open.wbuf then
    -- (the id as sent is n's digits: the client writes a node id as String(n), as digits does)
    local ns = id
    if open.cache[n] ~= nil or open.pre["n" .. ns] ~= nil then
      code, more = memberSucceeded(open, CODES, runId, n, ns, items[i + 2] + 0, items[i + 3], A.budget, span)
    end
  end
  if code == CODES.OK and more == 0 then
    out[#out + 1] = 0
  else
    local reply = code and { code, more } or completeNode(CODES, keys, sQueues or queueKeys(items[i + 6]), runId, n,
      items[i + 2] + 0, items[i + 3], A.now, worker, sNext or num(items[i + 4]), A.leaseMs,
      sServed or items[i + 5], A.budget, A.eventsMax, span, runs, ahead[runId])
    out[#out + 1] = batchItem(reply)
    -- work left for `drain`: the caller drains it before the next items, as it would after a
    -- lone `complete`, so that each completion's cascade ends before the next one starts
    if reply[2] == 1 then break end
  end
end
-- (the call's last change to its records)
flushRuns(runs, true)
-- the items packed in one string, which Redis answers as one value instead of a reply item
-- each, and the client reads without a reply parser's allocations (Packed.ts, unpackReply)
if #out == 0 then return { R.OK } end
return { R.OK, cmsgpack.pack(out) }
