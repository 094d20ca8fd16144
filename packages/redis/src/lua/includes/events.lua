-- The events of one script call, written to the shard's events stream as one entry when the
-- call ends (docs/redis-layout.md, `T:events`). Scripts that include this file are wrapped
-- by Scripts.ts so that flushEvents runs after their body, whatever it returns.
--
-- An entry is `b` → msgpack of a list of groups, one per run, in the order the call first
-- wrote an event of each: { runId, ms, event, event, ... }, ms false when it is the previous
-- group's, each event a list led by its kind's letter:
--   node transitions (w waiting, q queued, r started, y retrying, s succeeded, f failed,
--     c cancelled, k skipped, x expired): { letter, node, task, attempt [, error tag] }, the
--     task 0 when it is the one the entry's previous such event named, in the entry's order
--     (before 2026-12-05, the group's: an entry of that version reads the same)
--   p progress: { "p", node, progress (msgpack) }      l lease-expired: { "l", node }
--   d added: { "d", node ids (a comma list) }          R run, E run-ended: { letter, status }
-- Since 2026-12-06 (17:00 UTC), like events and like groups are written short: a node
-- transition that repeats the entry's previous event (a node transition of the same letter,
-- task, attempt and error tag) but for its node is that node's number alone (a chord's
-- members started or completed together), and a group whose time and events are the
-- previous group's is its run id alone, a string instead of a list (plain jobs submitted,
-- started or completed together, the same step of like chains: plainEvents and stepEvents
-- write them so at once, without their tables; since 2026-12-07 nodeEventOf writes like node
-- transitions as their numbers at once too). An earlier version reads such an entry as one
-- position without events (docs/operations.md).
-- Its id is `<EVENTS_BASE + N>-0`, N the number of the shard's last event so far (counted
-- in `T:events:n`): an event's number is its position in the shard's stream, so that
-- trimming by id (`MINID ~`) keeps about `eventsMax` events, not entries, and a cursor can
-- stop inside an entry. EVENTS_BASE is above any id of a time (an older version's entries,
-- `XADD *`), so the numbered ids follow them.
--@include record

--@const
local EVENTS_BASE = 1000000000000000

-- this call's groups of events, one per run, in the order the call first wrote an event of
-- each; a run whose events are those of the group before it, as its run id alone (plainEvents)
--@percall
local EVB = {}

-- each run's group in EVB, by run id (false: written as its run id alone), and each group that
-- plainEvents or stepEvents made, which runs written as their ids may follow: its index in EVB
--@percall
local EVRUN = {}

-- this call's events stream and the events it keeps (about), the run-end channel of ENDED,
-- the last group plainEvents or stepEvents made and the length of EVB after the last run
-- written as its id after it, and the group eventOf last added an event to with that event
-- (nodeEventOf's): { key, max, channel, group, length, group, event }
--@percall
local EVAT = {}

-- the ids of the runs this call stopped or ended that a client waits for (field `w`,
-- waitrun.lua), PUBLISHed on the shard's run-end channel when the call ends (flushEnded)
--@percall
local ENDED = {}

-- makes each run written as its id after group `p` (plainEvents, stepEvents) a group of its own, copies of
-- p's events in it: before p or one of them takes another event (eventOf)
local function unlikeAfter(p)
  local i = EVRUN[p]
  EVRUN[p] = nil
  if EVAT[4] == p then EVAT[4] = nil end
  for k = i + 1, #EVB do
    local id = EVB[k]
    if type(id) ~= "string" then return end
    local g = { id, p[2] }
    for j = 3, #p do
      local e = p[j]
      g[j] = type(e) == "table" and { e[1], e[2], e[3], e[4], e[5] } or e
    end
    EVB[k] = g
    EVRUN[id] = g
  end
end

-- adds event `ev` (a list, see above) of run `runId` at `ms` (epoch ms, a number) to this
-- call's entry for the events stream `key`, which keeps about `max` events
local function eventOf(key, max, runId, ms, ev)
  local g = EVRUN[runId]
  if g == false then
    -- (a run written as its id: it and the others after the group they follow made groups)
    local k = #EVB
    while EVB[k] ~= runId do k = k - 1 end
    repeat k = k - 1 until type(EVB[k]) ~= "string"
    unlikeAfter(EVB[k])
    g = EVRUN[runId]
  end
  if g then
    if EVRUN[g] then unlikeAfter(g) end
    g[#g + 1] = ev
    EVAT[6], EVAT[7] = g, ev
    return
  end
  -- (made with its first event: most groups hold one)
  g = { runId, ms, ev }
  EVRUN[runId] = g
  local n = #EVB + 1
  EVB[n] = g
  if n == 1 then EVAT[1], EVAT[2] = key, max end
  EVAT[6], EVAT[7] = g, ev
end

-- adds node n's transition { letter, n, task, attempt } (no error tag) of run `runId` at `ms`,
-- as eventOf would, and with `last` the same transition of nodes n + 1 to `last` after it;
-- written short, its node number alone and no table made, when eventOf's last event went to
-- this run's group, is the group's last and is the same transition of another node: a wide
-- chord's members queued, started or completed together. flushEvents reads such a number
-- as the event before it again, for its node, which is how it writes like events anyway
-- (an entry reads the same)
local function nodeEventOf(key, max, runId, ms, letter, n, task, attempt, last)
  local g = EVRUN[runId]
  local e = EVAT[7]
  if not g or EVAT[6] ~= g or EVRUN[g] or e[1] ~= letter or e[3] ~= task or e[4] ~= attempt or e[5] ~= nil then
    eventOf(key, max, runId, ms, { letter, n, task, attempt })
    if not last then return end
    -- (eventOf's group for the run, the event its last)
    g, n = EVRUN[runId], n + 1
  elseif not last then
    g[#g + 1] = n
    return
  end
  local k = #g
  for x = n, last do
    k = k + 1
    g[k] = x
  end
end

-- adds a plain job's events (its node 0's) of run `runId` at `ms`, as eventOf would:
-- { letter, 0, task, attempt }, then { "E", "succeeded" } when `ended`. A run new to the call
-- whose events are those of the group plainEvents made last, when that group is the last or
-- only runs so written follow it, is written as its run id alone, no table made: plain jobs
-- submitted, started or completed together (flushEvents writes the same for like groups
-- made otherwise)
local function plainEvents(key, max, runId, ms, letter, task, attempt, ended)
  local n = #EVB
  local p = EVAT[4]
  if p and EVAT[5] == n and EVRUN[runId] == nil and p[2] == ms and #p == (ended and 4 or 3) then
    local e = p[3]
    if e[1] == letter and e[3] == task and e[4] == attempt then
      EVB[n + 1] = runId
      EVRUN[runId] = false
      EVAT[5] = n + 1
      return
    end
  end
  eventOf(key, max, runId, ms, { letter, 0, task, attempt })
  if ended then eventOf(key, max, runId, ms, { "E", "succeeded" }) end
  -- (a group made, the last: the runs after it may be written as their ids)
  local g = EVB[n + 1]
  if g then
    EVRUN[g] = n + 1
    EVAT[4], EVAT[5] = g, n + 1
  end
end

-- adds a chain step's events of run `runId` at `ms`, as eventOf would: node n's success
-- { "s", n, task, attempt }, then its dependent d's queuing { "q", d, dtask, dattempt } and
-- start { "r", d, dtask, dattempt + 1 } (completenode.lua's chainStep). A run new to the call
-- whose step is that of the group made last so, when that group is the last or only runs so
-- written follow it, is written as its run id alone, no table made: the same step of like
-- chains completed together (flushEvents writes the same for like groups made otherwise)
local function stepEvents(key, max, runId, ms, n, task, attempt, d, dtask, dattempt)
  local nb = #EVB
  local p = EVAT[4]
  -- (a group of five is one stepEvents made, plainEvents's of three or four: the items left
  -- out of the comparison are equal when these are)
  if p and EVAT[5] == nb and EVRUN[runId] == nil and p[2] == ms and #p == 5 then
    local s, q = p[3], p[4]
    if s[2] == n and s[3] == task and s[4] == attempt and q[2] == d and q[3] == dtask and q[4] == dattempt then
      EVB[nb + 1] = runId
      EVRUN[runId] = false
      EVAT[5] = nb + 1
      return
    end
  end
  local s, q, r = { "s", n, task, attempt }, { "q", d, dtask, dattempt }, { "r", d, dtask, dattempt + 1 }
  if EVRUN[runId] ~= nil then
    eventOf(key, max, runId, ms, s)
    eventOf(key, max, runId, ms, q)
    eventOf(key, max, runId, ms, r)
    return
  end
  -- (a run new to the call: its group made whole, as eventOf would make it, the last, which
  -- the runs after it may follow written as their ids)
  local g = { runId, ms, s, q, r }
  EVRUN[runId] = g
  EVB[nb + 1] = g
  if nb == 0 then EVAT[1], EVAT[2] = key, max end
  EVRUN[g] = nb + 1
  EVAT[4], EVAT[5] = g, nb + 1
end

-- run `runId`, which a client waits for, stopped or ended in this call: its id goes on
-- `channel` (the shard's run-end channel) when the call ends (flushEnded)
local function endedRun(channel, runId)
  local n = #ENDED
  if n == 0 then EVAT[3] = channel end
  ENDED[n + 1] = runId
end

-- PUBLISHes this call's ended runs (endedRun) in one message: a run's id alone, or, for
-- more than one, byte 255 (never the first byte of UTF-8 text, so never of a run id)
-- followed by the msgpack array of their ids (docs/redis-layout.md, the run-end channel):
-- a batch of completions that ends many waited runs costs one PUBLISH, not one per run
local function flushEnded()
  local n = #ENDED
  if n == 0 then return end
  redis.call("PUBLISH", EVAT[3], n == 1 and ENDED[1] or "\255" .. cmsgpack.pack(ENDED))
end

-- (flushEvents's own locals in a block: the library's top level has no local left)
local flushEvents
do
-- the letters of the events that name a task (third in the list)
local TASKED = { w = true, q = true, r = true, y = true, s = true, f = true, c = true, k = true, x = true }

-- the number of the last event in the stream `key` as its last entry's id says (0 for none,
-- or for an entry of an older version, whose id is a time)
local function lastEventNumber(key)
  local top = redis.call("XREVRANGE", key, "+", "-", "COUNT", 1)[1]
  local ms = top and tonumber(string.match(top[1], "^(%d+)-")) or 0
  return ms >= EVENTS_BASE and ms - EVENTS_BASE or 0
end

-- whether groups g and ref, of n items each, hold the same events: each event's items equal (at
-- most five), an event written as its node alone (nodeEventOf's) standing for the last one
-- written whole before it in its group but for its node
local function sameEvents(g, ref, n)
  local pg, pr
  for j = 3, n do
    local e, f = g[j], ref[j]
    if type(e) == "table" then pg = e end
    if type(f) == "table" then pr = f end
    if (pg == e and e[2] or e) ~= (pr == f and f[2] or f) or pg[1] ~= pr[1] or pg[3] ~= pr[3] or pg[4] ~= pr[4]
      or pg[5] ~= pr[5] then
      return false
    end
  end
  return true
end

-- PUBLISHes this call's ended runs (flushEnded), then writes its events as one entry (none:
-- nothing), trimming the stream to about its `max` last events when the events' count
-- passes a multiple of an eighth of `max`: a trim (`MINID ~`) looks at the stream's first
-- block of entries, about 15,000 Redis instructions, as much as the rest of a chain step's
-- events; the stream keeps at most an eighth more events (and a block) between trims. The
-- count key `<key>:n` is the number of the last event written; when it is behind the stream
-- (deleted, say), the stream's last id says where to go on from.
function flushEvents()
  flushEnded()
  local nb = #EVB
  if nb == 0 then return end
  -- a group like the one before it (the same time, the same events: each event's items equal,
  -- at most five), its run id alone, as plainEvents writes a plain job's: each compared with
  -- the last group kept a list, as it was made (a run id's [2] is nil)
  local ref = EVB[1]
  for i = 2, nb do
    local g = EVB[i]
    if g[2] ~= nil then
      local n = #g
      if n == #ref and g[2] == ref[2] and sameEvents(g, ref, n) then EVB[i] = g[1] else ref = g end
    end
  end
  -- (in the entry's order: a task named by the entry's previous event that named one is
  -- written as 0, a group's time that is the previous group's as false, an event like the one
  -- before it as its node: a batch of plain jobs' events, a chord's members', a chain step's)
  local count, task, ms, had = 0, nil, nil, 0
  -- the previous event's letter (a node transition's, else nil), attempt and error tag
  local pl, pa, pe
  for i = 1, nb do
    local g = EVB[i]
    -- (a run id: the previous group again, its events counted again)
    if g[2] == nil then
      count = count + had
    else
      local n = #g
      had = n - 2
      count = count + had
      if g[2] == ms then g[2] = false else ms = g[2] end
      for j = 3, n do
        local ev = g[j]
        -- (a number is written short already, nodeEventOf's: like the event before it, which
        -- stays the one the next is compared to)
        if type(ev) == "table" then
          local l = ev[1]
          if TASKED[l] then
            if l == pl and ev[3] == task and ev[4] == pa and ev[5] == pe then
              g[j] = ev[2]
            else
              pl, pa, pe = l, ev[4], ev[5]
              if ev[3] == task then ev[3] = 0 else task = ev[3] end
            end
          else
            pl = nil
          end
        end
      end
    end
  end
  local key = EVAT[1]
  local last = redis.call("INCRBY", key .. ":n", digits(count))
  local payload = cmsgpack.pack(EVB)
  local max = num(EVAT[2])
  local step = math.max(1, math.floor(max / 8))
  local function add()
    local id = string.format("%d-0", EVENTS_BASE + last)
    if math.floor(last / step) == math.floor((last - count) / step) then
      return redis.pcall("XADD", key, id, "b", payload)
    end
    return redis.pcall("XADD", key, "MINID", "~", string.format("%d", EVENTS_BASE + last - max), id, "b", payload)
  end
  local ok = add()
  if type(ok) == "table" and ok.err then
    last = lastEventNumber(key) + count
    redis.call("SET", key .. ":n", last)
    add()
  end
end
end
