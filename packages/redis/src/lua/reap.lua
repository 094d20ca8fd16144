-- reap: re-delivers nodes whose lease expired (the worker died or stopped
-- heartbeating): back to the front of their ready queue. The stall is
-- counted when the node starts again (start.lua). A `lease-expired` event per lease
-- (includes/events.lua).
-- KEYS: leases ("runId#node#token" by expiry), ready, wake, seq, events
-- ARGV: now, limit, eventsMax (about how many events the events stream keeps)
-- Replies: {OK, redelivered}
--@include priorityScore
--@include wake
--@include events

local expired = redis.call("ZRANGEBYSCORE", K.leases, "-inf", A.now, "LIMIT", 0, A.limit)
for _, m in ipairs(expired) do
  local member = string.match(m, "^(.*)#%d+$")
  redis.call("ZREM", K.leases, m)
  redis.call("ZADD", K.ready, frontScore(K.seq), member)
  local run, n = string.match(member, "^(.*)#(%d+)$")
  eventOf(K.events, A.eventsMax, run, tonumber(A.now), { "l", tonumber(n) })
end
if #expired > 0 then wakeWorker(K.wake) end
return { R.OK, #expired }
