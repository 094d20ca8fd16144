-- waitrunmany: the reads of waitrun.lua for many runs of one shard in one call, each as
-- waitrun does it (includes/waiter.lua), in order: the reads of the waits a client makes
-- in one turn (many `result()` calls awaited at once).
-- KEYS: (one per run, `count` of them: record, the run's hash)
-- ARGV: count (of runs), reads (one msgpack array of strings, Packed.ts: per run, in KEYS
--   order: mode, quiet, the number of fields, the fields; each as waitrun's)
-- Replies: {OK, replies...}, one per run in order, each a waitrun reply
--@include waiter

local CODES = { OK = "OK", GONE = "GONE" }
local out = { R.OK }
local reads, at = A.reads, 1
for i, run in ipairs(RUNS) do
  local n = tonumber(reads[at + 2])
  local fields = {}
  for j = 1, n do fields[j] = reads[at + 2 + j] end
  out[i + 1] = waitRun(CODES, run.record, reads[at], tonumber(reads[at + 1]), fields)
  at = at + 3 + n
end
return out
