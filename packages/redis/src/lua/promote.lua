-- promote: moves retrying nodes whose backoff ended to their ready queue
-- (claim does the same for the queues it reads; this is the maintenance tick's).
-- KEYS: delayed ("runId#node#priority" by due time), ready, wake, seq
-- ARGV: now, limit
-- Replies: {OK, promoted} (a re-sent call promotes only what has become due since: harmless)
--@include promoteDue
--@include wake

local n = promoteDue(K.delayed, K.ready, K.seq, A.now, A.limit)
if n > 0 then wakeWorker(K.wake) end
return { R.OK, n }
