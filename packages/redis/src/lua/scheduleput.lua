-- scheduleput: upserts a schedule by id; a new one starts with state version 0, an
-- existing one keeps its state (so an edit never fires a tick twice).
-- KEYS: schedule (hash def, paused, state, version, createdAt, updatedAt), index (set of ids)
-- ARGV: id, def (msgpack of the schedule), paused ("1" or "0"), now (epoch ms)
-- Replies: {OK}
redis.call("HSETNX", K.schedule, "createdAt", A.now)
redis.call("HSETNX", K.schedule, "version", 0)
redis.call("HSET", K.schedule, "def", A.def, "paused", A.paused, "updatedAt", A.now)
redis.call("SADD", K.index, A.id)
return { R.OK }
