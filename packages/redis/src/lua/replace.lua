-- replace: a running node's handler returned replace(canvas) (core's Machine.replaceNode),
-- or (mode "chord") a running chord header member adds a member to its chord (core's
-- Machine.addToChord: the node keeps running and its lease; each chord body's spec,
-- dependency list and pending count take the new nodes in; a call id, `nonce`, kept in
-- the run's `lastadd` field, makes a re-sent commit answer OK without adding again):
-- the canvas's nodes are appended to the run (ids from `base` = the run's node count on,
-- already encoded by TypeScript with the node among their output nodes' dependents), an
-- `added` event names them, their roots become ready, and the node goes back to
-- `waiting` on the replacement's output nodes (its spec and dependency list rewritten).
-- Written in bounded chunks like submit: the first chunk ("begin") takes the run's
-- `adding` field for this node and token (one replacement is staged per run at a time;
-- one whose node no longer runs under its token is abandoned and taken over), each
-- chunk writes its node fields past the run's count, where nothing reads them, and the
-- last ("commit") makes them part of the run in one step (docs/guarantees.md #1).
-- Re-sent after the node left `running` under the same token, it changes nothing and
-- answers REPLAYED (CANCELLED when the node ended cancelled).
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, seq;
--   per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts) (the run's queues,
--   then those the new nodes bring)
-- ARGV: mode ("replace" or "chord"), nonce, bodies (mode chord: msgpack list of
--   [body id, new spec, new dependency list (both hex), pending added]), runId, node, token, now,
--   phase ("begin", "commit", "begin+commit", "" a middle
--   chunk), base (the run's node count the nodes were numbered from), count (nodes
--   added), oldQueues (the run's queue list as read), queues (that list with the new
--   nodes' queues appended), spec (the node's new spec), deps (its new dependency list,
--   msgpack, "" for none), pending (its length), budget, eventsMax, nodes (quadruples as
--   submit's: node id, field n<id>, spec for s<id> or "", dependency list or "")
-- Replies: {OK, more}, {REPLAYED, more}, {CANCELLED, more}, {STALE, more}, {ENDED} (mode
--   chord: the run failed, nothing added), {RETRY}
--   (the run's node count or queue list changed since it was read: read them again),
--   {BUSY} (another node's replacement is being staged: try again)
--@include cascade

local runId, n, token, budget = A.runId, A.node, A.token, A.budget
local begin, commit = string.find(A.phase, "begin", 1, true), string.find(A.phase, "commit", 1, true)
local chord = A.mode == "chord"
if chord and redis.call("HGET", K.record, "lastadd") == A.nonce then return { R.OK, 0 } end
local M = loadRun(openRun(K, QUEUES, runId, A.now, false, A.eventsMax))
if not M then return { R.STALE, 0 } end
readWorkList(M)
local r = getNode(M, n)
if chord and r and r[ST] == "r" and r[TOK] == token then
  local q = queueOf(M, r[QIDX])
  if not q or not redis.call("ZSCORE", q.leases, runId .. "#" .. n .. "#" .. token) then
    return { R.STALE, endEarly(M, budget) }
  end
  if M.status == "cancelled" then return { R.CANCELLED, endEarly(M, budget) } end
  if M.status ~= "running" then return { R.ENDED } end
elseif chord then
  if r and r[TOK] == token and r[ST] == "c" then return { R.CANCELLED, endEarly(M, budget) } end
  return { R.STALE, endEarly(M, budget) }
end
if not r or r[ST] ~= "r" or r[TOK] ~= token then
  if r and r[TOK] == token and r[ST] == "c" then return { R.CANCELLED, endEarly(M, budget) } end
  if r and r[TOK] == token and r[ST] ~= "r" then return { R.REPLAYED, endEarly(M, budget) } end
  return { R.STALE, endEarly(M, budget) }
end

local mine = n .. "#" .. token
local holder = redis.call("HGET", K.record, "adding")
if begin then
  if holder and holder ~= mine then
    local hn, ht = string.match(holder, "^(%d+)#(%d+)$")
    local hr = hn and getNode(M, tonumber(hn))
    if hr and hr[ST] == "r" and hr[TOK] == tonumber(ht) then return { R.BUSY } end
  end
  if M.total ~= A.base or (redis.call("HGET", K.record, "queues") or DEFAULT_QUEUES) ~= A.oldQueues then return { R.RETRY } end
  redis.call("HSET", K.record, "adding", mine)
elseif holder ~= mine then
  return { R.RETRY }
end

writeNodes(K, A.nodes)
if not commit then return { R.OK, 0 } end

redis.call("HDEL", K.record, "adding")
local ready = {}
if chord then
  redis.call("HSET", K.record, "lastadd", A.nonce)
  M.total = M.total + A.count
  M.dirty = true
  redis.call("HSET", K.record, "total", M.total, "queues", A.queues)
  local function unhex(h) return (string.gsub(h, "..", function(c) return string.char(tonumber(c, 16)) end)) end
  for _, b in ipairs(cmsgpack.unpack(A.bodies)) do
    redis.call("HSET", K.nodes, "d" .. b[1], unhex(b[3]))
    local br = getNode(M, b[1])
    if br then
      replaceSpec(M, b[1], br, unhex(b[2]))
      if not TERMINAL[br[ST]] then br[PEND] = br[PEND] + b[4] end
      putNode(M, b[1], br)
    else
      redis.call("HSET", K.specs, "s" .. b[1], unhex(b[2]))
    end
  end
  local ids = {}
  for id = A.base, A.base + A.count - 1 do ids[#ids + 1] = id end
  eventOf(M.k.events, M.emax, M.id, M.now, { "d", table.concat(ids, ",") })
  local more = process(M, { "R:" .. A.base }, ready, budget)
  if not more then redis.call("ZREM", K.shardWork, runId) end
  enqueue(M, ready, 1)
  saveRun(M)
  return { R.OK, (more or moreWork(M)) and 1 or 0 }
end
local q = takeLease(M, n, r, token)
if not q then return { R.STALE, endEarly(M, budget) } end
redis.call("HDEL", K.results, "p" .. n)
if M.status == "cancelled" then
  addHistory(M, n, r, "cancelled", nil)
  endNode(M, n, r, "c", errorValue("Cancelled",
    "the run was cancelled while this node ran: its result was discarded"))
  local more = cascade(M, n, ready, budget)
  enqueue(M, ready, 1)
  saveRun(M)
  return { R.CANCELLED, (more or moreWork(M)) and 1 or 0 }
end
if not (M.status == "running" or (M.status == "failed" and r[TOL] == 2)) then
  -- the run failed while the handler ran: its replacement would never run
  endNode(M, n, r, "k", errorValue("Skipped",
    "run " .. M.status .. " before this node could start (last upstream: node " .. n .. ")"))
  local more = cascade(M, n, ready, budget)
  enqueue(M, ready, 1)
  saveRun(M)
  return { R.OK, (more or moreWork(M)) and 1 or 0 }
end

M.total = M.total + A.count
M.dirty = true
redis.call("HSET", K.record, "total", M.total, "queues", A.queues)
replaceSpec(M, n, r, A.spec)
if A.deps ~= "" then redis.call("HSET", K.nodes, "d" .. n, A.deps) end
r[ST] = "w"
r[PEND] = A.pending
putNode(M, n, r)
local ids = {}
for id = A.base, A.base + A.count - 1 do ids[#ids + 1] = id end
eventOf(M.k.events, M.emax, M.id, M.now, { "d", table.concat(ids, ",") })
if A.pending == 0 then
  -- an empty replacement (group of nothing): the node is ready to gather its output at once
  queueNode(M, n, r)
  nodeEvent(M, n, r)
  ready[#ready + 1] = n
end
local more = false
if A.count > 0 then more = process(M, { "R:" .. A.base }, ready, budget) end
if not more then redis.call("ZREM", K.shardWork, runId) end
enqueue(M, ready, 1)
saveRun(M)
return { R.OK, (more or moreWork(M)) and 1 or 0 }
