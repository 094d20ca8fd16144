-- cancel: cancels a pending or running run: unstarted nodes end `cancelled`
-- (removed from their queues, parked ones included) in bounded steps;
-- running handlers learn it at once from the run id PUBLISHed on the
-- signals channel, or else from their next heartbeat. The request id makes
-- it safe to re-send: the same request finding the run cancelled by itself
-- answers 1 again.
-- KEYS: the uniform run layout (includes/run.lua)
-- ARGV: 1 runId, 2 now, 3 budget, 4 request id, 5 signals channel (the run id is PUBLISHed on it)
-- Returns: {cancelled (0/1), more} (more: 1 when work is left for `drain`)
--@include run

local now, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local M = loadRun(ARGV[1], now)
if not M then return { 0, 0 } end
if M.status == "cancelled" and redis.call("HGET", K.run, "cancelreq") == ARGV[4] then
  return { 1, settleEarly(M, budget, now) } -- this very cancel, re-sent
end
if M.status ~= "pending" and M.status ~= "running" then return { 0, settleEarly(M, budget, now) } end
M.status = "cancelled"
M.dirty = true
redis.call("HSET", K.run, "status", "cancelled", "cancelreq", ARGV[4])
if ARGV[5] then redis.call("PUBLISH", ARGV[5], ARGV[1]) end
emit(M)

local ready = {}
local more = process(M, { "C:0" }, ready, budget, now)
if not more then redis.call("ZREM", K.shardWork, ARGV[1]) end
saveRun(M, now)
return { 1, more and 1 or 0 }
