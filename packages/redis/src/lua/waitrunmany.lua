-- waitrunmany: the reads of waitrun.lua for many runs of one shard in one call, each as
-- waitrun does it (includes/waiter.lua), in order: the reads of the waits a client makes
-- in one turn (many `result()` calls awaited at once).
-- KEYS: (one per run, `count` of them: record, the run's hash)
-- ARGV: count (of runs), lists (one msgpack array of strings, Packed.ts: the lists of fields
--   the reads name, each as its number of fields, then the fields: most reads of a call name
--   the same list, sent once), reads (one msgpack array of strings: per run, in KEYS order:
--   mode, quiet, as waitrun's, and the number of its list of fields, from 1, in `lists`)
-- Replies: {OK, replies...}, one per run in order, each a waitrun reply
--@include waiter

local CODES = { OK = "OK", GONE = "GONE" }
local lists, raw, at = {}, A.lists, 1
while raw[at] do
  local n = tonumber(raw[at])
  local fields = {}
  for j = 1, n do fields[j] = raw[at + j] end
  lists[#lists + 1] = fields
  at = at + 1 + n
end
local out = { R.OK }
local reads = A.reads
for i, run in ipairs(RUNS) do
  local j = 3 * i - 2
  out[i + 1] = waitRun(CODES, run.record, reads[j], tonumber(reads[j + 1]), lists[tonumber(reads[j + 2])])
end
return out
