-- A run as one script call sees it: its record and its node records.
--
-- `openRun` takes the keys the script was handed: `keys`, the run's and the
-- shard's keys by label, and `queues`, the keys of each of the run's queues
-- in the run's queue order ({ ready, delayed, leases, wake, parked, expiring, paused }). Every
-- function here and in the includes built on it reads keys only from the run
-- it is given; each names the labels it uses. A key table raises an error
-- naming a label its script was not handed (see Scripts.ts), so a function
-- that needs a key the script lacks fails loudly instead of writing elsewhere.
--   record, nodes, specs, results: the run's hash (one key today; node fields
--     n<i> records, s<i> specs, d<i> dependency lists, r<i> results, e<i>
--     errors, p<i> progress, h<i> history, x<i> the raw bytes of a corrupt
--     record that was replaced)
--   work: the run's work list        shardWork: the shard's work set (zset)
--   events: the shard's events stream (docs/events.md), trimmed to about M.emax entries
--   seq, tokens: the shard's arrival and fencing-token counters
--
-- Corrupt records: no script raises on a record it cannot decode (Redis
-- would keep the writes made before the error). A node record, a
-- dependency list or a run record field that does not decode fails its node
-- (the record is replaced by a valid `failed` one, the raw bytes kept in
-- x<i>) and its run with a CorruptRecord error, and the first corruption of
-- a run that is not cancelled sweeps it: work item "X" (includes/cascade.lua)
-- skips every node not started and takes it out of its queue. A run opened
-- read-only (start, release, park: scripts not handed the keys a repair
-- writes) only reports what it found (M.found: { field, why }).
--@include record
--@include events

local RUN_STATUS = { pending = true, running = true, succeeded = true, failed = true, cancelled = true }
-- the retention of a run without a `retention` field (the default, core's, is not written), or
-- whose field is corrupt: 7 days
--@const
local DEFAULT_RETENTION = 604800000
-- a run's `queues` and `out` when its hash has none: they are not written at their default
-- (docs/redis-layout.md), every node in queue "default", the output node 0 (msgpack of 0)
local DEFAULT_QUEUES, DEFAULT_OUT = "default", "\0"

-- run `runId` at `now` (epoch ms), its record not read yet (see loadRun); node
-- records decoded in this call are kept in M.cache, by node id: every change goes
-- through putNode on the same table, so a second read of a node costs no decode.
-- `emax`: about how many events the shard's events stream keeps (includes/events.lua)
-- Writes node records, specs and dependency lists from `list`, flat groups of
-- 4: id, field n<id>'s bytes (the record; or the spec, as a msgpack bin, then
-- the record: SPECS in includes/record.lua), the spec's bytes for field s<id>
-- ("" when it is in n<id>), dependency list bytes ("" for none); as submit
-- and replace send them. Uses keys: nodes, specs.
local function writeNodes(keys, list)
  local nodes, specs = {}, {}
  for i = 1, #list, 4 do
    nodes[#nodes + 1] = "n" .. list[i]
    nodes[#nodes + 1] = list[i + 1]
    if list[i + 3] ~= "" then
      nodes[#nodes + 1] = "d" .. list[i]
      nodes[#nodes + 1] = list[i + 3]
    end
    if list[i + 2] ~= "" then
      specs[#specs + 1] = "s" .. list[i]
      specs[#specs + 1] = list[i + 2]
    end
  end
  if #nodes > 0 then redis.call("HSET", keys.nodes, unpack(nodes)) end
  if #specs > 0 then redis.call("HSET", keys.specs, unpack(specs)) end
end

-- the keys of run `runId` whose hash key is `prefix .. runId`, with the shard's keys
-- `shared` (label → key) read through a metatable made once per `shared` (a table of four
-- fields made per run, not of nine: about 1,200 Redis instructions less a node claimed or
-- completed, docs/benchmarks.md): the batch scripts (claim, completemany) build them, as
-- they meet runs they could not name in KEYS (all in the shard's hash slot). Without its
-- `work` key: most runs a batch meets list no work (plain jobs, chain steps), and its name
-- made for each of them cost a plain job 1 % of its Redis instructions (docs/benchmarks.md);
-- its readers take `k.work or k.record .. ":work"` (the key Keys.ts names)
local function runKeysAt(prefix, runId, shared)
  local base = prefix .. runId
  local meta = shared.meta
  if not meta then
    meta = { __index = shared }
    shared.meta = meta
  end
  return setmetatable({ record = base, nodes = base, specs = base, results = base }, meta)
end

-- numbers as the strings redis.call would make of them ("%.17g"), each made once: a batch
-- script opens many runs at the same `now`, and every call formats its `eventsMax`. Kept
-- across calls (a function of the number alone); past G17_MAX kept, all are dropped
--@kept
local G17 = {}
local g17Kept = 0
--@const
local G17_MAX = 1024
local function g17(x)
  local s = G17[x]
  if not s then
    s = string.format("%.17g", x)
    if g17Kept >= G17_MAX then
      G17 = {}
      g17Kept = 0
    end
    G17[x] = s
    g17Kept = g17Kept + 1
  end
  return s
end

-- a run's `finished` field for its end at `now`: the ms since its `created` (that field's
-- value as read), a few bytes in its hash instead of nine (since 2026-12-05); `now` itself
-- when `created` is not a number or is 1e12 ms or more away. A reader takes a value of at
-- least 1e12 as an epoch ms and a smaller one as ms after `created` (Records.ts,
-- ABSOLUTE_TIME)
local function finishedField(now, created)
  local c = num(created)
  if not c or now - c >= 1e12 or now - c <= -1e12 then return g17(now) end
  local d = now - c
  return d % 1 == 0 and digits(d) or int(d)
end

-- a run's end as an epoch ms from its `finished` and `created` fields as read (finishedField's
-- inverse); nil when either is needed and is not a number
local function runEnd(finished, created)
  local f = tonumber(finished)
  if not f or f >= 1e12 then return f end
  local c = tonumber(created)
  return c and c + f
end

local function openRun(keys, queues, runId, now, readonly, emax)
  -- (now and emax also as the strings redis.call would make of them, made once)
  -- (every field a call may set is named here, false until set: the table is made at its size)
  return { k = keys, queues = queues, id = runId, now = now, readonly = readonly, cache = {}, dirty = false,
    emax = g17(emax or 10000), nows = g17(now), status = false,
    total = false, ended = false, finished = false, retention = false, corruption = false, qbad = false,
    loaded = false, found = false, status0 = false, ended0 = false, wbuf = false, wraw = false, pre = false,
    endedF = false, workEmpty = false, gone = false, toReady = false, unlisted = false, waited = false, wk = false,
    waits = false, bare = false, fromList = false }
end

-- Buffered writes of the run's hash (the hot paths: submit, start, complete). When the
-- script's record, nodes, specs and results keys are one hash (today's layout), `bufferRun`
-- makes put() gather the writes (field -> value; false deletes; a node record is kept as
-- its table and packed once, at the flush) and flushRun() send them as one HSET and one
-- HDEL: the last write of a field wins, as if each had been sent in turn. A buffered field
-- is read back only through the run's functions (getNode, bufferedField, depResults, which
-- lays the buffer over what it reads), or after a flush: callers flush before reading the
-- hash directly and before returning.
local function bufferRun(M)
  local k = M.k
  if k.record == k.nodes and k.record == k.specs and k.record == k.results then M.wbuf = {} end
  return M
end

-- sets field `field` of the run's hash key labelled `label` to `value` (false: deletes it),
-- buffered when the run buffers its writes. keys: `label`
local function put(M, label, field, value)
  if M.wbuf then
    M.wbuf[field] = value
  elseif value == false then
    redis.call("HDEL", M.k[label], field)
  else
    redis.call("HSET", M.k[label], field, type(value) == "table" and packRecord(value) or value)
  end
end

-- one of the run's rare fields (wk, cfield, qbad, p<n>, e<n>) may be set from now on: its
-- `rare` marker goes (a run of several nodes is written with it, runFields), so that a chain
-- step reads them all again (shortCompletion, docs/redis-layout.md `rare`). keys: record
local function markRare(M)
  M.rare0 = false
  put(M, "record", "rare", false)
end

-- an item of a batch script's reply (submitmany's, completemany's): the integer 0 for
-- {OK, 0}, the most common, else `reply` (one list fewer for Redis to turn into its reply,
-- about 4,000 instructions; Scripts.ts reads it back)
local function batchItem(reply)
  if #reply == 2 and reply[2] == 0 and reply[1] == "OK" then return 0 end
  return reply
end

-- sets fields of the run's hash key labelled `label`: pairs field, value (none false), in one
-- HSET when the run does not buffer its writes. keys: `label`
local function putMany(M, label, ...)
  if not M.wbuf then return redis.call("HSET", M.k[label], ...) end
  for i = 1, select("#", ...), 2 do
    local f, v = select(i, ...)
    M.wbuf[f] = v
  end
end

-- sends the buffered writes of the run's hash, one HSET and one HDEL (at most 1,000 fields
-- each). A deleted field that loadRun read ahead and found absent, and that no flush wrote
-- since (M.gone), is left out of the HDEL: it is absent already (a completion's p<n> and
-- e<n> mostly are, and then it needs no HDEL). `given`: the call changes none of the run's
-- records after this flush (it is the call's last), so a running record is kept for its next
-- decode as it is, not copied (packRecord's `given`). keys: record
local function flushRun(M, given)
  local buf = M.wbuf
  if not buf or (next(buf) == nil and not M.wraw) then return end
  -- (M.wraw: a list of fields and values written first, as they are: submitWhole's)
  local set, del, gone = M.wraw or {}, {}, M.gone
  local ns, nd = #set, 0
  M.wraw = nil
  for f, v in pairs(buf) do
    if v == false then
      if not (gone and gone[f]) then
        nd = nd + 1
        del[nd] = f
      end
    else
      if gone then gone[f] = nil end
      set[ns + 1] = f
      set[ns + 2] = type(v) == "table" and packRecord(v, given) or v
      ns = ns + 2
    end
    if ns >= 2000 then
      redis.call("HSET", M.k.record, unpack(set, 1, ns))
      ns = 0
    end
    if nd >= 1000 then
      redis.call("HDEL", M.k.record, unpack(del, 1, nd))
      nd = 0
    end
  end
  if ns > 0 then redis.call("HSET", M.k.record, unpack(set, 1, ns)) end
  if nd > 0 then redis.call("HDEL", M.k.record, unpack(del, 1, nd)) end
  M.wbuf = {}
end

-- sends the buffered writes of every run in `runs` (by id: the runs a batch script kept
-- open across its items, see completeNode and startNode); `given` as flushRun's
local function flushRuns(runs, given)
  for _, M in pairs(runs) do flushRun(M, given) end
end

-- field `field` of the run's hash key labelled `label` as this call left it (buffered or
-- stored), nil when absent. keys: `label`
local function bufferedField(M, label, field)
  local v = M.wbuf and M.wbuf[field]
  if v == false and M.wbuf then return nil end
  if v then return type(v) == "table" and cmsgpack.pack(v) or v end
  return redis.call("HGET", M.k[label], field)
end

-- the run's event: `run` (it failed or was cancelled; nodes may still be running) or
-- `run-ended` (every node ended), with its status. When a client waits for the run (field
-- `w`, see waitrun.lua), its id is also PUBLISHed on the shard's run-end channel (the
-- events key's name .. ":ended") when the call ends (includes/events.lua, endedRun): a
-- waiter wakes for its own run, not for every event.
-- keys: events
local function emit(M, kind)
  eventOf(M.k.events, M.emax, M.id, M.now, { kind == "run" and "R" or "E", M.status })
  if M.waited then endedRun(M.k.events .. ":ended", M.id) end
end

-- the tag of an error value (msgpack ErrorInfo); one that does not decode to an error
-- with a tag is a corrupt record
local function errorTag(err)
  local ok, e = pcall(cmsgpack.unpack, err)
  if ok and type(e) == "table" and type(e.tag) == "string" then return e.tag end
  return "CorruptRecord"
end

-- node n (record r) entered the state its record holds: the event of that kind (the state's
-- letter: w waiting, q queued, r started, y retrying, s succeeded, f failed, c cancelled,
-- k skipped, x expired), with node, task, attempt and, when given, an error tag. keys: events
local function nodeEvent(M, n, r, tag)
  if tag then
    eventOf(M.k.events, M.emax, M.id, M.now, { r[ST], tonumber(n), r[TASK], r[ATT], tag })
  else
    nodeEventOf(M.k.events, M.emax, M.id, M.now, r[ST], tonumber(n), r[TASK], r[ATT])
  end
end

-- the run ends failed (its first failure wins); n is the node that failed it, or nil.
-- keys: record, events
local function stopRun(M, n, err)
  if M.status ~= "running" and M.status ~= "pending" then return end
  M.status = "failed"
  M.dirty = true
  if n then
    putMany(M, "record", "status", "failed", "fnode", n, "err", err)
  else
    putMany(M, "record", "status", "failed", "err", err)
  end
  emit(M, "run")
end

-- keys: record, events
local function failRun(M, n, err)
  if M.status ~= "running" then return end
  stopRun(M, n, err)
end

-- the run is about to list work for `drain`: its field `wk` says so until a call finds the
-- list empty (process, includes/cascade.lua). A run loaded without `wk` has nothing listed
-- and is in no work set (loadRun): its calls skip the list's RPOP and the set's ZREM.
-- keys: record
local function markWork(M)
  M.workEmpty = false
  M.unlisted = false
  if not M.wk then
    M.wk = true
    put(M, "record", "wk", 1)
    -- (a run whose `rare` marker this call knows is "0", M.rare0: none of its rare fields is set
    -- but `wk`, marker "w", which a chain step's read takes as no marker and the completions
    -- of a chord's members as "0", docs/redis-layout.md)
    if M.rare0 then put(M, "record", "rare", "w") else markRare(M) end
  end
end

-- the run's work list is read whatever its `wk` says: the calls that end by taking the run
-- out of the work set when they leave nothing listed (drain, cancel, redrive, replace) must
-- not leave behind the work of a run listed by a version before the field (2026-12-03)
local function readWorkList(M)
  M.workEmpty, M.unlisted = false, false
end

-- the first corruption of a run that is not cancelled queues the sweep: as the model sweeps at
-- the end of the transition that found it, after the work that transition's item leaves, when
-- the cascade found it on the way of an item taken from the list (M.fromList: the items listed
-- after it are later transitions', such as the second of two nodes a claim stalled out: their
-- cascades skip nothing the sweep should); else after any work already listed. keys: record,
-- work, shardWork
local function noteCorruption(M, field)
  if M.corruption then return end
  M.corruption = field
  put(M, "record", "cfield", field)
  markRare(M)
  if M.status ~= "cancelled" then
    markWork(M)
    redis.call(M.fromList and "RPUSH" or "LPUSH", M.k.work or M.k.record .. ":work", "X:0")
    redis.call("ZADD", M.k.shardWork, M.nows, M.id)
  end
end

-- takes the run out of the shard's work set: it has nothing listed for `drain`. Once per
-- call until work is listed again (M.unlisted): a batch script meets a run many times.
-- keys: shardWork
local function unlistRun(M)
  if M.unlisted then return end
  redis.call("ZREM", M.k.shardWork, M.id)
  M.unlisted = true
end

-- lists work items for `drain`, after any already listed (`drain` takes the last first),
-- and registers the run in the shard's work set. keys: work, shardWork
local function listWork(M, items)
  markWork(M)
  for i = 1, #items do
    local item = items[i]
    -- (a table { kind, node, index } is an item made by this call's cascade: a string's `[1]` is nil)
    if item[1] ~= nil then item = item[1] .. ":" .. digits(item[2]) .. ":" .. digits(item[3]) end
    redis.call("RPUSH", M.k.work or M.k.record .. ":work", item)
  end
  redis.call("ZADD", M.k.shardWork, M.nows, M.id)
end

-- true when the run still has work listed (`drain` continues it); M.workEmpty: this call
-- found the list empty and listed nothing since. keys: work
local function moreWork(M)
  if M.workEmpty then return false end
  return redis.call("LLEN", M.k.work or M.k.record .. ":work") > 0
end

-- keys: nodes
local function putNode(M, n, r)
  M.cache[n] = r
  put(M, "nodes", "n" .. digits(n), r)
end

-- ends node n in `state`, with error bytes or nil (an event; a failure's names the
-- error's tag). keys: nodes, results, events
local function endNode(M, n, r, state, err)
  r[ST] = state
  r[FINISHED] = r[STARTED] > 0 and M.now - r[STARTED] or M.now
  r[DUE] = 0
  put(M, "results", "e" .. digits(n), err or false)
  if err then markRare(M) end
  putNode(M, n, r)
  nodeEvent(M, n, r, (state == "f" or state == "x") and err and errorTag(err) or nil)
  M.ended = M.ended + 1
  M.dirty = true
end

-- node n's own record is corrupt: it becomes a valid failed record (the raw bytes kept in
-- x<n>). keys: record, nodes, results, work, shardWork, events
local function replaceNode(M, n, raw, why)
  redis.call("HSET", M.k.nodes, "x" .. n, raw)
  local r = { "f", 0, 0, 0, 0, 0, "", 0, 0, 0, 0, 0, {}, "?", 0 }
  -- (the spec before the bytes, when whole, stays before the new record: see SPECS)
  local at = specLength(raw, string.byte(raw, 1))
  if at and at > 0 then SPECS[r] = string.sub(raw, 1, at) end
  local field = "n" .. n
  local err = corruptError(M.k.record, field, why)
  endNode(M, n, r, "f", err)
  stopRun(M, n, err)
  noteCorruption(M, field)
  return r
end

-- the bytes getNode decoded last (a walk that sets it to false before a getNode tells a
-- record decoded then from one it had)
local DECODED_BYTES = false

-- node n's record, or nil when it has none; a corrupt one is replaced (replaceNode), or
-- reported in M.found when the run is read-only or its record was not loaded. keys: nodes
-- (and those of replaceNode)
local function getNode(M, n)
  local r = M.cache[n]
  if r then return r end
  local field = "n" .. digits(n)
  -- its bytes as this call wrote them (submit, buffered), or as loadRun read them ahead
  local raw = M.wbuf and M.wbuf[field]
  if type(raw) ~= "string" then
    local pre = M.pre
    if pre and pre[field] ~= nil then
      raw = pre[field]
      pre[field] = nil
    else
      raw = redis.call("HGET", M.k.nodes, field)
    end
  end
  if not raw then return nil end
  local why
  r, why = decodeNode(raw)
  if r then
    M.cache[n] = r
    DECODED_BYTES = RECORD_BYTES
    return r
  end
  if M.readonly or not M.loaded then
    M.found = M.found or { field, why }
    return nil
  end
  return replaceNode(M, n, raw, why)
end

-- reads the records of nodes `ids` (a list) that this call has not read, written or been
-- handed (M.pre: submit's), with one HMGET per 500, into M.pre (getNode takes them from
-- there): a walk over many nodes (roots queued at submit, a cancel's or a sweep's, a
-- node's dependents) reads them in a few commands. `more`: fields to read with them, when
-- some record is read (a lone dependent's list and spec, which a completion hands out
-- with it). keys: nodes
local function prefetchList(M, ids, more)
  local fields, buf = {}, M.wbuf
  local pre = M.pre or {}
  M.pre = pre
  for i = 1, #ids do
    local n = ids[i]
    local f = "n" .. digits(n)
    if M.cache[n] == nil and pre[f] == nil and not (buf and type(buf[f]) == "string") then
      fields[#fields + 1] = f
    end
  end
  if more and #fields > 0 then
    for i = 1, #more do
      if pre[more[i]] == nil then fields[#fields + 1] = more[i] end
    end
  end
  for i = 1, #fields, 500 do
    local to = math.min(i + 499, #fields)
    local v = redis.call("HMGET", M.k.nodes, unpack(fields, i, to))
    for j = i, to do pre[fields[j]] = v[j - i + 1] end
  end
end

-- prefetchList of the nodes first..last. keys: nodes
local function prefetchNodes(M, first, last)
  local ids = {}
  for n = first, last do ids[#ids + 1] = n end
  prefetchList(M, ids)
end

-- field `field` (a dependency list d<n> or a spec s<n>: fields no transition writes but
-- submit and replace) of the run's hash key labelled `label`, from M.pre when this call
-- read it ahead (prefetchList), else read now; false when absent. keys: `label`
local function aheadField(M, label, field)
  local pre = M.pre
  local v = pre and pre[field]
  if v ~= nil then return v end
  return redis.call("HGET", M.k[label], field)
end

-- the spec of node n (record r, decoded): before its record in field n<n> (SPECS in
-- includes/record.lua), else in its own field s<n> (read ahead, or read here); false when it
-- has none. keys: specs
local function nodeSpec(M, n, r)
  return SPECS[r] or aheadField(M, "specs", "s" .. digits(n))
end

-- node n's spec (record r, decoded) replaced by spec bytes `spec`: where it is kept, before
-- its record (written when the record is put next) or in field s<n>. keys: specs
local function replaceSpec(M, n, r, spec)
  if SPECS[r] then
    SPECS[r] = specBin(spec)
  else
    redis.call("HSET", M.k.specs, "s" .. digits(n), spec)
  end
end

-- how many nodes a run has, when its `total` field is corrupt: the n<i> fields are
-- numbered from 0. keys: nodes
local function probeTotal(M)
  if redis.call("HEXISTS", M.k.nodes, "n0") == 0 then return 0 end
  local hi = 1
  while redis.call("HEXISTS", M.k.nodes, "n" .. hi) == 1 do hi = hi * 2 end
  local lo = hi / 2 -- n<lo> exists, n<hi> does not
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    if redis.call("HEXISTS", M.k.nodes, "n" .. mid) == 1 then lo = mid else hi = mid end
  end
  return hi
end

local function isCount(v)
  local x = num(v)
  return x ~= nil and x >= 0 and x == math.floor(x)
end

-- a run's `total` and `ended` from their fields as read (HMGET's answers, `finished` the
-- third): since 2026-12-05 a run of one node keeps no `total` (absent: 1) and, but on a rare
-- path (a node ended while its run went on), no `ended` (absent: 0, or `total` once the run
-- finished), docs/redis-layout.md. Each is nil when present and not a count.
local function runCounts(totalF, endedF, finishedF)
  local total = totalF and isCount(totalF) and num(totalF) or (not totalF and 1 or nil)
  local ended
  if endedF then
    ended = isCount(endedF) and num(endedF) or nil
  else
    ended = finishedF and total or 0
  end
  return total, ended
end

-- reads the run record (once per script; saveRun flushes it); nil when the run does not
-- exist. A corrupt field fails the run; a corrupt count (total, ended) ends it at once
-- (saveRun sets `finished`), as what has ended can no longer be counted; nodes still
-- running finish on their own. Read-only: reported in M.found. keys: record, and to fail
-- the run those of stopRun, noteCorruption and probeTotal
-- keeps fields `ahead` of the run's hash, read as `v` from index `at` on, in M.pre (getNode
-- reads a node record there before it reads the hash); those found absent are noted in
-- M.gone, for flushRun: a buffered delete of one needs no HDEL
local function noteAhead(M, ahead, v, at)
  local pre = M.pre or {}
  M.pre = pre
  for i = 1, #ahead do
    local x = v[at + i]
    pre[ahead[i]] = x
    if not x and M.wbuf then
      M.gone = M.gone or {}
      M.gone[ahead[i]] = true
    end
  end
end

-- reads fields `ahead` of a run already loaded in this call (see noteAhead): a batch script
-- that meets the run again (completemany) reads only the fields of its next node. keys: record
local function readAhead(M, ahead)
  noteAhead(M, ahead, redis.call("HMGET", M.k.record, unpack(ahead)), 0)
end

-- The fields of run hash `key` when it holds a plain job's four and no other (status, n0,
-- created and `fourth`, as submitted: s0): {status, n0, created, fourth}; else nil. A plain
-- job's run is read so, its absent fields not named: an HLEN and an HMGET of four fields cost
-- Redis about half of the HMGET of 13 or 14 that names the fields such a run never has (about
-- 2,000 instructions a field, there or not: docs/benchmarks.md). Any other run costs the HLEN.
local function plainFields(key, fourth)
  if redis.call("HLEN", key) ~= 4 then return nil end
  local u = redis.call("HMGET", key, "status", "n0", "created", fourth)
  if u[1] and u[2] and u[3] and u[4] then return u end
  return nil
end

local function loadRun(M, ahead, read)
  -- (`read`: what the caller's HMGET of the same fields answered, a plain job's shortcut that
  -- found the run is not one: plainStart, shortCompletion)
  local v = read
  if ahead then
    v = v or redis.call("HMGET", M.k.record, "status", "total", "ended", "finished", "retention", "cfield", "qbad",
      "w", "wk", unpack(ahead))
    M.pre = {}
    noteAhead(M, ahead, v, 9)
  else
    v = v or redis.call("HMGET", M.k.record, "status", "total", "ended", "finished", "retention", "cfield", "qbad",
      "w", "wk")
  end
  -- (no `wk`: no work listed, so no RPOP of the list and no ZREM from the work set; see markWork)
  M.wk = v[9] ~= false
  if not M.wk then
    M.workEmpty = true
    M.unlisted = true
  end
  -- (every run has `status` and `total`; the key names the run, which has no `id` field since
  -- 2026-12-03, and one written before is not read)
  if not v[1] and not v[2] then return nil end
  M.waited = v[8] ~= false
  M.status, M.finished = v[1], v[4]
  M.total, M.ended = runCounts(v[2], v[3], v[4])
  -- (as loaded: saveRun writes what changed; `ended` as a number, nil when corrupt; endedF:
  -- the field is there, which saveRun keeps up to date when the run ends)
  M.ended0, M.status0, M.endedF = M.ended, v[1], v[3] ~= false
  M.retention, M.corruption, M.qbad = DEFAULT_RETENTION, v[6], v[7] == "1"
  if v[5] then M.retention = num(v[5]) end
  local bad
  if not RUN_STATUS[v[1]] then bad = { "status", "unknown status " .. tostring(v[1]) }
  elseif not M.total then bad = { "total", "not a count: " .. tostring(v[2]) }
  elseif not M.ended then bad = { "ended", "not a count: " .. tostring(v[3]) }
  elseif not M.retention or M.retention < 0 then bad = { "retention", "not a duration: " .. tostring(v[5]) }
  end
  if bad and M.readonly then
    M.found = M.found or bad
    return M
  end
  M.loaded = true
  if not bad then return M end
  local err = corruptError(M.k.record, bad[1], bad[2])
  if bad[1] == "status" then M.status = "running" end -- unknown: fail it below
  if bad[1] == "retention" then M.retention = DEFAULT_RETENTION end
  if bad[1] == "total" or bad[1] == "ended" then
    M.total = probeTotal(M)
    M.ended = M.total
    put(M, "record", "total", M.total)
  end
  put(M, "record", "retention", M.retention)
  stopRun(M, nil, err)
  noteCorruption(M, bad[1])
  M.dirty = true
  return M
end

-- writes back what changed of the run record; once every node has ended and no work is
-- listed for `drain`, the run ends (an event), and is deleted after its retention (by
-- maintenance, or by key expiry for a retention other than the default).
-- Work listed when the last node ends (a claim whose nodes stalled out together: the
-- cascade of one, then "F:<node>" for the other, startnode.lua's listEnding) may still
-- fail the run: it ends in the `drain` call that empties its list, as in the model, where
-- each transition runs whole and the run ends after the last. keys: record, events, work
local function saveRun(M)
  local ending = M.ended >= M.total and not M.finished
  if not M.dirty and not ending then return end
  if ending and not moreWork(M) then
    M.finished = M.now
    if M.status == "running" then M.status = "succeeded" end
    -- (`ended` only when the run has the field: absent, a finished run's is its `total`)
    if M.endedF then
      putMany(M, "record", "status", M.status, "ended", M.ended, "finished",
        finishedField(M.now, redis.call("HGET", M.k.record, "created")))
    else
      putMany(M, "record", "status", M.status, "finished",
        finishedField(M.now, redis.call("HGET", M.k.record, "created")))
    end
    -- every run's end is an event, so that a waiter for a quiet run wakes too
    emit(M, "run-ended")
    -- a run of the default retention gets no key expiry since 2026-12-05: maintenance
    -- deletes it once its retention has passed (prune.lua); one of another retention expires
    if M.retention ~= DEFAULT_RETENTION then
      flushRun(M) -- (an expiry needs the key written)
      local k, ttl = M.k, int(M.retention)
      -- (a work list found empty has no key)
      local work = not M.workEmpty and (k.work or k.record .. ":work") or k.record
      local expired = {}
      for _, key in ipairs({ k.record, k.nodes, k.specs, k.results, work }) do
        if not expired[key] then
          expired[key] = true
          redis.call("PEXPIRE", key, ttl)
        end
      end
    end
  else
    -- only what changed since loadRun read it
    if M.status ~= M.status0 then put(M, "record", "status", M.status) end
    if M.ended ~= M.ended0 then
      put(M, "record", "ended", M.ended)
      M.endedF = true
    end
  end
end

-- appends an attempt that did not succeed to node n's history (field h<n>), as one more
-- msgpack value: {attempt, worker, startedAt, endedAt, outcome, error?}. keys: results
local function addHistory(M, n, r, outcome, err)
  local entry = { r[ATT], r[WORKER], r[STARTED], M.now, outcome }
  if err then entry[6] = cmsgpack.unpack(err) end
  local field = "h" .. n
  redis.call("HSET", M.k.results, field, (redis.call("HGET", M.k.results, field) or "") .. cmsgpack.pack(entry))
end

-- node n (its record valid) cannot run: a field of it (its spec, its dependency list, the
-- run's queue list) is corrupt. It ends failed, and its run with it. keys: those of
-- endNode, stopRun and noteCorruption
local function corruptNode(M, n, r, field, why)
  if TERMINAL[r[ST]] then return end
  local err = corruptError(M.k.record, field, why)
  endNode(M, n, r, "f", err)
  stopRun(M, n, err)
  noteCorruption(M, field)
end
