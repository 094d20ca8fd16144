-- waitrun: reads a run's record for a client waiting for the run to stop or end
-- (RedisStore.waitForRun, what `result()` uses) and counts the client in field `w` of the
-- run's hash while it waits (includes/waiter.lua; waitrunmany.lua does it for many runs).
-- KEYS: record
-- ARGV: mode ("start": a wait begins, counted unless the run is over; "poll": a counted
--   waiter reads again; "check": a counted waiter the run-end channel woke reads again;
--   either uncounted once the run is over; "stop": a counted waiter gives up), quiet (1:
--   the wait is for every node to end, the run's `finished` set), fields (the record fields
--   to answer once the run is over; a check names `status` and `finished` among them)
-- Replies: {OK, counted (1: the waiter is counted after this call), the values of
--   `fields` (nil where absent) when the run is over, or its status is not one of a run},
--   {GONE} (no such run; nothing counted)
--@include waiter

return waitRun({ OK = R.OK, GONE = R.GONE }, K.record, A.mode, A.quiet, A.fields)
