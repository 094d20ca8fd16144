-- reap: re-delivers nodes whose lease expired (the worker died or stopped
-- heartbeating): back to the front of their ready queue. The stall is
-- counted when the node starts again (start.lua).
-- KEYS: 1 leases (zset: "runId#node#token" by expiry), 2 ready, 3 wake, 4 arrival seq
-- ARGV: 1 now, 2 limit
-- Returns: number re-delivered
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
for _, m in ipairs(expired) do
  local member = string.match(m, "^(.*)#%d+$")
  redis.call("ZREM", KEYS[1], m)
  redis.call("ZADD", KEYS[2], redis.call("INCR", KEYS[4]), member)
end
if #expired > 0 then
  redis.call("LPUSH", KEYS[3], "1")
  redis.call("LTRIM", KEYS[3], 0, 0)
end
return #expired
