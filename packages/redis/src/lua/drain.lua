-- drain: continues a run's leftover work (a large fan-out, fan-in, skip
-- cascade, root enqueueing or cancellation) within a budget.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 now, 3 budget
-- Returns: 1 when work is still left, else 0
--@include run

local now = tonumber(ARGV[2])
local M = loadRun()
if not M then
  redis.call("ZREM", K.shardWork, ARGV[1])
  return 0
end
local ready = {}
local more = process(M, {}, ready, tonumber(ARGV[3]), now)
if not more then redis.call("ZREM", K.shardWork, ARGV[1]) end
enqueue(M, ready, 1)
saveRun(M, now)
return more and 1 or 0
