-- drain: continues a run's leftover work (a large fan-out, fan-in, skip
-- cascade, root enqueueing, cancellation or corruption sweep) within a
-- budget. Safe to repeat: it only takes items off the run's work list.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 now, 3 budget
-- Returns: 1 when work is still left, else 0
--@include run

local now = tonumber(ARGV[2])
local M = loadRun(ARGV[1], now)
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
