-- claim: leases up to `max` nodes across the worker's queues, highest
-- priority first, then arrival, among ready nodes and the parked nodes of
-- the tasks the worker names (park.lua); each lease carries a new fencing
-- token. Retries of these queues whose backoff ended are made ready first
-- (at most `promote` per queue), so a due retry needs no maintenance tick.
-- A request id makes a re-sent call (ioredis re-sends unanswered commands
-- after a reconnect; the worker retries a failed claim with the same id)
-- return the first call's reply instead of leasing more: no lease is orphaned.
-- KEYS: 1 fencing tokens (string), 2 arrival seq (string), 3 the worker's last claim request (hash),
--   then per queue i: ready (zset), delayed (zset), leases (zset), wake (list), parked (zset)
-- ARGV: 1 now, 2 max, 3 lease ms, 4 request id ("" = none), 5 part (index of this call within the
--   request), 6 promote limit per queue, 7.. names of the tasks the worker handles
-- Returns: flat list of triples {queue index, member "runId#node", token}
--@include queue

local now, max, leaseMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reqId, part = ARGV[4], ARGV[5]
local Q = (#KEYS - 3) / 5
local function qk(i)
  local b = 3 + (i - 1) * 5
  return KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5]
end

if reqId ~= "" then
  local last = redis.call("HMGET", KEYS[3], "id", part)
  if last[1] == reqId then
    if last[2] then return cmsgpack.unpack(last[2]) end
  elseif last[1] then
    redis.call("DEL", KEYS[3])
  end
end

for i = 1, Q do
  local ready, delayed = qk(i)
  promoteDue(delayed, ready, KEYS[2], now, tonumber(ARGV[6]))
end

local tasks = {}
for j = 7, #ARGV do tasks[#tasks + 1] = ARGV[j] end

-- the best parked node of the worker's tasks in a parked set: {score, parked member, "runId#node"}, or false
local function bestParked(parked)
  local best
  for _, t in ipairs(tasks) do
    local top = redis.call("ZRANGEBYLEX", parked, "[" .. t .. "\0", "(" .. t .. "\1", "LIMIT", 0, 1)[1]
    if top then
      local score = tonumber(string.sub(top, #t + 2, #t + 17))
      if not best or score < best[1] then best = { score, top, string.sub(top, #t + 19) } end
    end
  end
  return best or false
end

-- one ZCARD per queue on the fast path: parked sets are read only when not empty
local parked = {}
for i = 1, Q do
  local _, _, _, _, pk = qk(i)
  parked[i] = #tasks > 0 and redis.call("ZCARD", pk) > 0 and bestParked(pk)
end

local out = {}
for _ = 1, max do
  local best, bestScore, fromParked
  for i = 1, Q do
    local top = redis.call("ZRANGE", (qk(i)), 0, 0, "WITHSCORES")
    if top[1] and (not bestScore or tonumber(top[2]) < bestScore) then
      best, bestScore, fromParked = i, tonumber(top[2]), false
    end
    local p = parked[i]
    if p and (not bestScore or p[1] < bestScore) then
      best, bestScore, fromParked = i, p[1], true
    end
  end
  if not best then break end
  local ready, _, leases, _, pk = qk(best)
  local member
  if fromParked then
    local p = parked[best]
    redis.call("ZREM", pk, p[2])
    member = p[3]
    parked[best] = bestParked(pk)
  else
    member = redis.call("ZPOPMIN", ready)[1]
  end
  local token = redis.call("INCR", KEYS[1])
  redis.call("ZADD", leases, now + leaseMs, member .. "#" .. token)
  out[#out + 1] = best
  out[#out + 1] = member
  out[#out + 1] = token
end

-- work left: wake another idle worker. For parked nodes, only when some of
-- this worker's tasks are left (it was full): a claim that takes nothing
-- never wakes anyone for a parked node, so workers without its task are not
-- woken over and over for a node they cannot run.
for i = 1, Q do
  local ready, _, _, wake = qk(i)
  if parked[i] or redis.call("ZCARD", ready) > 0 then wakeUp(wake) end
end

if reqId ~= "" then
  redis.call("HSET", KEYS[3], "id", reqId, part, cmsgpack.pack(out))
  redis.call("PEXPIRE", KEYS[3], leaseMs)
end
return out
