-- complete: records a node's result if the attempt's fencing token still
-- holds its lease (docs/guarantees.md #2), makes dependents ready in
-- declaration order (#3, #4) and leases up to `nextMax` of them to the same
-- worker. Re-sent (the node already succeeded under this token) it changes
-- nothing and answers the same claims: the dependents this completion
-- leased, found as those started by this worker at the completion's time
-- and still running (nothing is stored for it: a node record stays small).
-- In a cancelled run the node ends `cancelled` and its result is not recorded.
-- KEYS: record, nodes, specs, results, work (the run's), shardWork, events, tokens, seq;
--   per run queue: ready, delayed, leases, wake, parked, expiring, paused (a dependent on a
--   paused queue is never handed out: it is made ready and waits for the queue's resume)
-- ARGV: runId, node, token, result (bytes), now, worker (id), nextMax, leaseMs,
--   served (indexes of the run's queues the worker serves, ",1,3,"), budget, eventsMax (about how many entries the events stream keeps),
--   span (the attempt's trace span id, kept as field t<node> of results; "" = none, nothing kept)
-- Replies: {OK, more, claims...} or {REPLAYED, more, claims...}, each claim
--   {node, token, attempt, stalls, spec, deps...}; {STALE, more}; {CANCELLED, more}
--   (more: 1 when work is left for `drain`)
--@include cascade
--@include attempt

local runId, n, token, budget = A.runId, A.node, A.token, A.budget
local M = loadRun(openRun(K, QUEUES, runId, A.now, false, A.eventsMax))
if not M then return { R.STALE, 0 } end
local r = getNode(M, n)
if not r or r[ST] ~= "r" then
  if r and r[TOK] == token and r[ST] == "s" then
    -- this very completion, re-sent: the dependents it leased to this worker, in the order it
    -- leased them (declaration order), that still run under that lease
    local claims = {}
    for _, v in ipairs(r[NEXT]) do
      if #claims >= A.nextMax then break end
      local d = type(v) == "number" and (v >= 0 and v or -v - 1)
      local dr = d and getNode(M, d)
      if dr and dr[ST] == "r" and dr[STARTED] == finishedAt(r) and dr[WORKER] == A.worker
        and string.find(A.served, "," .. dr[QIDX] .. ",", 1, true) then
        local deps = depResults(M, d)
        if deps then claims[#claims + 1] = claimTuple(M, d, dr, dr[TOK], deps) end
      end
    end
    return { R.REPLAYED, endEarly(M, budget), unpack(claims) }
  end
  if r and r[TOK] == token and r[ST] == "c" then return { R.CANCELLED, endEarly(M, budget) } end
  return { R.STALE, endEarly(M, budget) }
end
local q = takeLease(M, n, r, token)
if not q then return { R.STALE, endEarly(M, budget) } end
redis.call("HDEL", K.results, "p" .. n)
local ready = {}
if M.status == "cancelled" then
  addHistory(M, n, r, "cancelled", nil)
  endNode(M, n, r, "c", errorValue("Cancelled",
    "the run was cancelled while this node ran: its result was discarded"))
  local more = cascade(M, n, ready, budget)
  enqueue(M, ready, 1)
  saveRun(M)
  return { R.CANCELLED, (more or moreWork(M)) and 1 or 0 }
end
if A.span ~= "" then
  -- the attempt's trace span id rides in the same HSET: dependents' spans link to it
  redis.call("HSET", K.results, "r" .. n, A.result, "t" .. n, A.span)
else
  redis.call("HSET", K.results, "r" .. n, A.result)
end
endNode(M, n, r, "s", nil)
local more = cascade(M, n, ready, budget)
local claims, rest = {}, {}
for _, d in ipairs(ready) do
  local dr = getNode(M, d)
  -- a run stopped on the way (a corrupt record) hands nothing out
  -- a delayed dependent (DUE set) waits for its time in the delayed set
  if M.status == "running" and dr[ST] == "q" and dr[DUE] == 0 and #claims < A.nextMax
    and string.find(A.served, "," .. dr[QIDX] .. ",", 1, true)
    and redis.call("EXISTS", QUEUES[dr[QIDX]].paused) == 0 then
    local c = startHere(M, d, dr, A.worker, A.leaseMs)
    if c then claims[#claims + 1] = c end
  else
    rest[#rest + 1] = d
  end
end
enqueue(M, rest, 1)
saveRun(M)
return { R.OK, (more or moreWork(M)) and 1 or 0, unpack(claims) }
