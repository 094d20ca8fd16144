-- unlock: unlocks a lock if `owner` with `token` still holds it.
-- KEYS: lock
-- ARGV: owner, token
-- Replies: {OK} (unlocked), {STALE} (not held)
local v = redis.call("HMGET", K.lock, "owner", "token")
if v[1] ~= A.owner or tonumber(v[2]) ~= A.token then return { R.STALE } end
redis.call("DEL", K.lock)
return { R.OK }
