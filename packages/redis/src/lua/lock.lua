-- lock: acquires a lock unless another owner holds it unexpired; every
-- acquisition takes a new fencing token from the lock's counter.
-- KEYS: 1 lock (hash owner, token, until), 2 fencing counter (string, never expires)
-- ARGV: 1 owner, 2 ttl ms, 3 now (epoch ms)
-- Returns: the fencing token, or 0 when the lock is held
local owner, ttl, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call("HMGET", KEYS[1], "owner", "until")
if v[1] and tonumber(v[2]) > now and v[1] ~= owner then return 0 end
local token = redis.call("INCR", KEYS[2])
redis.call("HSET", KEYS[1], "owner", owner, "token", token, "until", now + ttl)
redis.call("PEXPIRE", KEYS[1], ttl + 60000)
return token
