-- renewlock: extends a lock still held by `owner` with `token`.
-- KEYS: 1 lock
-- ARGV: 1 owner, 2 token, 3 ttl ms, 4 now (epoch ms)
-- Returns: 1 renewed, 0 lost
local v = redis.call("HMGET", KEYS[1], "owner", "token", "until")
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[3])
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or tonumber(v[3]) <= now then return 0 end
redis.call("HSET", KEYS[1], "until", now + ttl)
redis.call("PEXPIRE", KEYS[1], ttl + 60000)
return 1
