-- cancel: cancels a pending or running run: unstarted nodes end `cancelled`
-- (removed from their queues, parked ones included) in bounded steps;
-- running handlers learn it at once from the run id PUBLISHed on the
-- signals channel, or else from their next heartbeat.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 now, 3 budget, 4 signals channel (PUBLISHed the run id: running handlers stop at once)
-- Returns: {cancelled (0/1), more}
--@include run

local now = tonumber(ARGV[2])
local M = loadRun()
if not M or (M.status ~= "pending" and M.status ~= "running") then return { 0, 0 } end
M.status = "cancelled"
M.dirty = true
redis.call("HSET", K.run, "status", "cancelled")
if ARGV[4] then redis.call("PUBLISH", ARGV[4], ARGV[1]) end
emit(M)
local ready = {}
local more = process(M, { "C:0" }, ready, tonumber(ARGV[3]), now)
if not more then redis.call("ZREM", K.shardWork, ARGV[1]) end
saveRun(M, now)
return { 1, more and 1 or 0 }
