-- submit: writes one chunk of a run's nodes; the first chunk creates the run
-- record (status `pending`, not runnable), the last commits it (status
-- `running`) and enqueues its roots, in bounded steps (docs/guarantees.md #1).
-- Exactly-once as the caller sees it: the run keeps the fingerprint (`fp`) of
-- its DAG and the nonce of the call that writes it. A chunk re-sent after a
-- reconnect (same nonce) writes nothing that matters and answers OK; another
-- call for the same run id with the same fingerprint gets the run back
-- (EXISTS); another fingerprint is DUPLICATE. The idempotency key records the
-- run id and the fingerprint; it is free once its run no longer exists.
-- KEYS: the uniform run layout (see includes/run.lua), then, last:
--   shard pending-submissions (zset), idempotency key (string), the record of the
--   run the key named when the caller read it (this run's own record when none)
-- ARGV: 1 runId, 2 now, 3 phase ("b" begin, "c" commit, "bc" both, "" middle),
--   4 total nodes, 5 queues (comma list), 6 tags (JSON), 7 retention ms,
--   8 idempotency window ms (0 = no key), 9 Q (queue count), 10 budget,
--   11 fingerprint, 12 nonce, 13 output shape (msgpack), 14 the key's value as the caller
--   read it ("" = none), 15 reuse policy ("return-existing" | "allow-if-failed"),
--   16.. quadruples (node id, node record, node spec, dependency list (msgpack) or "")
-- Returns: {"OK", more} (more = 1 when work is left for `drain`),
--   {"EXISTS", runId} (the key, or this run id with the same fingerprint, names a live run),
--   {"CONFLICT", runId} (the key names a live run with another fingerprint),
--   {"RETRY"} (the key changed since the caller read it: read it again and retry),
--   {"GONE"} (a later chunk finds no pending run of this call), {"DUPLICATE"} (the run id is taken)
--@include run

local runId, now, phase = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local budget, fp, nonce = tonumber(ARGV[10]), ARGV[11], ARGV[12]
local pendingKey, idemKey, named = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
local begin, commit = string.find(phase, "b", 1, true), string.find(phase, "c", 1, true)

local v = redis.call("HMGET", K.run, "status", "nonce", "fp")
local resent = v[1] and v[2] == nonce -- this very call, re-sent
if not resent then
  if begin and v[1] then
    if v[3] == fp then return { "EXISTS", runId } end
    return { "DUPLICATE" }
  end
  if not begin then return { "GONE" } end
elseif v[1] ~= "pending" then
  -- already committed by the first send
  return { "OK", (redis.call("ZSCORE", K.shardWork, runId) and moreWork()) and 1 or 0 }
end

if begin and not resent then
  local window = tonumber(ARGV[8])
  if window > 0 then
    local cur = redis.call("GET", idemKey) or ""
    if cur ~= ARGV[14] then return { "RETRY" } end
    if cur ~= "" then
      -- {fingerprint, runId}; a key written before keys held a fingerprint is the bare run id
      local ok, held = pcall(cmsgpack.unpack, cur)
      if not ok or type(held) ~= "table" or type(held[2]) ~= "string" then held = { false, cur } end
      local status = redis.call("HGET", named, "status")
      if status then -- a key whose run no longer exists is free
        if held[1] and held[1] ~= fp then return { "CONFLICT", held[2] } end
        local reuse = ARGV[15] == "allow-if-failed" and (status == "failed" or status == "cancelled")
        if not reuse then return { "EXISTS", held[2] } end
      end
    end
    redis.call("SET", idemKey, cmsgpack.pack({ fp, runId }), "PX", window)
  end
  redis.call("HSET", K.run, "id", runId, "status", "pending", "created", now, "total", ARGV[4],
    "ended", 0, "queues", ARGV[5], "tags", ARGV[6], "retention", ARGV[7], "layout", 1,
    "fp", fp, "nonce", nonce, "out", ARGV[13])
  -- a submission written in one call is never seen pending: only multi-call ones are tracked for recovery
  if not commit then redis.call("ZADD", pendingKey, now, runId) end
end

local nodes, specs = {}, {}
for i = 16, #ARGV, 4 do
  nodes[#nodes + 1] = "n" .. ARGV[i]
  nodes[#nodes + 1] = ARGV[i + 1]
  if ARGV[i + 3] ~= "" then
    nodes[#nodes + 1] = "d" .. ARGV[i]
    nodes[#nodes + 1] = ARGV[i + 3]
  end
  specs[#specs + 1] = "s" .. ARGV[i]
  specs[#specs + 1] = ARGV[i + 2]
end
if #nodes > 0 then
  redis.call("HSET", K.nodes, unpack(nodes))
  redis.call("HSET", K.spec, unpack(specs))
end

local more = 0
if commit then
  local M = loadRun(runId, now)
  if not begin then redis.call("ZREM", pendingKey, runId) end
  redis.call("ZADD", K.runs, now, runId)
  if M.status ~= "pending" then
    -- a run record field found corrupt on the way failed the run: it never starts
    return { "OK", settleEarly(M, budget, now) }
  end
  M.status = "running"
  M.dirty = true
  redis.call("HSET", K.run, "status", "running", "started", now)
  local ready = {}
  if process(M, { "R:0" }, ready, budget, now) then more = 1 else redis.call("ZREM", K.shardWork, runId) end
  enqueue(M, ready, 1)
  saveRun(M, now)
  if more == 0 and moreWork() then more = 1 end
end
return { "OK", more }
