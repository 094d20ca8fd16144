-- submit: writes one chunk of a run's nodes; the first chunk creates the run
-- record (status `pending`, not runnable), the last commits it (status
-- `running`) and enqueues its roots, in bounded steps (docs/guarantees.md #1).
-- Exactly-once as the caller sees it: the run keeps the fingerprint (`fp`) of
-- its DAG and the nonce of the call that writes it. A chunk re-sent after a
-- reconnect (same nonce) writes nothing that matters and answers OK; another
-- call for the same run id with the same fingerprint gets the run back
-- (EXISTS); another fingerprint is DUPLICATE. The idempotency key records the
-- run id and the fingerprint; it is free once its run no longer exists.
-- KEYS: record, nodes, specs, results, work (the run's), shardWork, events, runs,
--   seq, pending (the shard's pending submissions), idempotency (the key's string),
--   namedRun (the record of the run the key named when the caller read it, this
--   run's own when none); per run queue: ready, delayed, leases, wake, parked, expiring, paused
-- ARGV: runId, now, phase ("begin", "commit", "begin+commit", "" a middle chunk),
--   total (nodes of the run), queues (comma list), tags (JSON), retentionMs,
--   windowMs (of the idempotency key, 0 = no key), budget, fingerprint, nonce,
--   output (the output shape, msgpack), seen (the key's value as the caller read
--   it, "" = none), reuse ("return-existing" or "allow-if-failed"), eventsMax, notBefore,
--   expiresAt (the run's time limits, epoch ms, 0 = none: kept as fields nbf and exp of
--   the record for inspection; the node records carry them), headers (the run's headers,
--   msgpack, "" = none: kept as field hdr, handed back by `start`), nodes (a list
--   of quadruples: node id, node record, node spec, dependency list or "")
-- Replies: {OK, more} (more: 1 when work is left for `drain`), {EXISTS, runId} (the
--   key, or this run id with the same fingerprint, names a live run), {CONFLICT, runId}
--   (the key names a live run with another fingerprint), {RETRY} (the key changed since
--   the caller read it: read it again and retry), {GONE} (a later chunk finds no pending
--   run of this call), {DUPLICATE} (the run id is taken)
--@include cascade

local runId, now = A.runId, A.now
local begin, commit = string.find(A.phase, "begin", 1, true), string.find(A.phase, "commit", 1, true)

local v = redis.call("HMGET", K.record, "status", "nonce", "fp")
local resent = v[1] and v[2] == A.nonce -- this very call, re-sent
if not resent then
  if begin and v[1] then
    if v[3] == A.fingerprint then return { R.EXISTS, runId } end
    return { R.DUPLICATE }
  end
  if not begin then return { R.GONE } end
elseif v[1] ~= "pending" then
  -- already committed by the first send
  local M = openRun(K, QUEUES, runId, now, false, A.eventsMax)
  return { R.OK, (redis.call("ZSCORE", K.shardWork, runId) and moreWork(M)) and 1 or 0 }
end

if begin and not resent then
  if A.windowMs > 0 then
    local cur = redis.call("GET", K.idempotency) or ""
    if cur ~= A.seen then return { R.RETRY } end
    if cur ~= "" then
      -- {fingerprint, runId}; a key written before keys held a fingerprint is the bare run id
      local ok, held = pcall(cmsgpack.unpack, cur)
      if not ok or type(held) ~= "table" or type(held[2]) ~= "string" then held = { false, cur } end
      local status = redis.call("HGET", K.namedRun, "status")
      if status then -- a key whose run no longer exists is free
        if held[1] and held[1] ~= A.fingerprint then return { R.CONFLICT, held[2] } end
        local reuse = A.reuse == "allow-if-failed" and (status == "failed" or status == "cancelled")
        if not reuse then return { R.EXISTS, held[2] } end
      end
    end
    redis.call("SET", K.idempotency, cmsgpack.pack({ A.fingerprint, runId }), "PX", A.windowMs)
  end
  redis.call("HSET", K.record, "id", runId, "status", "pending", "created", now, "total", A.total,
    "ended", 0, "queues", A.queues, "tags", A.tags, "retention", A.retentionMs, "layout", 1,
    "fp", A.fingerprint, "nonce", A.nonce, "out", A.output)
  if A.notBefore > 0 then redis.call("HSET", K.record, "nbf", A.notBefore) end
  if A.expiresAt > 0 then redis.call("HSET", K.record, "exp", A.expiresAt) end
  if A.headers ~= "" then redis.call("HSET", K.record, "hdr", A.headers) end
  -- a submission written in one call is never seen pending: only multi-call ones are tracked for recovery
  if not commit then redis.call("ZADD", K.pending, now, runId) end
end

writeNodes(K, A.nodes)

local more = 0
if commit then
  local M = loadRun(openRun(K, QUEUES, runId, now, false, A.eventsMax))
  if not begin then redis.call("ZREM", K.pending, runId) end
  redis.call("ZADD", K.runs, now, runId)
  if M.status ~= "pending" then
    -- a run record field found corrupt on the way failed the run: it never starts
    return { R.OK, endEarly(M, A.budget) }
  end
  M.status = "running"
  M.dirty = true
  redis.call("HSET", K.record, "status", "running", "started", now)
  local ready = {}
  if process(M, { "R:0" }, ready, A.budget) then more = 1 else redis.call("ZREM", K.shardWork, runId) end
  enqueue(M, ready, 1)
  saveRun(M)
  if more == 0 and moreWork(M) then more = 1 end
end
return { R.OK, more }
