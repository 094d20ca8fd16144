-- The wake marker: a worker with nothing to do blocks on its queues' wake lists
-- (BLPOP); a list holds at most one token, however often its queue is woken.

-- the wake lists this call already holds a token in (no script pops one): each is pushed once
--@percall
local wokenHere = {}

-- wakes one idle worker of the queue whose wake list is `wakeKey`
local function wakeWorker(wakeKey)
  if wokenHere[wakeKey] then return end
  wokenHere[wakeKey] = true
  redis.call("LPUSH", wakeKey, "1")
  redis.call("LTRIM", wakeKey, 0, 0)
end
