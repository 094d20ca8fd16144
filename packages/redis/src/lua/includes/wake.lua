-- The wake marker: a worker with nothing to do blocks on its queues' wake lists
-- (BLPOP); a list holds at most one token, however often its queue is woken.

-- wakes one idle worker of the queue whose wake list is `wakeKey`
local function wakeWorker(wakeKey)
  redis.call("LPUSH", wakeKey, "1")
  redis.call("LTRIM", wakeKey, 0, 0)
end
