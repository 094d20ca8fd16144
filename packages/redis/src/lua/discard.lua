-- discard: removes a submission abandoned midway (still `pending` past the
-- cutoff): nothing of it ever ran (docs/guarantees.md #1). A committed run is
-- never in the pending set, so a status it cannot read (a corrupt record)
-- counts as pending. Safe to repeat: a second call finds nothing to delete.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), pending (the shard's pending
--   submissions)
-- ARGV: runId, cutoff (epoch ms)
-- Replies: {OK} (discarded), {KEPT} (committed, or written after the cutoff)
local COMMITTED = { running = true, succeeded = true, failed = true, cancelled = true }
local v = redis.call("HMGET", K.record, "status", "created")
if v[1] and COMMITTED[v[1]] then
  redis.call("ZREM", K.pending, A.runId)
  return { R.KEPT }
end
if v[1] and (tonumber(v[2]) or 0) > A.cutoff then return { R.KEPT } end
redis.call("DEL", K.record, K.nodes, K.specs, K.results, K.work)
redis.call("ZREM", K.pending, A.runId)
return { R.OK }
