-- promote: moves retrying nodes whose backoff ended to their ready queue.
-- KEYS: 1 delayed (zset: "runId#node#priority" by due time), 2 ready, 3 wake, 4 arrival seq
-- ARGV: 1 now, 2 limit
-- Returns: number promoted
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local run, n, prio = string.match(m, "^(.*)#(%d+)#(%d+)$")
  redis.call("ZREM", KEYS[1], m)
  redis.call("ZADD", KEYS[2], (16 - tonumber(prio)) * 1099511627776 + redis.call("INCR", KEYS[4]), run .. "#" .. n)
end
if #due > 0 then
  redis.call("LPUSH", KEYS[3], "1")
  redis.call("LTRIM", KEYS[3], 0, 0)
end
return #due
