-- submit: writes one chunk of a run's nodes; the first chunk creates the run
-- record (status `pending`, not runnable), the last commits it (status
-- `running`) and enqueues its roots, in bounded steps (DESIGN.md §2.1).
-- KEYS: the uniform run layout (see includes/run.lua), then
--   [11+5Q] shard pending-submissions (zset), [12+5Q] idempotency key (string)
-- ARGV: 1 runId, 2 now, 3 phase ("b" begin, "c" commit, "bc" both, "" middle),
--   4 total nodes, 5 queues (comma list), 6 tags (JSON), 7 retention ms,
--   8 idempotency window ms (0 = no key), 9 Q (queue count), 10 budget,
--   11.. quadruples (node id, node record, node spec, dependency list (msgpack) or "")
-- Returns: {"OK", more} (more = 1 when roots are left for `drain`),
--   {"EXISTS", runId} when the idempotency key names a live run,
--   {"GONE"} when a later chunk finds no pending run, {"DUPLICATE"} when the run id is taken.
--@include run

local runId, now, phase = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local Q = tonumber(ARGV[9])
local pendingKey, idemKey = KEYS[11 + 5 * Q], KEYS[12 + 5 * Q]

if string.find(phase, "b", 1, true) then
  local window = tonumber(ARGV[8])
  if redis.call("EXISTS", K.run) == 1 then return { "DUPLICATE" } end
  if window > 0 then
    local existing = redis.call("GET", idemKey)
    if existing then return { "EXISTS", existing } end
    redis.call("SET", idemKey, runId, "PX", window)
  end
  redis.call("HSET", K.run, "id", runId, "status", "pending", "created", now, "total", ARGV[4],
    "ended", 0, "queues", ARGV[5], "tags", ARGV[6], "retention", ARGV[7], "layout", 1)
  -- a submission written in one call is never seen pending: only multi-call ones are tracked for recovery
  if not string.find(phase, "c", 1, true) then redis.call("ZADD", pendingKey, now, runId) end
elseif redis.call("HGET", K.run, "status") ~= "pending" then
  return { "GONE" }
end

local nodes, specs = {}, {}
for i = 11, #ARGV, 4 do
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
if string.find(phase, "c", 1, true) then
  local M = loadRun()
  M.status = "running"
  M.dirty = true
  redis.call("HSET", K.run, "status", "running", "started", now)
  if not string.find(phase, "b", 1, true) then redis.call("ZREM", pendingKey, runId) end
  redis.call("ZADD", K.runs, now, runId)
  local ready = {}
  if process(M, { "R:0" }, ready, tonumber(ARGV[10]), now) then more = 1 end
  enqueue(M, ready, 1)
  saveRun(M, now)
end
return { "OK", more }
