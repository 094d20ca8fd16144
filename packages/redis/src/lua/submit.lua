-- submit: writes one chunk of a run's nodes; the first chunk creates the run
-- record (status `pending`, not runnable), the last commits it (status
-- `running`) and enqueues its roots, in bounded steps (docs/guarantees.md #1).
-- Exactly-once as the caller sees it: the run keeps the fingerprint (`fp`) of
-- its DAG (none when the call sends "": a run id made at random, no idempotency
-- key; such a run met again by id is DUPLICATE) and the nonce of the call that writes it. A chunk re-sent after a
-- reconnect (same nonce) writes nothing that matters and answers OK; another
-- call for the same run id with the same fingerprint gets the run back
-- (EXISTS); another fingerprint is DUPLICATE. The idempotency key records the
-- run id and the fingerprint; it is free once its run no longer exists.
-- KEYS: record (the run's hash; K.nodes, K.specs, K.results name it too), work (the run's), shardWork, events, runList,
--   seq, pending (the shard's pending submissions), idempotency (the key's string),
--   namedRun (the record of the run the key named when the caller read it, this
--   run's own when none); per run queue: ready (its queue's other six keys are named as it is but the last word: Scripts.ts)
-- ARGV: runId, now, phase ("begin", "commit", "begin+commit", "" a middle chunk),
--   total (nodes of the run), queues (comma list), tags (JSON), retentionMs,
--   windowMs (of the idempotency key, 0 = no key), budget, fingerprint, nonce,
--   output (the output shape, msgpack), seen (the key's value as the caller read
--   it, "" = none), reuse ("return-existing" or "allow-if-failed"), eventsMax, notBefore,
--   expiresAt (the run's time limits, epoch ms, 0 = none: kept as fields nbf and exp of
--   the record for inspection; the node records carry them), headers (the run's headers,
--   msgpack, "" = none: kept as field hdr, handed back by `start`), queued (how many nodes
--   from node 0 on are roots written queued, all with record queuedRecord: the commit walks
--   them without reading them, "P" in includes/cascade.lua; 0 = none), queuedRecord (their
--   record, "" = none), nodes (one
--   msgpack array of strings, Packed.ts, of quadruples: node id, field n<id> (the node's
--   record; or its spec, as a msgpack bin, then its record: SPECS in includes/record.lua), its
--   spec for field s<id> ("" when it is in n<id>), dependency list or "")
-- Replies: {OK, more} (more: 1 when work is left for `drain`), {EXISTS, runId} (the
--   key, or this run id with the same fingerprint, names a live run), {CONFLICT, runId}
--   (the key names a live run with another fingerprint), {RETRY} (the key changed since
--   the caller read it: read it again and retry), {GONE} (a later chunk finds no pending
--   run of this call), {DUPLICATE} (the run id is taken), {ADOPT, runId} (the key names a
--   run of the same fingerprint not yet committed: submit again under that run id).
--   Another call's run of the same fingerprint under this run id, pending or (for a chunk
--   after the first) committed, is answered as this call's own re-sent chunk would be
--@include submitrun

return submitRun(K, QUEUES, {
  runId = A.runId,
  now = A.now,
  phase = A.phase,
  total = A.total,
  queues = A.queues,
  tags = A.tags,
  retentionMs = A.retentionMs,
  windowMs = A.windowMs,
  budget = A.budget,
  fingerprint = A.fingerprint,
  nonce = A.nonce,
  output = A.output,
  seen = A.seen,
  reuse = A.reuse,
  eventsMax = A.eventsMax,
  notBefore = A.notBefore,
  expiresAt = A.expiresAt,
  headers = A.headers,
  queued = A.queued,
  queuedRecord = A.queuedRecord,
  nodes = A.nodes,
}, { OK = R.OK, EXISTS = R.EXISTS, CONFLICT = R.CONFLICT, RETRY = R.RETRY, GONE = R.GONE,
  DUPLICATE = R.DUPLICATE, ADOPT = R.ADOPT })
