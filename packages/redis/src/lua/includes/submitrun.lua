-- One submission of a run's chunk (docs/guarantees.md #1), as scripts `submit` and
-- `submitmany` run it: see submit.lua's header for what it does and answers.
-- `keys`: the run's keys and the shard's, by the labels of submit's definition
-- (record, nodes, specs, results, work, shardWork, events, runs, seq, pending,
-- idempotency, namedRun); `queues`: the keys of each of the run's queues, in its
-- order; `a`: submit's arguments by label (numbers as numbers, `nodes` a list);
-- `codes`: the reply codes by name (the script's own, so that it answers them).
--@include cascade

-- runs of more nodes than this are written as a hash table (see submitWhole)
--@const
local HASH_TABLE_NODES = 32

-- the runs this call committed, when it lists them together at its end (`on`: submitmany,
-- flushListed): their ids, in commit order; `key`: the run list
--@percall
local LISTED = {}

-- adds committed run `runId` to the shard's run list `key` (a stream in commit order:
-- docs/redis-layout.md `T:runlist`); a run is committed once, so listed once. A run
-- submitted alone is an entry of its own, its field `r` its id; a call that lists its runs
-- together (LISTED.on) adds them as one entry at its end (flushListed)
local function listRun(key, runId)
  if LISTED.on then
    LISTED[#LISTED + 1] = runId
    LISTED.key = key
    return
  end
  redis.call("XADD", key, "*", "r", runId)
end

-- the length in bytes of the prefix that the run ids in LISTED share, cut back to a UTF-8
-- character's start (a reader decodes the prefix and each rest as text)
local function listedPrefix()
  local first = LISTED[1]
  local prefix, len = first, #first
  for i = 2, #LISTED do
    local id = LISTED[i]
    -- (no string made for an id that starts with the prefix, the common case; the bytes
    -- compared only for one that does not)
    if string.find(id, prefix, 1, true) ~= 1 then
      local j = 1
      while j <= len and string.byte(id, j) == string.byte(first, j) do j = j + 1 end
      len = j - 1
      if len == 0 then return 0 end
      prefix = string.sub(first, 1, len)
    end
  end
  local b = string.byte(first, len + 1)
  while len > 0 and b and b >= 128 and b < 192 do
    len = len - 1
    b = string.byte(first, len + 1)
  end
  return len
end

-- adds the runs listRun held back (LISTED.on) as one entry of the run list, if any. Ids made
-- in one millisecond share their first 9 characters: a prefix the entry's runs share is
-- written once, as a field `p`, and field `l` holds each run's id but that prefix, led by its
-- length in bytes (one byte), as one string (docs/redis-layout.md `T:runlist`). Until
-- 2026-12-06 a field `r` per run held each rest: a field and a value per run cost the XADD
-- about 1 % of a plain job's Redis instructions and 2 bytes a run (docs/benchmarks.md). An
-- entry whose rests are not all under 256 bytes still does
local function flushListed()
  local n = #LISTED
  if n == 0 then return end
  local len = n > 1 and listedPrefix() or 0
  local args = len > 0 and { "p", string.sub(LISTED[1], 1, len) } or {}
  local parts, long = {}, false
  for i = 1, n do
    local rest = len > 0 and string.sub(LISTED[i], len + 1) or LISTED[i]
    -- (a rest of 256 bytes or more has no length byte: the entry goes as pairs `r`, and the
    -- lengths are not used)
    if #rest > 255 then long = true end
    parts[2 * i - 1] = long and "" or string.char(#rest)
    parts[2 * i] = rest
  end
  if long then
    for i = 1, n do
      args[#args + 1] = "r"
      args[#args + 1] = parts[2 * i]
    end
  else
    args[#args + 1] = "l"
    args[#args + 1] = table.concat(parts)
  end
  redis.call("XADD", LISTED.key, "*", unpack(args))
end

-- The fields of a run record as its first write has them, as one HSET's arguments, its nodes
-- not yet among them: `status` (running for a run written whole in one call, pending for one
-- written in chunks), created at `nows`, `total` and `nonce` as sent, then the fields written
-- only when not at their default, so that a small run's hash stays small; and `add(field,
-- value)`, which appends to them (a run's nodes). submitRun's begin, submitWhole and
-- submitmany's plainSubmit write a run with them.
local function runFields(status, nows, totalS, nonce, queues, output, fingerprint, tags, retentionMs, retentionS,
    total, notBefore, expiresAt, headers)
  -- (no `started`: a run written whole started when it was created, docs/redis-layout.md)
  -- (no `id`: the key names the run; `queues` and `out` only when not at their default)
  -- a run of several nodes has `rare` "0" next to its status (near the head of a listpack,
  -- found in a step or two) until one of its rare fields may be set (markRare): a chain
  -- step then reads none of them (shortCompletion)
  -- (since 2026-12-05 neither `total` nor `ended` for a run of one node, and no `nonce` for "",
  -- a run id made at random for its call: absent, they read as 1, 0 and "", runCounts; 32
  -- bytes less in a plain job's listpack, docs/redis-layout.md. A larger run keeps `ended`
  -- near the head of its listpack, where its steps read it in a few steps of the walk)
  local raw = total > 1 and { "status", status, "rare", "0", "created", nows, "total", totalS, "ended", "0" }
    or total == 1 and { "status", status, "created", nows }
    or { "status", status, "created", nows, "total", totalS, "ended", "0" }
  if nonce ~= "" then
    raw[#raw + 1] = "nonce"
    raw[#raw + 1] = nonce
  end
  local at = #raw
  local function add(f, v)
    raw[at + 1] = f
    raw[at + 2] = v
    at = at + 2
  end
  if queues ~= DEFAULT_QUEUES then add("queues", queues) end
  if output ~= DEFAULT_OUT then add("out", output) end
  -- (no fingerprint: a run id made at random, no idempotency key; see submitRun)
  if fingerprint ~= "" then add("fp", fingerprint) end
  -- (fields at their default are not written: an empty tag list, the default retention)
  if tags ~= "[]" then add("tags", tags) end
  if retentionMs ~= DEFAULT_RETENTION then add("retention", retentionS or int(retentionMs)) end
  -- a run of more than HASH_TABLE_NODES nodes is kept as a hash table, not a listpack (whose
  -- every field read or write walks the list): a value longer than Redis's
  -- hash-max-listpack-value (64 bytes by default, up to 256 supported) converts it, from the
  -- run's first HSET (which converts before it inserts): as a listpack, each of a first
  -- chunk's fields would go in by a walk of the list (5 ms of Redis for a chunk of 250 nodes,
  -- docs/redis-layout.md, `big`)
  -- (field `big`: longer than any hash-max-listpack-value up to 256, docs/redis-layout.md)
  if total > HASH_TABLE_NODES then add("big", string.rep("-", 257)) end
  if notBefore > 0 then add("nbf", int(notBefore)) end
  if expiresAt > 0 then add("exp", int(expiresAt)) end
  if headers ~= "" then add("hdr", headers) end
  return raw, add
end

-- the record of a plain job's node (field n0's bytes `raw`), decoded: a root waiting on
-- nothing, with no time limit (not-before time, delay, deadline), and its bytes without its
-- spec (queuedBytes' `from`); nil when it is not one
local function plainRecord(raw)
  local r = decodeNode(raw)
  if not r or r[ST] ~= "w" or r[PEND] ~= 0 then return nil end
  if (r[NBF] or 0) ~= 0 or (r[DLY] or 0) ~= 0 or (r[EXPIN] or 0) ~= 0 or (r[EXP] or 0) ~= 0 then return nil end
  return r, RECORD_BYTES
end

-- the record of the one node of a plain job, decoded, when run `a` (submit's arguments) is
-- one: a single root waiting on nothing, with no time limit (delayMs, notBefore,
-- expiresInMs, expiresAt), in a queue of the call, and a budget that queues it. Its
-- submission writes, adds and answers exactly what the general walk (process "R:0",
-- enqueue, saveRun, flushRun) would, without that walk's machinery: 18 % of the Redis
-- instructions of a plain job's submission (docs/benchmarks.md). `list`: the nodes as
-- sent; nil when the run is not one (else the record, and its bytes as plainRecord's)
local function plainJob(M, a, list)
  if a.total ~= 1 or #list ~= 4 or list[1] ~= "0" or list[4] ~= "" or a.budget <= 0 then return nil end
  local r, from = plainRecord(list[2])
  if not r or not queueOf(M, r[QIDX]) then return nil end
  return r, from
end

-- a new run written whole in this call (phase "begin+commit"), its idempotency key taken:
-- what the begin and the commit write, as one HSET of the run's hash (the record running,
-- its nodes, the roots queued) when its keys are one hash (bufferRun); nil when they are not
local function submitWhole(keys, queues, a, codes)
  local runId, now = a.runId, a.now
  local M = bufferRun(openRun(keys, queues, runId, now, false, a.eventsMax))
  if not M.wbuf then return nil end
  -- (a.toReady: the call's accumulator of nodes bound for ready sets, see enqueue)
  M.toReady = a.toReady or false
  -- the record and the nodes as sent, ahead of the buffered writes (M.wraw, flushRun); the
  -- node records read back from here (M.pre, getNode)
  local raw, add = runFields("running", M.nows, a.totalS or int(a.total), a.nonce, a.queues, a.output,
    a.fingerprint, a.tags, a.retentionMs, a.retentionS, a.total, a.notBefore, a.expiresAt, a.headers)
  listRun(keys.runList, runId)
  local list, pre = a.nodes, {}
  local plain, from = plainJob(M, a, list)
  if plain then
    -- (what the walk below would write and add, without its machinery)
    plain[ST] = "q"
    add("n0", queuedBytes(plain, from))
    if list[3] ~= "" then add("s0", list[3]) end
    nodeEvent(M, 0, plain)
    M.cache[0] = plain
    enqueue(M, { 0 }, 1)
    redis.call("HSET", keys.record, unpack(raw))
    return { codes.OK, 0 }
  end
  -- the nodes sent with a dependency list wait on it (their record counts it, as pending): the
  -- walk of the roots below passes them without decoding their records (M.waits, cascade.lua)
  local waits = {}
  -- (the node records first, then the dependency lists, then the specs: in a listpack each field
  -- is found by a walk from its head, and a chain's step reads and writes its node's and the
  -- next node's records, twice each, and the next node's list and spec once, docs/redis-layout.md)
  for i = 1, #list, 4 do
    local f = "n" .. list[i]
    pre[f] = list[i + 1]
    add(f, list[i + 1])
  end
  for i = 1, #list, 4 do
    if list[i + 3] ~= "" then
      local id = list[i]
      add("d" .. id, list[i + 3])
      waits[tonumber(id)] = true
    end
  end
  for i = 1, #list, 4 do
    if list[i + 2] ~= "" then add("s" .. list[i], list[i + 2]) end
  end
  M.wraw, M.pre, M.waits = raw, pre, waits
  -- (its `rare` marker, "0" in a run of several nodes: markWork; a run whose roots are more
  -- than the call's budget lists their walk)
  M.rare0 = raw[3] == "rare" and raw[4] == "0"
  -- the record as loadRun would read it back; a new run has no work list
  M.status, M.total, M.ended, M.retention, M.qbad = "running", a.total, 0, a.retentionMs, false
  M.status0, M.ended0 = "running", 0
  M.loaded, M.dirty, M.workEmpty = true, true, true
  -- a new run is not in the shard's work set: taking it out costs nothing until work is listed
  M.unlisted = true
  local ready = {}
  local more = 0
  if process(M, { "R:0" }, ready, a.budget) then more = 1 else unlistRun(M) end
  enqueue(M, ready, 1)
  saveRun(M)
  flushRun(M)
  if more == 0 and moreWork(M) then more = 1 end
  return { codes.OK, more }
end

local function submitRun(keys, queues, a, codes)
  local runId, now = a.runId, a.now
  local begin, commit = string.find(a.phase, "begin", 1, true), string.find(a.phase, "commit", 1, true)

  local v = redis.call("HMGET", keys.record, "status", "nonce", "fp")
  local resent = v[1] and (v[2] or "") == a.nonce -- this very call, re-sent
  -- (a run id met again without a fingerprint, "": two runs given one id at random)
  local same = a.fingerprint ~= "" and v[3] == a.fingerprint
  if not resent and v[1] and same and (v[1] == "pending" or not begin) then
    -- this canvas under this id, begun by another call: one that failed midway (its caller
    -- submits again) or one still writing (a double click). This call writes the same nodes
    -- and commits, as a re-send would; the other call's chunks, the same, answer so too
    -- (after the commit: OK, writing nothing). Both answer the one run
    resent = true
    if begin and not commit then
      -- (a run begun long ago is not discarded by maintenance while this call writes it)
      redis.call("HSET", keys.record, "created", now)
    end
  end
  if not resent then
    if begin and v[1] then
      if same then return { codes.EXISTS, runId } end
      return { codes.DUPLICATE }
    end
    if not begin then return { codes.GONE } end
  elseif v[1] ~= "pending" then
    -- already committed by the first send, or by another call of this canvas
    local M = openRun(keys, queues, runId, now, false, a.eventsMax)
    return { codes.OK, (redis.call("ZSCORE", keys.shardWork, runId) and moreWork(M)) and 1 or 0 }
  end

  if begin and not resent then
    if a.windowMs > 0 then
      local cur = redis.call("GET", keys.idempotency) or ""
      if cur ~= a.seen then return { codes.RETRY } end
      if cur ~= "" then
        -- {fingerprint, runId}; a key written before keys held a fingerprint is the bare run id
        local ok, held = pcall(cmsgpack.unpack, cur)
        if not ok or type(held) ~= "table" or type(held[2]) ~= "string" then held = { false, cur } end
        local status = redis.call("HGET", keys.namedRun, "status")
        if status == "pending" and held[1] == a.fingerprint and held[2] ~= runId then
          -- the key's run, of this canvas, is not committed (its call failed midway, or is
          -- still writing it): the caller submits again under that run id, which writes and
          -- commits it as above
          return { codes.ADOPT, held[2] }
        end
        if status then -- a key whose run no longer exists is free
          if held[1] and held[1] ~= a.fingerprint then return { codes.CONFLICT, held[2] } end
          local reuse = a.reuse == "allow-if-failed" and (status == "failed" or status == "cancelled")
          if not reuse then return { codes.EXISTS, held[2] } end
        end
      end
      redis.call("SET", keys.idempotency, cmsgpack.pack({ a.fingerprint, runId }), "PX", a.windowMs)
    end
    if commit then
      local reply = submitWhole(keys, queues, a, codes)
      if reply then return reply end
    end
    -- (runFields' first value: the fields; unpack would take its second as an index)
    local fields = runFields("pending", g17(now), int(a.total), a.nonce, a.queues, a.output, a.fingerprint, a.tags,
      a.retentionMs, nil, a.total, a.notBefore, a.expiresAt, a.headers)
    redis.call("HSET", keys.record, unpack(fields))
    -- a submission written in one call is never seen pending: only multi-call ones are tracked for recovery
    if not commit then redis.call("ZADD", keys.pending, now, runId) end
  end

  writeNodes(keys, a.nodes)

  local more = 0
  if commit then
    -- (the run's writes are buffered: the roots it queues go out in one HSET)
    local M = loadRun(bufferRun(openRun(keys, queues, runId, now, false, a.eventsMax)))
    if not begin then redis.call("ZREM", keys.pending, runId) end
    listRun(keys.runList, runId)
    if M.status ~= "pending" then
      -- a run record field found corrupt on the way failed the run: it never starts
      local reply = { codes.OK, endEarly(M, a.budget) }
      flushRun(M)
      return reply
    end
    M.status = "running"
    M.dirty = true
    putMany(M, "record", "status", "running", "started", now)
    -- (its `rare` marker, written "0" with the run and deleted when a rare field may have been
    -- set since: markWork)
    M.rare0 = redis.call("HGET", keys.record, "rare") == "0"
    local ready = {}
    -- the roots the client wrote queued (a.queued of them, from node 0, with the one record
    -- a.queuedRecord), walked without their records ("P" in process); the run keeps that
    -- record in `pq` until the walk is past them
    local first = "R:0"
    if (a.queued or 0) > 0 then
      put(M, "record", "pq", a.queuedRecord)
      M.pqr = decodeRecord(a.queuedRecord) or false
      first = { "P", 0, a.queued - 1 }
    end
    if process(M, { first }, ready, a.budget) then more = 1 else redis.call("ZREM", keys.shardWork, runId) end
    enqueue(M, ready, 1)
    saveRun(M)
    flushRun(M)
    if more == 0 and moreWork(M) then more = 1 end
  end
  return { codes.OK, more }
end
