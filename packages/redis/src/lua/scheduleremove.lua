-- scheduleremove: removes a schedule and its state.
-- KEYS: schedule, index
-- ARGV: id
-- Replies: {OK} (removed), {GONE} (no such schedule)
local n = redis.call("DEL", K.schedule)
redis.call("SREM", K.index, A.id)
if n == 0 then return { R.GONE } end
return { R.OK }
