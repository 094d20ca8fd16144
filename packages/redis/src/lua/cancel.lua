-- cancel: cancels a pending or running run: unstarted nodes end `cancelled`
-- (removed from their queues) in bounded steps; running handlers learn it
-- from their next heartbeat.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 now, 3 budget
-- Returns: {cancelled (0/1), more}
--@include run

local now = tonumber(ARGV[2])
local M = loadRun()
if not M or (M.status ~= "pending" and M.status ~= "running") then return { 0, 0 } end
M.status = "cancelled"
M.dirty = true
redis.call("HSET", K.run, "status", "cancelled")
emit(M)
local ready = {}
local more = process(M, { "C:0" }, ready, tonumber(ARGV[3]), now)
if not more then redis.call("ZREM", K.shardWork, ARGV[1]) end
saveRun(M, now)
return { 1, more and 1 or 0 }
