-- The fencing tokens and lease entries one call hands out (docs/guarantees.md #2), written
-- once when the call ends (grants.flush: Scripts.ts runs it after the body, and when the body
-- raised an error, before the error goes on): a worker's completions of many chain steps in
-- one call took one INCR and one ZADD each, about a third of a step's commands
-- (docs/benchmarks.md). Tokens come from the shard's counter in the order taken, the same
-- numbers as one INCR each would give: the counter is advanced by the first take and past
-- the last by the flush.
-- A lease entry is added to its queue's leases with the others of that queue, in one ZADD
-- (at most 1,000 entries each: unpack's stack is bounded). No call reads a lease it added
-- itself: a worker learns a token from the call's reply, after the call.
--@include record

-- takeTokens(key, k), addLease(key, score, member) and flush(), below (one local: the
-- library's top level has few locals left), kept across calls: it holds only these functions
--@kept
local grants = {}
do
-- this call's tokens: the counter's key, the last token handed out, the counter's value in
-- Redis (none taken: nil)
local tokenKey, lastToken, counterAt
-- this call's first lease entry (none: nil), and the others in the order added (leases key,
-- score, member, leases key, ...; a list made at the second: a lone completion adds one).
-- flush empties them; no call that does not include this file adds to them
local leaseKey, leaseScore, leaseMember, more, nMore

-- takes k (≥ 1) tokens from the counter `key` (the shard's `tokens`): the first's number,
-- the others following it
function grants.takeTokens(key, k)
  local last = lastToken
  if last and tokenKey == key then
    lastToken = last + k
    return last + 1
  end
  local value = k == 1 and redis.call("INCR", key) or redis.call("INCRBY", key, digits(k))
  -- (one counter a call: a call runs on one shard. Another is advanced at once)
  if not last then tokenKey, lastToken, counterAt = key, value, value end
  return value - k + 1
end

-- adds member `member` at score `score` (both strings, as ZADD takes them) to the sorted set
-- `key` (a queue's leases) when the call ends
function grants.addLease(key, score, member)
  if not leaseKey then
    leaseKey, leaseScore, leaseMember = key, score, member
  elseif not more then
    more, nMore = { key, score, member }, 3
  else
    local n = nMore
    more[n + 1], more[n + 2], more[n + 3] = key, score, member
    nMore = n + 3
  end
end

-- ZADDs to `key` the entries of list `a` (score, member, ...) up to `to`, at most 1,000 a
-- command
local function zaddAll(key, a, to)
  for from = 1, to, 2000 do
    redis.call("ZADD", key, unpack(a, from, math.min(to, from + 1999)))
  end
end

-- the call's counter advanced past its last token, and its lease entries added: one ZADD
-- per leases key (in the order first added). The call's state is emptied first: a flush
-- that fails leaves none to the next call
function grants.flush()
  local tkey, last, at = tokenKey, lastToken, counterAt
  local key, score, member, m, n = leaseKey, leaseScore, leaseMember, more, nMore
  tokenKey, lastToken, counterAt, leaseKey, leaseScore, leaseMember, more, nMore = nil, nil, nil, nil, nil, nil, nil, 0
  if last and last > at then redis.call("INCRBY", tkey, digits(last - at)) end
  if not key then return end
  if not m then
    redis.call("ZADD", key, score, member)
    return
  end
  -- (the first entry's key first, then each other key in the order first added)
  local byKey, keys = { [key] = { score, member } }, { key }
  for i = 1, n, 3 do
    local k = m[i]
    local a = byKey[k]
    if not a then
      a = {}
      byKey[k] = a
      keys[#keys + 1] = k
    end
    a[#a + 1], a[#a + 2] = m[i + 1], m[i + 2]
  end
  for _, k in ipairs(keys) do zaddAll(k, byKey[k], #byKey[k]) end
end
end
