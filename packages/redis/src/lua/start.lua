-- start: starts the attempt of a node just claimed: checks the lease, counts
-- a stall when the node was found running under an older lease (that lease
-- had expired), and returns what the worker needs to run it. A queued or
-- retrying node past its deadline (expiresAt) ends `expired` instead. A node found
-- over its maxStalls fails instead (Stalled), and its run unless the node is
-- tolerated; its dependents are left on the run's work list for `drain`
-- (after any work listed before: see listEnding),
-- which the caller runs with the run's queues (start is not handed their
-- keys). Re-sent with the token the node already runs under, or that stalled
-- it out (a command re-sent after a reconnect), it answers the same and
-- counts nothing again. It only reads before it writes: a record it cannot
-- decode (the run record, the node record, the dependency list, or a queue
-- list that does not match the queue the node came from) is reported, and the
-- caller runs `corrupt` with the run's queues.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, leases (of
--   the queue the node was claimed from), workerNames (the shard's worker numbers)
-- ARGV: runId, node, token, worker (id), now, queue (name of the queue the node was
--   claimed from), eventsMax (about how many events the events stream keeps)
-- Replies: {OK, attempt, stalls, task, spec, queues (the run's, comma list), headers (the run's,
--   msgpack, "" = none), deps...} (deps: see depResults in includes/attempt.lua), {STALE} (the lease is gone, or the node is not
--   startable: the lease is dropped), {STALLED_OUT, more, queues} (the node failed over
--   its maxStalls; more: 1 when work is left for `drain`), {EXPIRED, more, queues} (the
--   node was queued or retrying past its expiresAt: it ended `expired`), {CORRUPT, field, why}
--   (nothing written; the lease is kept for `corrupt`)
--@include startnode

--@once
local codes = { OK = R.OK, STALE = R.STALE, STALLED_OUT = R.STALLED_OUT, EXPIRED = R.EXPIRED, CORRUPT = R.CORRUPT }
return startNode(codes, K, A.runId, A.node, A.token, workerTag(K.workerNames, A.worker, A.now), A.now, A.queue,
  A.eventsMax)
