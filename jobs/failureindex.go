// The failure index: the assets of each failure outcome of a campaign,
// kept by the scripts that write ledger records, so that the failures
// table pages through 12 failed assets of a million without reading the
// ledger.

package jobs

import "strconv"

// FailureOutcomes are the outcomes the failures table lists and the
// failure index keeps: every outcome that leaves an asset's labels as they
// were (reset, restored and unchanged are successes).
var FailureOutcomes = []string{OutcomeFailed, OutcomeInvalid, OutcomeNotFound, OutcomeNotInInventory, OutcomeCancelled}

// failIndexField is the meta hash field set (to "1") on a campaign
// created with a failure index. Campaigns stored before the index existed
// lack it: their scripts keep no index, and Failures scans their ledger.
const failIndexField = "fidx"

// FailureIndexMax bounds each outcome's failure index. The index is for
// finding a few failures among many successes; an outcome with more
// assets than this (a big campaign cancelled before it ran, an ID file of
// the wrong inventory) would make the index cost four times the ledger,
// while a ledger scan finds its assets densely anyway. Past the bound
// the outcome's index is dropped and its code recorded in the meta field
// failIndexOverField: from then on queries of that outcome scan the
// ledger, and the scripts keep no index of it.
const FailureIndexMax = 10_000

// failIndexOverField lists the outcome codes whose index went past
// FailureIndexMax.
const failIndexOverField = "fidx_over"

// failIndexLua maintains the failure index (keys.failIndex) in the
// scripts that write ledger records, in the same atomic step, so that the
// index and the ledger always agree: an asset is in the index of its
// outcome while its record has that outcome, and in no other. Members are
// "<asset ID, zero-padded to 19 digits>:<batch>" with score 0, so that a
// lexicographic range is an asset ID range (asset IDs reach 2^63-1, which
// a float score cannot tell apart, and Lua numbers cannot hold: IDs stay
// strings here), and the batch says which ledger hash holds the record.
//
// fail_keys(first) maps the outcome codes to KEYS[first..first+4], the
// keys in FailureOutcomes order (keys.failIndexes). fail_move(t, code,
// member, d) collects an add (d = 1) or a removal (d = -1) into t;
// save_fail_index(keys, t) applies them, a few commands per outcome
// rather than per asset, leaving alone the outcomes past FailureIndexMax.
// Both scripts that call it have the meta hash as KEYS[1].
var failIndexLua = `
local function fail_keys(first)
  return {f=KEYS[first], i=KEYS[first+1], n=KEYS[first+2], o=KEYS[first+3], c=KEYS[first+4]}
end
local function fail_member(id, batch)
  return string.rep('0', 19 - #id) .. id .. ':' .. batch
end
local function fail_move(t, code, member, d)
  local e = t[code]
  if not e then e = {add={}, rem={}}; t[code] = e end
  if d > 0 then
    e.add[#e.add+1] = '0'; e.add[#e.add+1] = member
  else
    e.rem[#e.rem+1] = member
  end
end
local function save_fail_index(keys, t)
  local over = redis.call('HGET', KEYS[1], '` + failIndexOverField + `') or ''
  local grew = false
  for code, e in pairs(t) do
    local k = keys[code]
    if k and not string.find(over, code, 1, true) then
      if #e.rem > 0 then chunked('ZREM', k, e.rem) end
      if #e.add > 0 then
        if redis.call('ZCARD', k) + #e.add / 2 > ` + strconv.Itoa(FailureIndexMax) + ` then
          redis.call('DEL', k)
          over = over .. code
          grew = true
        else
          chunked('ZADD', k, e.add)
        end
      end
    end
  end
  if grew then redis.call('HSET', KEYS[1], '` + failIndexOverField + `', over) end
end
`
