-- Due retries (claim, promote).
--@include priorityScore

-- moves up to `limit` retrying nodes whose backoff ended by `now` from the delayed set
-- `delayedKey` ("runId#node#priority" by due time) to the ready set `readyKey`, behind
-- the ready nodes of their priority (arrival numbers from `seqKey`); returns how many
local function promoteDue(delayedKey, readyKey, seqKey, now, limit)
  local due = redis.call("ZRANGEBYSCORE", delayedKey, "-inf", now, "LIMIT", 0, limit)
  for _, m in ipairs(due) do
    local run, n, prio = string.match(m, "^(.*)#(%d+)#(%d+)$")
    redis.call("ZREM", delayedKey, m)
    redis.call("ZADD", readyKey, readyScore(tonumber(prio), seqKey), run .. "#" .. n)
  end
  return #due
end
