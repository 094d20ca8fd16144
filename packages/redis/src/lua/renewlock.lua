-- renewlock: extends a lock still held by `owner` with `token`.
-- KEYS: lock
-- ARGV: owner, token, ttlMs, now (epoch ms), graceMs (Redis keeps the key this long past
--   `until`)
-- Replies: {OK} (renewed), {STALE} (the lock was lost)
local v = redis.call("HMGET", K.lock, "owner", "token", "until")
if v[1] ~= A.owner or tonumber(v[2]) ~= A.token or tonumber(v[3]) <= A.now then return { R.STALE } end
redis.call("HSET", K.lock, "until", A.now + A.ttlMs)
redis.call("PEXPIRE", K.lock, A.ttlMs + A.graceMs)
return { R.OK }
