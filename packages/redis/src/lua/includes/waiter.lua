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

-- one waiter's read of the run whose hash is `key`: `mode` "start" (a wait begins, counted
-- unless the run is over), "check" (a counted waiter reads again, uncounted once the run
-- is over) or "stop" (a counted waiter gives up); `quiet` 1: the wait is for every node to
-- end (the run's `finished` set); `fields`: the record fields to answer (a start or a
-- check names `status` and `finished` among them, a stop needs neither). Answers
-- {RC.OK, counted (1: the waiter is counted after this read), the values of `fields` (nil
-- where absent)}, or {RC.GONE} (no such run; nothing counted)
local function waitRun(RC, key, mode, quiet, fields)
  local v = redis.call("HMGET", key, unpack(fields))
  local status, finished
  for i, f in ipairs(fields) do
    if f == "status" then status = v[i] elseif f == "finished" then finished = v[i] end
  end
  -- (every run has a status: a read that finds one needs no EXISTS; a read that names none,
  -- or a run without one, looks for the run)
  if not status and redis.call("EXISTS", key) == 0 then return { RC.GONE } end
  local over = STOPPED[status] and (quiet == 0 or finished)
  local counted = 0
  if mode == "start" and not over then
    redis.call("HINCRBY", key, "w", 1)
    counted = 1
  elseif mode == "check" and not over then
    counted = 1
  elseif mode ~= "start" then
    if redis.call("HINCRBY", key, "w", -1) <= 0 then redis.call("HDEL", key, "w") end
  end
  return { RC.OK, counted, unpack(v) }
end
