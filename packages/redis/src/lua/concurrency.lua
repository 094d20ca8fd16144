-- concurrency: admits a started node to a slot of its concurrency key (`options.concurrency`,
-- Hatchet's concurrency keys): at most `max` slots of the key are held at once, across every
-- worker. A slot is the node's lease member, scored by its lease expiry: slots past their
-- expiry are purged first, so a crashed worker's slot lapses with its lease (heartbeats renew
-- the score, every end of the attempt removes it: RedisStore).
-- KEYS: slots (zset of lease members "runId#node#token" by lease expiry, one per key, its own
--   hash tag)
-- ARGV: now (epoch ms), max, member (the lease member), expiry (the lease expiry, epoch ms),
--   retryMs (the longest a refused node waits before it is tried again, ms)
-- Replies: {OK, granted (1 or 0), retryAt}: retryAt (epoch ms) when refused, the earlier of
--   the first slot's expiry and now + retryMs; else -1
redis.call("ZREMRANGEBYSCORE", K.slots, "-inf", A.now)
local granted = redis.call("ZSCORE", K.slots, A.member) ~= false
  or redis.call("ZCARD", K.slots) < A.max
if granted then
  redis.call("ZADD", K.slots, A.expiry, A.member)
  local last = redis.call("ZRANGE", K.slots, -1, -1, "WITHSCORES")
  -- relative to `now` (the callers' clock, not Redis's): kept a minute past the last slot
  redis.call("PEXPIRE", K.slots, math.max(1, tonumber(last[2]) - A.now) + 60000)
  return { R.OK, 1, -1 }
end
local first = redis.call("ZRANGE", K.slots, 0, 0, "WITHSCORES")
return { R.OK, 0, math.min(tonumber(first[2]), A.now + A.retryMs) }
