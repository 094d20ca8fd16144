-- Shared queue-partition helpers (claim, promote).

-- wakes one idle worker of a queue: its wake list holds at most one token
local function wakeUp(wake)
  redis.call("LPUSH", wake, "1")
  redis.call("LTRIM", wake, 0, 0)
end

-- moves up to `limit` retrying nodes whose backoff ended by `now` from `delayed`
-- ("runId#node#priority" by due time) to `ready`, behind the ready nodes of their
-- priority; returns how many
local function promoteDue(delayed, ready, seq, now, limit)
  local due = redis.call("ZRANGEBYSCORE", delayed, "-inf", now, "LIMIT", 0, limit)
  for _, m in ipairs(due) do
    local run, n, prio = string.match(m, "^(.*)#(%d+)#(%d+)$")
    redis.call("ZREM", delayed, m)
    redis.call("ZADD", ready, (16 - tonumber(prio)) * 1099511627776 + redis.call("INCR", seq), run .. "#" .. n)
  end
  return #due
end
