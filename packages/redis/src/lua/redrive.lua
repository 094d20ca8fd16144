-- redrive: re-drives a run that ended failed or cancelled and is quiet (core's
-- Machine.redriveRun): the run is running again; succeeded nodes keep their
-- results; every other node keeps its history (h<n>) and is waiting again with a
-- fresh retry budget (attempts and stalls 0) and its dependencies not succeeded
-- counted pending (a callback whose event can no longer happen stays as it ended: see
-- redriveNode in cascade); those with none pending are queued. The record's `redrives`
-- counts re-drives. With an edit, node A.node's spec (before its record in n<n>, or s<n>)
-- is replaced first. The run's keys stop expiring. The walk over the nodes and their dependency lists is bounded by the
-- budget (docs/guarantees.md §10): work left is listed for `drain`; the number of nodes
-- queued is then kept in the record's field `rdq` once the walk is done.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, now, node (-1: no edit), spec (the edited node's spec bytes, or ""), budget,
--   eventsMax (about how many events the events stream keeps)
-- Replies: {OK, more, queued} (more: 1 when work is left for `drain`; queued: the nodes
--   queued by this call), {GONE, 0} (no such run), {SUCCEEDED, 0}, {NOTENDED, 0} (pending
--   or running), {NOTQUIET, 0} (a node still running), {BADNODE, 0} (the edited node is
--   out of range or succeeded)
--@include cascade

local M = loadRun(openRun(K, QUEUES, A.runId, A.now, false, A.eventsMax))
if not M then return { R.GONE, 0 } end
readWorkList(M)
if M.status == "succeeded" then return { R.SUCCEEDED, 0 } end
if M.status ~= "failed" and M.status ~= "cancelled" then return { R.NOTENDED, 0 } end
if not M.finished then return { R.NOTQUIET, 0 } end
if A.node >= 0 then
  local r = A.node < M.total and getNode(M, A.node)
  if not r or r[ST] == "s" then return { R.BADNODE, 0 } end
  replaceSpec(M, A.node, r, A.spec)
  putNode(M, A.node, r)
end

M.status = "running"
M.finished = nil
M.dirty = true
redis.call("HDEL", M.k.record, "finished", "fnode", "err", "cancelreq", "rdq")
redis.call("HINCRBY", M.k.record, "redrives", 1)
-- (a run an earlier version gave a key expiry at its end keeps none while it runs again; since
-- 2026-12-05 a run has none, and maintenance deletes it once it has ended: prune.lua)
local kept = {}
for _, k in ipairs({ M.k.record, M.k.nodes, M.k.specs, M.k.results, M.k.work or M.k.record .. ":work" }) do
  if not kept[k] then
    kept[k] = true
    redis.call("PERSIST", k)
  end
end
emit(M, "run")

-- the walk ("V:0", then "R:0" to queue the nodes with none pending) runs within the budget,
-- and `drain` continues it: it holds one count of `ended` until it is done, so that the run
-- does not end while it walks (a cancel meanwhile stops it: see process)
M.ended = M.ended - 1
local ready = {}
local more = process(M, { "V:0" }, ready, A.budget)
if not more then redis.call("ZREM", K.shardWork, A.runId) end
enqueue(M, ready, 1)
saveRun(M)
return { R.OK, more and 1 or 0, #ready }
