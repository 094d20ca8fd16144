-- unlock: releases a lock if `owner` with `token` still holds it.
-- KEYS: 1 lock
-- ARGV: 1 owner, 2 token
-- Returns: 1 released, 0 not held
local v = redis.call("HMGET", KEYS[1], "owner", "token")
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] then return 0 end
redis.call("DEL", KEYS[1])
return 1
