-- prune: deletes the runs of a shard's run list (RunList.ts) whose retention has passed since
-- their end, of those listed: since 2026-12-05 a finished run of the default retention has no
-- key expiry (24 bytes for the expiry and about 13 of the expiry table's, per run), and
-- maintenance deletes it, as the in-memory store's `maintain` does (docs/redis-layout.md,
-- `T:run:<id>`). A run of another retention, or one written before, also expires by the key
-- expiry it was given; deleted here when due all the same. Its hash and its work list go by
-- UNLINK (a large run's hash is freed in the background). Safe to repeat: a second call finds
-- the runs gone.
-- Runs of one retention are due in about the order they were committed, the run list's; the
-- caller walks it from its oldest end and stops at the first run due later, and passes over
-- those that are "held", due much later than the runs around them: a run not finished
-- `horizon` ms after it was created, or that took longer than that, a damaged one (no
-- `status`), and one whose end cannot be read.
-- KEYS: runList (the shard's run list: it names the shard's hash slot, which the runs' keys,
--   built from `runPrefix`, share)
-- ARGV: now (epoch ms), horizon (ms), runPrefix, runs (run ids, packed)
-- Replies: {OK, flags}: one character per run, in order: "1" gone (deleted by this call or
--   before), "2" held, "0" kept, due within about `horizon` of the runs around it
--@include run

local now, horizon = A.now, A.horizon
local flags = {}
for i, runId in ipairs(A.runs) do
  local key = A.runPrefix .. runId
  local v = redis.call("HMGET", key, "status", "finished", "created", "retention")
  local flag = "0"
  local created = tonumber(v[3])
  if not v[1] then
    flag = redis.call("EXISTS", key) == 0 and "1" or "2"
  elseif v[2] then
    local ended = runEnd(v[2], v[3])
    if not ended or not created then
      flag = "2"
    elseif ended + (tonumber(v[4]) or DEFAULT_RETENTION) <= now then
      redis.call("UNLINK", key, key .. ":work")
      flag = "1"
    elseif ended - created > horizon then
      flag = "2"
    end
  elseif not created or created < now - horizon then
    flag = "2"
  end
  flags[i] = flag
end
return { R.OK, table.concat(flags) }
