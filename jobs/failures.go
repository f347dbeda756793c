package jobs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
)

// MaxFailureReasons bounds the distinct reasons counted per campaign: one
// campaign's failure counts stay one small hash however many assets fail
// and however varied their errors are. Reasons beyond it are counted as
// OtherFailureReason.
const MaxFailureReasons = 32

// OtherFailureReason counts the failures whose reason came after
// MaxFailureReasons others.
const OtherFailureReason = "other"

// MaxFailureReasonBytes bounds a failure reason: enough for PDCP's
// status, code and message, not for the per-asset detail after them.
const MaxFailureReasonBytes = 120

// failureLua maintains a campaign's failure counts (KEYS: Store.keys.failures)
// from ledger records, in the scripts that write them, so the counts match
// the ledger without a scan. A script collects count_failure(t, record, d)
// for each failed or invalid record ("o,status,attempts,unix,error") into
// the table t, by reason: "HTTP <status>" when it has no error text,
// otherwise the text normalised by failure_reason. save_failures(key, t)
// then writes them, a few commands per reason rather than per record (one
// script may record 20,000 outcomes).
//
// The reason is computed here, in the one place both the ledger's writes
// and a re-drive's count-down go through, from the text stored: a reason
// counted up is counted down by the same key.
//
// A reason not yet counted becomes "other" once the hash holds
// MaxFailureReasons; a count that drops to 0 is removed. A count-down
// takes from the reason's own field what it holds and the rest from
// "other", where the reason was counted while the hash was full. The
// total is exact; the split beyond MaxFailureReasons reasons is
// approximate: a count-down cannot tell which of its assets were counted
// under "other", so it may take from a reason's field assets that went to
// "other" and leave "other" with assets of that reason.
var failureLua = `
-- failure_reason: the error text with what differs per asset masked, so
-- that one cause is one reason: runs of digits, and runs of hex digits
-- of 4 or more holding a digit (error_id-like IDs), become '#' ("dial tcp
-- 127.0.0.1:40123: connect: connection refused" -> "dial tcp #.#.#.#:#:
-- connect: connection refused"). A leading "HTTP <status>" is kept: the
-- status is the reason. Cut to ` + strconv.Itoa(MaxFailureReasonBytes) + ` bytes, never inside a UTF-8 sequence.
local function failure_reason(err)
  local head, rest = string.match(err, '^(HTTP %d%d%d)(.*)$')
  if not head then head, rest = '', err end
  rest = string.gsub(rest, '%x+', function(s)
    if #s >= 4 and string.find(s, '%d') then return '#' end
  end)
  rest = string.gsub(rest, '%d+', '#')
  local r = head .. rest
  local n = ` + strconv.Itoa(MaxFailureReasonBytes) + `
  if #r > n then
    while n > 0 and string.byte(r, n + 1) >= 128 and string.byte(r, n + 1) < 192 do n = n - 1 end
    r = string.sub(r, 1, n)
  end
  return r
end
local function count_failure(t, rec, d)
  local st, err = string.match(rec, '^[^,]*,([^,]*),[^,]*,[^,]*,(.*)$')
  local r
  if not st then r = 'unreadable record'
  elseif err ~= '' then r = failure_reason(err)
  elseif st == '0' or st == '' then r = 'no answer'
  else r = 'HTTP ' .. st end
  t[r] = (t[r] or 0) + d
end
local function add_failures(key, r, d)
  if redis.call('HINCRBY', key, r, d) <= 0 then redis.call('HDEL', key, r) end
end
local function save_failures(key, t)
  for r, d in pairs(t) do
    if d > 0 then
      if redis.call('HEXISTS', key, r) == 0 and redis.call('HLEN', key) >= ` + strconv.Itoa(MaxFailureReasons) + ` then
        r = '` + OtherFailureReason + `'
      end
      add_failures(key, r, d)
    elseif d < 0 then
      local own = math.min(-d, tonumber(redis.call('HGET', key, r) or '0'))
      if own > 0 then add_failures(key, r, -own) end
      if own < -d then add_failures(key, '` + OtherFailureReason + `', d + own) end
    end
  end
end
`

// FailureReason is one reason assets of a campaign ended failed or
// invalid, and how many did.
type FailureReason struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// FailureReasons returns the n most frequent reasons (all when n <= 0) of
// the campaign's failed and invalid assets, most frequent first: their
// error texts with per-asset detail masked (see failureLua). It reads
// one small hash (at most MaxFailureReasons+1 fields), so it is cheap for
// a campaign of any size. Assets re-driven by a retry no longer count.
func (s *Store) FailureReasons(ctx context.Context, id string, n int) ([]FailureReason, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.failures(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("failure reasons of campaign %s: %w", id, err)
	}
	out := make([]FailureReason, 0, len(m))
	for r, v := range m {
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil || c <= 0 {
			continue
		}
		out = append(out, FailureReason{Reason: r, Count: c})
	}
	slices.SortFunc(out, func(a, b FailureReason) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// FailureReasonOf is the reason r is counted under in FailureReasons: the
// Go twin of failureLua's count_failure and failure_reason, which must
// agree byte for byte (TestFailureReasonOfMatchesLua), because Failures
// filters records by the reasons the script counted. Meaningful for
// failed and invalid records.
func FailureReasonOf(r Record) string {
	if r.Error == "" {
		if r.Status == 0 {
			return "no answer"
		}
		return "HTTP " + strconv.Itoa(r.Status)
	}
	return failureReason(r.Error)
}

// failureReason is failureLua's failure_reason: Lua's %x and %d are the C
// locale's ASCII classes, and its byte positions are 1-based.
func failureReason(s string) string {
	head, rest := "", s
	if len(s) >= 8 && s[:5] == "HTTP " && isDigit(s[5]) && isDigit(s[6]) && isDigit(s[7]) {
		head, rest = s[:8], s[8:]
	}
	b := make([]byte, 0, len(s))
	b = append(b, head...)
	// Pass 1: runs of 4 or more hex digits holding a decimal digit.
	hexed := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); {
		if !isHex(rest[i]) {
			hexed = append(hexed, rest[i])
			i++
			continue
		}
		j, digit := i, false
		for ; j < len(rest) && isHex(rest[j]); j++ {
			digit = digit || isDigit(rest[j])
		}
		if j-i >= 4 && digit {
			hexed = append(hexed, '#')
		} else {
			hexed = append(hexed, rest[i:j]...)
		}
		i = j
	}
	// Pass 2: the remaining runs of digits.
	for i := 0; i < len(hexed); {
		if !isDigit(hexed[i]) {
			b = append(b, hexed[i])
			i++
			continue
		}
		for i < len(hexed) && isDigit(hexed[i]) {
			i++
		}
		b = append(b, '#')
	}
	if n := MaxFailureReasonBytes; len(b) > n {
		for n > 0 && b[n] >= 128 && b[n] < 192 {
			n--
		}
		b = b[:n]
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
