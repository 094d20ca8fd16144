-- A client's wait for a run (waitrun.lua, and waitrunmany.lua for many runs in one call):
-- reads the run's record and counts the client in field `w` of the run's hash while it
-- waits. While the field is set, the run's `run` and `run-ended` events are also
-- PUBLISHed on the shard's run-end channel (includes/run.lua, emit), so that a waiter
-- wakes for its own run instead of for every event of the shard. The field is deleted
-- when its count drops to 0: a run nobody waits for keeps none. A run that does not exist
-- is left alone (no hash is made for it).

-- the run is over for this wait: stopped (succeeded, failed, cancelled) and, with `quiet`,
-- ended (the same rule as TypeScript's; where they disagree, on a corrupt status, the
-- waiter reads the run as over and sends a stop)
local STOPPED = { succeeded = true, failed = true, cancelled = true }

-- the statuses of a run a wait reads as its client does (Machine.ts's RunStatus): a run in
-- one of them that is not over answers none of the fields asked for
local KNOWN = { pending = true, running = true, succeeded = true, failed = true, cancelled = true }

-- one waiter's read of the run whose hash is `key`: `mode` "start" (a wait begins, counted
-- unless the run is over), "poll" (a counted waiter reads again, not told the run is over:
-- its subscription came in place, or a second passed), "check" (a counted waiter woken by
-- the run-end channel reads again), each uncounted once the run is over, or "stop" (a
-- counted waiter gives up); `quiet` 1: the wait is for every node to end (the run's
-- `finished` set); `fields`: the record fields to answer once the run is over. Answers
-- {RC.OK, counted (1: the waiter is counted after this read), the values of `fields` (nil
-- where absent)}, the values only when the run is over or its status is not one the client
-- knows (a corrupt record: the client reads it, and says so); or {RC.GONE} (no such run;
-- nothing counted). A "check" reads `fields` at once (woken, the run is most likely over);
-- the others read `status` and `finished` first, and `fields` only when the run is over: a
-- run not over costs two fields instead of a score of them, and answers no values
local function waitRun(RC, key, mode, quiet, fields)
  local v, status, finished
  if mode == "check" then
    v = redis.call("HMGET", key, unpack(fields))
    for i, f in ipairs(fields) do
      if f == "status" then status = v[i] elseif f == "finished" then finished = v[i] end
    end
  else
    local sf = redis.call("HMGET", key, "status", "finished")
    status, finished = sf[1], sf[2]
  end
  -- (every run has a status: a read that finds one needs no EXISTS; a run without one
  -- is looked for)
  if not status and redis.call("EXISTS", key) == 0 then return { RC.GONE } end
  local over = STOPPED[status] and (quiet == 0 or finished)
  local counted = 0
  if mode == "start" and not over then
    redis.call("HINCRBY", key, "w", 1)
    counted = 1
  elseif (mode == "poll" or mode == "check") and not over then
    counted = 1
  elseif mode ~= "start" then
    if redis.call("HINCRBY", key, "w", -1) <= 0 then redis.call("HDEL", key, "w") end
  end
  if not over and KNOWN[status] then return { RC.OK, counted } end
  v = v or redis.call("HMGET", key, unpack(fields))
  return { RC.OK, counted, unpack(v) }
end
