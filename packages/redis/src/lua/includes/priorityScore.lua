-- Ready scores: a queue's ready set is ordered by score, lowest first.

-- the width of one priority band: arrival numbers (the shard's `seq` counter) stay below it
--@const
local PRIO_SPAN = 1099511627776 -- 2^40

-- the score of a node of `priority` (0..15, higher first) that arrives now: its
-- priority band, then its arrival number from the counter `seqKey`
local function readyScore(priority, seqKey)
  return (16 - priority) * PRIO_SPAN + redis.call("INCR", seqKey)
end

-- a score ahead of every priority band, for a node put back at the front of its
-- queue (re-delivered, released): its arrival number alone
local function frontScore(seqKey)
  return redis.call("INCR", seqKey)
end
