-- redrive: re-drives a run that ended failed or cancelled and is quiet (core's
-- Machine.redriveRun): the run is running again; succeeded nodes keep their
-- results; every other node keeps its history (h<n>) and is waiting again with a
-- fresh retry budget (attempts and stalls 0) and its dependencies not succeeded
-- counted pending; those with none pending are queued. The record's `redrives` counts re-drives. With an edit, node
-- A.node's spec (s<n>) is replaced first. The run's keys stop expiring.
-- One call walks every node of the run and its dependency lists.
-- KEYS: record, nodes, specs, results, work (the run's), shardWork, events, seq;
--   per run queue: ready, delayed, leases, wake, parked, expiring, paused
-- ARGV: runId, now, node (-1: no edit), spec (the edited node's spec bytes, or ""),
--   eventsMax (about how many entries the events stream keeps)
-- Replies: {OK, queued}, {GONE, 0} (no such run), {SUCCEEDED, 0}, {NOTENDED, 0} (pending
--   or running), {NOTQUIET, 0} (a node still running), {BADNODE, 0} (the edited node is
--   out of range or succeeded)
--@include cascade
--@include attempt

local M = loadRun(openRun(K, QUEUES, A.runId, A.now, false, A.eventsMax))
if not M then return { R.GONE, 0 } end
if M.status == "succeeded" then return { R.SUCCEEDED, 0 } end
if M.status ~= "failed" and M.status ~= "cancelled" then return { R.NOTENDED, 0 } end
if not M.finished then return { R.NOTQUIET, 0 } end
if A.node >= 0 then
  local r = A.node < M.total and getNode(M, A.node)
  if not r or r[ST] == "s" then return { R.BADNODE, 0 } end
  redis.call("HSET", M.k.specs, "s" .. A.node, A.spec)
end

M.status = "running"
M.finished = nil
M.dirty = true
redis.call("HDEL", M.k.record, "finished", "fnode", "err", "cancelreq")
redis.call("HINCRBY", M.k.record, "redrives", 1)
local kept = {}
for _, k in ipairs({ M.k.record, M.k.nodes, M.k.specs, M.k.results, M.k.work }) do
  if not kept[k] then
    kept[k] = true
    redis.call("PERSIST", k)
  end
end
emit(M, "run")

local succeeded = {}
for n = 0, M.total - 1 do
  local r = getNode(M, n)
  succeeded[n] = r and r[ST] == "s"
end
M.ended = 0
local ready = {}
for n = 0, M.total - 1 do
  local r = getNode(M, n)
  if succeeded[n] then
    M.ended = M.ended + 1
  elseif r then
    local deps = readDeps(M, n) or {}
    local pending = 0
    for i = 1, #deps do
      if not succeeded[deps[i]] then pending = pending + 1 end
    end
    r[ST] = "w"
    r[ATT] = 0
    r[STALLS] = 0
    r[FINISHED] = 0
    r[DUE] = 0
    r[PEND] = pending
    redis.call("HDEL", M.k.results, "e" .. n)
    if pending == 0 then
      queueNode(M, n, r)
      nodeEvent(M, n, r)
      ready[#ready + 1] = n
    else
      putNode(M, n, r)
    end
  end
end
enqueue(M, ready, 1)
saveRun(M)
return { R.OK, #ready }
