-- lock: acquires a lock unless another owner holds it unexpired; every
-- acquisition takes a new fencing token from the lock's counter.
-- KEYS: lock (hash owner, token, until), fence (the fencing counter, string, never expires)
-- ARGV: owner, ttlMs, now (epoch ms), graceMs (Redis keeps the key this long past `until`)
-- Replies: {OK, token} (the fencing token), {LOCKED} (another owner holds it)
local v = redis.call("HMGET", K.lock, "owner", "until")
if v[1] and tonumber(v[2]) > A.now and v[1] ~= A.owner then return { R.LOCKED } end
local token = redis.call("INCR", K.fence)
redis.call("HSET", K.lock, "owner", A.owner, "token", token, "until", A.now + A.ttlMs)
redis.call("PEXPIRE", K.lock, A.ttlMs + A.graceMs)
return { R.OK, token }
