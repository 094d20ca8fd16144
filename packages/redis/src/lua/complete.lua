-- complete: records a node's result if the attempt's fencing token still
-- holds its lease (docs/guarantees.md #2), makes dependents ready in
-- declaration order (#3, #4) and leases up to `nextMax` of them to the same
-- worker. Re-sent (the node already succeeded under this token) it changes
-- nothing and answers the same claims: the dependents this completion
-- leased, found as those started by this worker at the completion's time
-- and still running (nothing is stored for it: a node record stays small).
-- In a cancelled run the node ends `cancelled` and its result is not recorded.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, tokens, seq,
--   workerNames (the shard's worker numbers);
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts) (a dependent on a
--   paused queue is never handed out: it is made ready and waits for the queue's resume)
-- ARGV: runId, node, token, result (bytes), now, worker (id), nextMax, leaseMs,
--   served (indexes of the run's queues the worker serves, ",1,3,"), budget, eventsMax (about how many events the events stream keeps),
--   span (the attempt's trace span id, kept as field t<node> of results; "" = none, nothing kept)
-- Replies: {OK, more, claims...} or {REPLAYED, more, claims...}, each claim
--   {node, token, attempt, stalls, task, spec, deps...}; {STALE, more}; {CANCELLED, more}
--   (more: 1 when work is left for `drain`). A reply with claims comes packed, the whole list
--   as one string (cmsgpack.pack; Packed.ts, unpackReply, reads it as Redis would have
--   answered the list): Redis turns each list of a reply into its reply and the client parses
--   each item: a chain step's reply cost about 7,000 Redis instructions more unpacked
--@include completenode

--@once
local codes = { OK = R.OK, REPLAYED = R.REPLAYED, STALE = R.STALE, CANCELLED = R.CANCELLED }
local reply = completeNode(codes, K, QUEUES, A.runId, A.node, A.token, A.result, A.now,
  workerTag(K.workerNames, A.worker, A.now), A.nextMax,
  A.leaseMs, A.served, A.budget, A.eventsMax, A.span)
if #reply > 2 then return cmsgpack.pack(reply) end
return reply
