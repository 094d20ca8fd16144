-- discard: removes a submission abandoned midway (still `pending` past the
-- cutoff): nothing of it ever ran (docs/guarantees.md #1). A committed run is
-- never in the pending set, so a status it cannot read (a corrupt record)
-- counts as pending. Safe to repeat: a second call finds nothing to delete.
-- KEYS: 1 run record, 2 node records, 3 node specs, 4 results, 5 work list, 6 shard pending-submissions
-- ARGV: 1 runId, 2 cutoff (epoch ms)
-- Returns: 1 discarded, 0 kept
local COMMITTED = { running = true, succeeded = true, failed = true, cancelled = true }
local v = redis.call("HMGET", KEYS[1], "status", "created")
if v[1] and COMMITTED[v[1]] then
  redis.call("ZREM", KEYS[6], ARGV[1])
  return 0
end
if v[1] and (tonumber(v[2]) or 0) > tonumber(ARGV[2]) then return 0 end
redis.call("DEL", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call("ZREM", KEYS[6], ARGV[1])
return 1
