-- promote: moves retrying nodes whose backoff ended to their ready queue
-- (claim does the same for the queues it reads; this is the maintenance tick's).
-- KEYS: 1 delayed (zset: "runId#node#priority" by due time), 2 ready, 3 wake, 4 arrival seq
-- ARGV: 1 now, 2 limit
-- Returns: number promoted (a re-sent call promotes only what has become due since: harmless)
--@include queue

local n = promoteDue(KEYS[1], KEYS[2], KEYS[4], ARGV[1], tonumber(ARGV[2]))
if n > 0 then wakeUp(KEYS[3]) end
return n
