-- Worker numbers (docs/redis-layout.md, `T:wnames`): a node record and its attempt history
-- name a worker by its tag, a NUL byte and a number of the shard's, not by its id
-- (`<hostname>:<pid>:<8 hex>` by default, 40 characters and more for a Kubernetes pod's
-- name), so that a small run's values stay under Redis's listpack limit
-- (hash-max-listpack-value, 64 bytes by default). The tag is a string, as the id was: a
-- version before 2026-12-03 reads it as a worker id, not as a corrupt record.
-- The shard's table holds "i:<worker id>" → "<number>,<day>" (the day, epoch ms / 86,400,000,
-- when the worker last started a node of the shard), "n:<number>" → the worker id, and
-- "next", the last number given. Maintenance deletes the entries of a worker unseen for 30
-- days (RedisStore.pruneWorkerNames).

--@include record

--@const
local DAY_MS = 86400000

-- the tag ("\0<number>") of worker `worker` (id) in the shard's table `key`: its number, its
-- day brought up to `now`'s, or a new one (an entry that is not "<number>,<day>" is given a
-- new number)
local function workerTag(key, worker, now)
  local day = math.floor(now / DAY_MS)
  local v = redis.call("HGET", key, "i:" .. worker)
  local n, seen
  if v then n, seen = string.match(v, "^(%d+),(%d+)$") end
  if n then
    if tonumber(seen) ~= day then redis.call("HSET", key, "i:" .. worker, n .. "," .. int(day)) end
    return "\0" .. n
  end
  n = redis.call("HINCRBY", key, "next", 1)
  redis.call("HSET", key, "i:" .. worker, n .. "," .. int(day), "n:" .. n, worker)
  return "\0" .. n
end
