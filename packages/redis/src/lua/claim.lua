-- claim: leases up to `max` ready nodes across the worker's queues, highest
-- priority first, then arrival; each lease carries a new fencing token.
-- KEYS: 1 fencing tokens (string), then per queue i: ready (zset), leases (zset), wake (list)
-- ARGV: 1 now, 2 max, 3 lease ms
-- Returns: flat list of triples {queue index, member "runId#node", token}
local now, max, leaseMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local Q = (#KEYS - 1) / 3
local out = {}
for _ = 1, max do
  local best, bestScore
  for i = 1, Q do
    local top = redis.call("ZRANGE", KEYS[2 + (i - 1) * 3], 0, 0, "WITHSCORES")
    if top[1] and (not bestScore or tonumber(top[2]) < bestScore) then
      best, bestScore = i, tonumber(top[2])
    end
  end
  if not best then break end
  local b = 2 + (best - 1) * 3
  local member = redis.call("ZPOPMIN", KEYS[b])[1]
  local token = redis.call("INCR", KEYS[1])
  redis.call("ZADD", KEYS[b + 1], now + leaseMs, member .. "#" .. token)
  out[#out + 1] = best
  out[#out + 1] = member
  out[#out + 1] = token
end
-- work left: wake another idle worker
for i = 1, Q do
  local b = 2 + (i - 1) * 3
  if redis.call("ZCARD", KEYS[b]) > 0 then
    redis.call("LPUSH", KEYS[b + 2], "1")
    redis.call("LTRIM", KEYS[b + 2], 0, 0)
  end
end
return out
