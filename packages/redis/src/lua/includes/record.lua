-- Node records and error values (no keys: pure functions on values).
--
-- A node record (field n<i> of the run hash) is a msgpack array; these name
-- its fields (docs/redis-layout.md, "Node record"). (`--@const`: Scripts.ts writes
-- the numbers in place of the names, so that no function captures them: every
-- call of a script creates its functions again, and each upvalue costs.)
--@const
local ST, ATT, STALLS, PEND, STARTED, FINISHED, WORKER, DUE, MAXST, QIDX, PRIO, TOL, NEXT, TASK =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
-- TOK: fencing token of the node's current or last lease
--@const
local TOK = 15
-- set by park.lua: the ready score the node was parked with (its parked member is
-- task .. "\0" .. that score as 16 digits .. "\0" .. runId#node); left stale once claimed
--@const
local PARK = 16
-- written at submit only for a node with a time limit (its own or its run's), with TOK 0
-- and PARK false before them; absent (nil) reads as 0 = none:
-- DLY: ms to hold the node once ready (delayMs); EXPIN: ms it may wait once ready
-- (expiresInMs); NBF: epoch ms it may not start before (notBefore, the run's `at`);
-- EXP: epoch ms it must start before (expiresAt, the run's), lowered to ready time +
-- EXPIN when it becomes ready
--@const
local DLY, EXPIN, NBF, EXP = 17, 18, 19, 20
-- EXPAT: EXP as written at submit, kept by queueNode when it first lowers EXP (a node with
-- EXPIN only), so that a re-drive counts EXPIN anew from the absolute deadline
--@const
local EXPAT = 21

-- integer x (|x| < 2^53) as the string redis.call would make of it ("%.17g"), made the
-- cheaper way: hot paths hand redis.call such strings rather than numbers
local function int(x)
  return string.format("%d", x)
end

-- small numbers (node ids, attempts, tokens, queue indexes) as the strings `..` makes of
-- them ("%.14g"), each made once: `..` formats a number with printf's float path every time
-- (about 0.3 µs), and a node's id is joined into a field or member name several times per
-- transition. Kept across calls (a number's digits are a function of it alone: node ids
-- recur call after call); past DIGITS_MAX kept, all are dropped: 16,384 (about 1.2 MB of the
-- Lua heap), so that a 10,000-wide chord's node ids stay kept with the tokens its claims
-- format (4,096 until 2026-12-07: 3.6 % more Redis instructions per member of such a chord,
-- docs/benchmarks.md). Anything else goes through tostring, as `..` would format it.
--@kept
local DIGITS = {}
local digitsKept = 0
--@const
local DIGITS_MAX = 16384
local function digits(x)
  local s = DIGITS[x]
  if s then return s end
  if type(x) ~= "number" or x % 1 ~= 0 or x <= -1e14 or x >= 1e14 then return tostring(x) end
  s = string.format("%d", x)
  if digitsKept >= DIGITS_MAX then
    DIGITS = {}
    digitsKept = 0
  end
  DIGITS[x] = s
  digitsKept = digitsKept + 1
  return s
end

-- the number of a string as `tonumber` reads it (nil when it holds none), for the small
-- counts, flags, times and settings that calls and runs repeat ("1", "0", a retention, a
-- batch's submission time), each read once: `tonumber` reads a string twice (lua_isnumber,
-- then lua_tonumber, strtod each time, about 850 Redis instructions in all), a hit here is
-- one table read. Kept across calls as DIGITS (a function of the string alone); past
-- NUMBERS_MAX kept, all are dropped. Not for what is new at every call (fencing tokens, a
-- wide run's node ids): `s + 0` reads a string the client wrote once.
--@kept
local NUMBERS = {}
local numbersKept = 0
--@const
local NUMBERS_MAX = 4096
local function num(s)
  local x = NUMBERS[s]
  if x then return x end
  x = tonumber(s)
  if x == nil then return nil end
  if numbersKept >= NUMBERS_MAX then
    NUMBERS = {}
    numbersKept = 0
  end
  NUMBERS[s] = x
  numbersKept = numbersKept + 1
  return x
end

local TERMINAL = { s = true, f = true, c = true, k = true, x = true }
local STATE_NAME = { w = "waiting", q = "queued", r = "running", y = "retrying", s = "succeeded", f = "failed", c = "cancelled", k = "skipped", x = "expired" }

-- (allocation-free: these run on every record read, and garbage grows the Lua heap)
local function oneValue(ok, v, ...)
  if not ok then return nil, "not msgpack (" .. tostring(v) .. ")" end
  if v == nil then return nil, "no value" end
  if select("#", ...) > 0 then return nil, "trailing bytes after the record" end
  return v
end

-- decodes bytes that must hold exactly one msgpack value; nil and why when they do not
local function unpackOne(raw)
  return oneValue(pcall(cmsgpack.unpack, raw))
end

-- The result of a node that succeeded, by its record's decoded table: since 2026-12-05 the
-- result is kept after the record's bytes in field n<i> (one field per node fewer, no r<i>).
-- decodeNode and a completion set it; packRecord writes it after the record.
--@percall
local RESULTS = {}

-- The spec of a node, by its record's decoded table: since 2026-12-05 a run of more than 32
-- nodes keeps each node's spec before its record's bytes in field n<i>, as a msgpack bin
-- (one field per node fewer, no s<i>; a smaller run keeps it in s<i>: Records.ts,
-- SPEC_IN_RECORD_NODES). Its bytes with their bin header, as the field holds them and as the
-- scripts hand them to a worker (the store strips the header). decodeNode sets it;
-- packRecord writes it before the record.
--@percall
local SPECS = {}

-- the node count past which a run keeps its specs so (Records.ts, SPEC_IN_RECORD_NODES): a
-- node numbered from it on is of such a run
--@const
local SPEC_IN_RECORD_NODES = 32

-- spec bytes `s` as one msgpack bin, as SPECS holds a spec
local function specBin(s)
  local n = #s
  if n < 256 then return string.char(196, n) .. s end
  if n < 65536 then return string.char(197, math.floor(n / 256), n % 256) .. s end
  return string.char(198, math.floor(n / 16777216), math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    .. s
end

-- the length of the spec before the record in field n<i>'s bytes `raw`, header included
-- (see SPECS), 0 when the field has none (the spec in s<i>: a run of at most 32 nodes, or
-- one written before 2026-12-05), or nil when the bytes end inside it. `b`: raw's first byte
local function specLength(raw, b)
  if b == 196 then -- bin 8
    local n = string.byte(raw, 2)
    return n and n + 2 < #raw and n + 2 or nil
  elseif b == 197 then -- bin 16
    local x, y = string.byte(raw, 2, 3)
    return y and x * 256 + y + 3 < #raw and x * 256 + y + 3 or nil
  elseif b == 198 then -- bin 32
    local w, x, y, z = string.byte(raw, 2, 5)
    local n = z and ((w * 256 + x) * 256 + y) * 256 + z + 5
    return n and n < #raw and n or nil
  end
  return 0
end

-- a node record from bytes `raw` from byte offset `at` on (0: the first; past the spec in
-- field n<i>, see SPECS): one msgpack value, then, for a node that succeeded, its result's
-- bytes; and that result when there is one; nil and why when the bytes are not a record, or
-- more than one value follows a record of another state
local function unpackRecord(raw, at)
  local ok, off, v = pcall(cmsgpack.unpack_one, raw, at)
  if not ok then return nil, "not msgpack (" .. tostring(off) .. ")" end
  if v == nil then return nil, "no value" end
  if off == -1 then return v end
  if type(v) ~= "table" or v[ST] ~= "s" then return nil, "trailing bytes after the record" end
  return v, nil, string.sub(raw, off + 1)
end

-- the result kept after a succeeded node's record in field n<i> (see RESULTS), nil when the
-- bytes hold none: a record written before 2026-12-05 keeps it apart, in r<i>
local function resultAfter(raw)
  local at = specLength(raw, string.byte(raw, 1))
  if not at then return nil end
  local _, _, result = unpackRecord(raw, at)
  return result
end

-- A dependency list (field d<n>, written by TypeScript's packDeps) is a msgpack list whose
-- entries are node ids or ranges: {first, last} stands for the ids first..last, {first,
-- last, step} for first, first + step, ..., last (a run of 4 or more evenly spaced ids is
-- written so), so that a 100,000-wide chord body's list is {{0, 99999}}.

-- whether entry e of a dependency list is a range whose ids are all below `total`
-- (nil: no bound)
local function isRange(e, total)
  if type(e) ~= "table" or #e < 2 or #e > 3 then return false end
  local first, last, step = e[1], e[2], e[3] or 1
  return type(first) == "number" and type(last) == "number" and type(step) == "number"
    and first == math.floor(first) and last == math.floor(last) and step == math.floor(step)
    and first >= 0 and step >= 1 and last > first and (last - first) % step == 0
    and not (total and last >= total)
end

-- how many ids the decoded dependency list `list` of node n holds, its ranges counted
-- without being walked, when every id is an upstream node id (>= 0, below `total` when
-- given, not n); nil and why when it is not such a list
local function countDeps(list, n, total)
  if type(list) ~= "table" or #list == 0 then return nil, "not a list of node ids" end
  local count = 0
  for i = 1, #list do
    local e = list[i]
    if type(e) == "table" then
      if not isRange(e, total) or (n >= e[1] and n <= e[2] and (n - e[1]) % (e[3] or 1) == 0) then
        return nil, "entry " .. i .. " is not a range of upstream node ids"
      end
      count = count + (e[2] - e[1]) / (e[3] or 1) + 1
    elseif type(e) ~= "number" or e < 0 or e == n or (total and e >= total) or e ~= math.floor(e) then
      return nil, "entry " .. i .. " is not an upstream node id: " .. tostring(e)
    else
      count = count + 1
    end
  end
  return count
end

-- the entries of the decoded dependency list `list` with its ranges (those below `total`)
-- expanded to their ids, in order; any other entry is kept as it is
local function expandDeps(list, total)
  local out = {}
  for i = 1, #list do
    local e = list[i]
    if isRange(e, total) then
      for d = e[1], e[2], e[3] or 1 do out[#out + 1] = d end
    else
      out[#out + 1] = e
    end
  end
  return out
end

-- raises unless fields 2-12 of node record r (but the worker, 7) and its token are numbers
-- and its worker and task strings: Lua's `<` compares a number only with a number and a
-- string only with a string, and raises otherwise. One pcall of this checks them as a
-- `type` call per field would, at a tenth of the cost (a record is decoded at every
-- transition; those calls were 7,000 of the 160,000 Redis instructions of a chord member's
-- claim, counted with callgrind on 2026-12-03)
local function typesOf(r)
  local _ = r[ATT] < 0
  _ = r[STALLS] < 0
  _ = r[PEND] < 0
  _ = r[STARTED] < 0
  _ = r[FINISHED] < 0
  _ = r[DUE] < 0
  _ = r[MAXST] < 0
  _ = r[QIDX] < 0
  _ = r[PRIO] < 0
  _ = r[TOL] < 0
  _ = r[TOK] < 0
  _ = r[WORKER] < ""
  _ = r[TASK] < ""
end

-- The node records met in state waiting or queued, by their bytes: `true` once
-- met, then a checked copy of the record once met again. Such records are often the same
-- bytes (a chord's members, chain steps, plain jobs of one task: no id, start time or token
-- in them yet), and a copy costs a fraction of a decode (cmsgpack and the checks). Kept
-- across calls, as RUNNING_BYTES below (decoding is a function of the bytes alone): the
-- steps of many chains, the jobs of one task are met again call after call. Past
-- SEEN_MAX records, all are dropped.
--@kept
local SEEN_RECORDS = {}
local seenKept = 0
--@const
local SEEN_MAX = 4096

-- a new table with record t's fields (1..#t, no nil among them), its dependents list copied
-- too (the one field that is a table): what decoding the same bytes again gives
local function copyRecord(t)
  local list = t[NEXT]
  local own = #list == 1 and { list[1] } or {}
  if #list > 1 then
    for i = 1, #list do own[i] = list[i] end
  end
  -- (made at its size by one constructor, NEXT in its place 13: filled one field at a time, a
  -- table grows 5 times to hold 15; fields past the record's end are nil there, as in it)
  local c = { t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], own, t[14], t[15] }
  for i = 16, #t do c[i] = t[i] end
  return c
end

-- Node records packed lately in state running, by their bytes, each a copy of the table
-- packed: a node's next transition (its completion, in another call) decodes the bytes its
-- start wrote, and takes the record from here instead (a decode costs about three times the
-- copy: docs/benchmarks.md). Kept across calls: a library's top level runs once (not
-- --@percall); a script run by EVALSHA makes it anew each call, and finds nothing. Decoding
-- is a function of the bytes alone, so whichever call or run packed them, the copy is the
-- record they hold. A hit is taken out: its value in each table set to false, not nil (a
-- table whose keys go back to nil while new ones come rehashes every few additions: 42 % of
-- what a chain step's completion allocated, docs/operations.md); its key stays until the
-- drop, and is counted in runningKept. Past RUNNING_MAX kept, all are dropped. Keyed by the
-- field's bytes as written: with the record's spec before them when it has one (SPECS), kept
-- in RUNNING_SPECS by the same bytes, which a hit puts back (no string is cut from them).
--@kept
local RUNNING_BYTES = {}
--@kept
local RUNNING_SPECS = {}
-- the packing each kept record's bytes were made from, but their token (startedBytes), by
-- the same bytes: a chord's members started in one claim share one
--@kept
local RUNNING_PREFIXES = {}
-- the token of a record kept by memberStartedLike, by the same bytes: the record kept for
-- them is another like start's, which a hit copies under this token
--@kept
local RUNNING_TOKENS = {}
-- (the records kept since the last drop, those taken out since included)
local runningKept = 0
--@const
local RUNNING_MAX = 4096

-- keeps running record `kept` (r or a copy of it) for the next decode of `bytes`, the bytes
-- packed of r (with its spec `spec` before them, or none): when r has no field past TOK (a
-- time limit, a parked score: none of them nil before a set one), and nothing is kept for
-- those bytes yet. With `token`: `kept` is another like start's record, never changed, which
-- that decode copies under `token` (memberStartedLike: no copy made per member), a copy of one
-- kept here before: its fields need no check
local function keepRunning(bytes, r, kept, spec, prefix, token)
  if (token or r[PARK] == nil and r[DLY] == nil and r[EXPIN] == nil and r[NBF] == nil and r[EXP] == nil
      and r[EXPAT] == nil) and not RUNNING_BYTES[bytes] then
    if runningKept >= RUNNING_MAX then
      RUNNING_BYTES = {}
      RUNNING_SPECS = {}
      RUNNING_PREFIXES = {}
      RUNNING_TOKENS = {}
      runningKept = 0
    end
    RUNNING_BYTES[bytes] = kept or copyRecord(r)
    if spec then RUNNING_SPECS[bytes] = spec end
    if prefix then RUNNING_PREFIXES[bytes] = prefix end
    if token then RUNNING_TOKENS[bytes] = token end
    runningKept = runningKept + 1
  end
end

-- whole number x (0 <= x < 2^53) as cmsgpack.pack encodes it: its smallest unsigned form
local function uintBytes(x)
  if x < 128 then return string.char(x) end
  if x < 256 then return string.char(204, x) end
  if x < 65536 then return string.char(205, math.floor(x / 256), x % 256) end
  if x < 4294967296 then
    return string.char(206, math.floor(x / 16777216), math.floor(x / 65536) % 256, math.floor(x / 256) % 256, x % 256)
  end
  local hi, lo = math.floor(x / 4294967296), x % 4294967296
  return string.char(207, math.floor(hi / 16777216), math.floor(hi / 65536) % 256, math.floor(hi / 256) % 256,
    hi % 256, math.floor(lo / 16777216), math.floor(lo / 65536) % 256, math.floor(lo / 256) % 256, lo % 256)
end

-- The last start of a record decoded from bytes `from`, at time `at` by worker `by`: its
-- packing (`packed`, false for a record of more than 15 fields) and `token`, and that packing
-- but its token (its last field, `bytes`), cut at the next like start: a
-- chord's members, queued as the same bytes, are started by one claim at one time by one
-- worker, and their running records differ only in their token (the same step of many like
-- chains, in a call that hands many out, too). Made anew at the next start unlike it.
-- (one table: a library's top level holds at most 200 locals)
local LAST_START = { from = false, at = false, by = false, packed = false, token = false, bytes = false }

-- field n<i>'s bytes for record r, decoded from bytes `from` (its spec cut off: RECORD_BYTES)
-- and just started (state, attempt, pending count, start time, worker, due time and token
-- `token` set as every start sets them: no other change) at `now` by `worker`: as
-- packRecord(r, true) writes them, kept for its next decode the same way, but, after a like
-- start (of the same bytes, at the same time, by the same worker), from its packing, the token
-- encoded after it (a packing costs about 14,000 Redis instructions, docs/benchmarks.md)
local function startedBytes(r, from, token, now, worker)
  local spec = SPECS[r]
  local last = LAST_START
  local like = from == last.from and now == last.at and worker == last.by
  if like and not last.bytes then
    -- (its token last, encoded as uintBytes does, in a record of 15 fields)
    if last.packed then
      last.bytes = string.sub(last.packed, 1, -#uintBytes(last.token) - 1)
    else
      like = false
    end
  end
  local bytes
  if like then
    bytes = (spec or "") .. last.bytes .. uintBytes(token)
  else
    bytes = cmsgpack.pack(r)
    last.from, last.at, last.by = from, now, worker
    last.packed, last.token, last.bytes = r[16] == nil and bytes, token, false
    if spec then bytes = spec .. bytes end
  end
  keepRunning(bytes, r, r, spec, like and last.bytes)
  return bytes
end

-- The packing each running record decodeNode took from RUNNING_BYTES was made from, but its
-- token (RUNNING_PREFIXES), by the record. Of one call.
--@percall
local PREFIX_OF = {}
-- The records whose success packRecord makes from such a packing (succeedsFrom): it.
--@percall
local SUCCEEDS_FROM = {}

-- marks running record r, taken from RUNNING_BYTES and changed in no way since, about to
-- succeed: the caller changes its state, duration and due time, and nothing else, as every
-- success does (endNode's). When its bytes were made from a start's packing (startedBytes),
-- packRecord makes its success from the packing of the last such success (succeededBytes)
local function succeedsFrom(r)
  local prefix = PREFIX_OF[r]
  if prefix then SUCCEEDS_FROM[r] = prefix end
end

-- The last success of a record whose start was made from packing `from` (startedBytes), with
-- duration `fin`: its packing and `token`, and that packing but its token (`bytes`), cut at
-- the next like success: the members of a chord started in one claim (one
-- start time) and completed in one call (one duration) differ only in their token.
local LAST_SUCCESS = { from = false, fin = false, packed = false, token = false, bytes = false }

-- field n<i>'s bytes for record r, marked by succeedsFrom with packing `from`, once it
-- succeeded: as packRecord writes them (its spec before, its result after), but, after a like
-- success (of the same packing, with the same duration), from its packing, the token encoded
-- after it. (The token is the last field, as in the start's packing: startedBytes made one
-- only of such a record, and a success adds no field)
local function succeededBytes(r, from)
  local spec, result, fin = SPECS[r], RESULTS[r], r[FINISHED]
  local last = LAST_SUCCESS
  if from == last.from and fin == last.fin then
    if not last.bytes then last.bytes = string.sub(last.packed, 1, -#uintBytes(last.token) - 1) end
    return (spec or "") .. last.bytes .. uintBytes(r[TOK]) .. (result or "")
  end
  local bytes = cmsgpack.pack(r)
  last.from, last.fin, last.packed, last.token, last.bytes = from, fin, bytes, r[TOK], false
  return (spec or "") .. bytes .. (result or "")
end

-- packs record r; a running one is kept for its next decode (keepRunning): a copy, or r itself
-- when the caller hands it over (`given`: nothing changes r after this). A success marked by
-- succeedsFrom is made from the packing of the last like one (succeededBytes)
local function packRecord(r, given)
  local st = r[ST]
  if st == "s" then
    local from = SUCCEEDS_FROM[r]
    if from then return succeededBytes(r, from) end
  end
  local bytes = cmsgpack.pack(r)
  -- (its spec before the record, see SPECS; a node that succeeded: its result after it, see
  -- RESULTS)
  local spec, result = SPECS[r], st == "s" and RESULTS[r]
  if result then return (spec or "") .. bytes .. result end
  if spec then bytes = spec .. bytes end
  if st == "r" then keepRunning(bytes, r, given and r, spec) end
  return bytes
end

-- a node record from its bytes (no spec before them), checked field by field; nil and why
-- when it is not one
local function decodeRecord(raw)
  local seen = SEEN_RECORDS[raw]
  if seen and seen ~= true then return copyRecord(seen) end
  local r, why, result = unpackRecord(raw, 0)
  if not r then return nil, why end
  if type(r) ~= "table" then return nil, "not an array" end
  if not STATE_NAME[r[ST]] then return nil, "unknown state " .. tostring(r[ST]) end
  if result then RESULTS[r] = result end
  if r[TOK] == nil then r[TOK] = 0 end
  if not pcall(typesOf, r) then
    -- (which field: the rare path)
    for i = ATT, TOL do -- fields 2-12: numbers, but for the worker (7)
      if i ~= WORKER and type(r[i]) ~= "number" then return nil, "field " .. i .. " is not a number" end
    end
    -- (the worker: its tag, includes/workers.lua; its id in a record written before 2026-12-03)
    if type(r[WORKER]) ~= "string" or type(r[TASK]) ~= "string" then return nil, "worker or task is not a string" end
    return nil, "token is not a number"
  end
  -- its entries are checked where they are walked: a fan-out's list can be long
  if type(r[NEXT]) ~= "table" then return nil, "dependents are not a list" end
  for i = DLY, EXPAT do
    if r[i] ~= nil and type(r[i]) ~= "number" then return nil, "field " .. i .. " is not a number" end
  end
  -- (a waiting or queued record: msgpack array header, then the state as a 1-character string)
  local st = string.byte(raw, 3)
  if (st == 119 or st == 113) and string.byte(raw, 2) == 161 and #r[NEXT] <= 8 then
    if not seen then
      if seenKept >= SEEN_MAX then
        SEEN_RECORDS = {}
        seenKept = 0
      end
      SEEN_RECORDS[raw] = true
      seenKept = seenKept + 1
    else
      -- kept only when its fields are 1..n, no nil among them (a copy of 1..n is then the
      -- whole record)
      local n, count = #r, 0
      for _ in pairs(r) do count = count + 1 end
      if count == n then SEEN_RECORDS[raw] = copyRecord(r) end
    end
  end
  return r
end

-- the bytes of the record the last decodeNode call decoded, its spec cut off: what the
-- caches of records by their bytes are keyed by (queuedBytes' `from`)
local RECORD_BYTES = false

-- a node record from field n<i>'s bytes, checked field by field (its spec, before it since
-- 2026-12-05, kept in SPECS); nil and why when it is not one
local function decodeNode(raw)
  local running = RUNNING_BYTES[raw]
  if running then
    RUNNING_BYTES[raw] = false
    local token = RUNNING_TOKENS[raw]
    if token then
      running = copyRecord(running)
      running[TOK] = token
      RUNNING_TOKENS[raw] = false
    end
    local spec = RUNNING_SPECS[raw]
    if spec then
      SPECS[running] = spec
      RUNNING_SPECS[raw] = false
    end
    local prefix = RUNNING_PREFIXES[raw]
    if prefix then
      PREFIX_OF[running] = prefix
      RUNNING_PREFIXES[raw] = false
    end
    -- (a running record is never queued: no bytes for queuedBytes)
    RECORD_BYTES = false
    return running
  end
  -- (a field without a spec before its record, met before: no byte of it read)
  local seen = SEEN_RECORDS[raw]
  if seen and seen ~= true then
    RECORD_BYTES = raw
    return copyRecord(seen)
  end
  local b, n = string.byte(raw, 1, 2)
  local at
  if b == 196 then -- (bin 8, the spec's length in one byte: specLength's first case)
    at = n and n + 2 < #raw and n + 2
  elseif b == 197 or b == 198 then
    at = specLength(raw, b)
  else
    RECORD_BYTES = raw
    return decodeRecord(raw)
  end
  if not at then return nil, "the spec before the record is cut short" end
  local rest = string.sub(raw, at + 1)
  RECORD_BYTES = rest
  local r, why = decodeRecord(rest)
  if r then SPECS[r] = string.sub(raw, 1, at) end
  return r, why
end

-- The bytes of the node records queued from waiting records, by the bytes each was decoded
-- from, kept across calls as SEEN_RECORDS (past SEEN_MAX, all dropped). Without a delay, a
-- not-before time or a deadline counted from when it becomes ready (NBF, DLY, EXPIN), a
-- record's changes when queued (queueNode, a plain job's) follow from its fields alone, not
-- from the time (a submitmany call's runs each have their own), so records decoded from the
-- same bytes pack to the same bytes. A chord's members queued by one walk, plain jobs of one
-- task submitted together, are such records: one packing serves them all.
--@kept
local QUEUED_BYTES = {}
local queuedKept = 0

-- cmsgpack.pack(r), for record r just queued from a waiting record decoded from bytes `from`
-- (and changed no other way; its bytes without its spec: RECORD_BYTES after decodeNode): the
-- bytes of the first such record queued, when its queueing did not depend on the time
local function queuedRecord(r, from)
  if (r[NBF] or 0) ~= 0 or (r[DLY] or 0) ~= 0 or (r[EXPIN] or 0) ~= 0 then return cmsgpack.pack(r) end
  local b = QUEUED_BYTES[from]
  if b then return b end
  b = cmsgpack.pack(r)
  if queuedKept >= SEEN_MAX then
    QUEUED_BYTES = {}
    queuedKept = 0
  end
  QUEUED_BYTES[from] = b
  queuedKept = queuedKept + 1
  return b
end

-- field n<i>'s bytes for record r just queued as queuedRecord says: the record's bytes, its
-- spec before them (see SPECS)
local function queuedBytes(r, from)
  local spec = SPECS[r]
  if spec then return spec .. queuedRecord(r, from) end
  return queuedRecord(r, from)
end

-- when node record r ended (its FINISHED field is kept as a delta from STARTED once it
-- started, a few bytes instead of nine: the record then stays in a compact hash)
local function finishedAt(r)
  if r[STARTED] > 0 and r[FINISHED] < 1e12 then return r[STARTED] + r[FINISHED] end
  return r[FINISHED]
end

-- an error value as recorded on a node (msgpack ErrorInfo), never retryable;
-- `tag` is a tag of core's ErrorTag catalogue
local function errorValue(tag, message)
  return cmsgpack.pack({ tag = tag, message = message, retryable = false })
end

-- the error of a node not started by its deadline `exp` (epoch ms): core's expiredInfo
local function expiredError(exp)
  return errorValue("Expired", "not started by its deadline, expiresAt " .. string.format("%.0f", exp) .. " (epoch ms)")
end

-- the error of a record that cannot be decoded: field `field` of key `key`
local function corruptError(key, field, why)
  return errorValue("CorruptRecord", "corrupt record: key " .. key .. " field " .. field .. ": " .. why)
end
