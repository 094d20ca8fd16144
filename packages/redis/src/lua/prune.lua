-- prune: deletes the runs of a shard that finished more than their retention before `now`,
-- of those listed (entries of its run list, RunList.ts): since 2026-12-05 a finished run's
-- hash has no key expiry (24 bytes for the expiry and about 13 of the expiry table's, per
-- run), and maintenance deletes it, as the in-memory store's `maintain` does
-- (docs/redis-layout.md, `T:run:<id>`). A run written before keeps the expiry it was given
-- and is found gone. Its hash and its work list go by UNLINK (a large run's hash is freed in
-- the background). A run not finished, or whose `finished` cannot be read, stays. Safe to
-- repeat: a second call finds the runs gone.
-- KEYS: runList (the shard's run list: it names the shard's hash slot, which the runs' keys,
--   built from `runPrefix`, share)
-- ARGV: now (epoch ms), runPrefix, runs (run ids, packed)
-- Replies: {OK, gone}: one character per run, in order, "1" for a run that is gone (deleted
--   by this call or before) and "0" for one kept
--@include run

local gone = {}
for i, runId in ipairs(A.runs) do
  local key = A.runPrefix .. runId
  local v = redis.call("HMGET", key, "status", "finished", "created", "retention")
  local out = "0"
  if not v[1] then
    -- (no status: no run, or a damaged one, which stays to be inspected)
    if redis.call("EXISTS", key) == 0 then out = "1" end
  elseif v[2] then
    local ended = runEnd(v[2], v[3])
    local keep = tonumber(v[4]) or DEFAULT_RETENTION
    if ended and ended + keep <= A.now then
      redis.call("UNLINK", key, key .. ":work")
      out = "1"
    end
  end
  gone[i] = out
end
return { R.OK, table.concat(gone) }
