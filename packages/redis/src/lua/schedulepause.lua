-- schedulepause: pauses or resumes a schedule; its state is kept.
-- KEYS: schedule
-- ARGV: paused ("1" or "0"), now (epoch ms)
-- Replies: {OK}, {GONE} (no such schedule)
if redis.call("EXISTS", K.schedule) == 0 then return { R.GONE } end
redis.call("HSET", K.schedule, "paused", A.paused, "updatedAt", A.now)
return { R.OK }
