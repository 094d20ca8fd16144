-- discard: removes a submission abandoned midway (still `pending` past the
-- cutoff): nothing of it ever ran (DESIGN.md §2.1).
-- KEYS: 1 run record, 2 node records, 3 node specs, 4 results, 5 work list, 6 shard pending-submissions
-- ARGV: 1 runId, 2 cutoff (epoch ms)
-- Returns: 1 discarded, 0 kept
local v = redis.call("HMGET", KEYS[1], "status", "created")
if v[1] and (v[1] ~= "pending" or tonumber(v[2]) > tonumber(ARGV[2])) then
  if v[1] ~= "pending" then redis.call("ZREM", KEYS[6], ARGV[1]) end
  return 0
end
redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call("ZREM", KEYS[6], ARGV[1])
return 1
