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

// failureLua maintains a campaign's failure counts (KEYS: Store.keys.failures)
// from ledger records, in the scripts that write them, so the counts match
// the ledger without a scan. A script collects count_failure(t, record, d)
// for each failed or invalid record ("o,status,attempts,unix,error") into
// the table t, by reason: its error text, or "HTTP <status>" when it has
// none. save_failures(key, t) then writes them, a few commands per reason
// rather than per record (one script may record 20,000 outcomes). A reason
// not yet counted becomes "other" once the hash holds MaxFailureReasons; a
// count that drops to 0 is removed.
var failureLua = `
local function count_failure(t, rec, d)
  local st, err = string.match(rec, '^[^,]*,([^,]*),[^,]*,[^,]*,(.*)$')
  local r
  if not st then r = 'unreadable record'
  elseif err ~= '' then r = err
  elseif st == '0' or st == '' then r = 'no answer'
  else r = 'HTTP ' .. st end
  t[r] = (t[r] or 0) + d
end
local function save_failures(key, t)
  for r, d in pairs(t) do
    if d ~= 0 then
      if redis.call('HEXISTS', key, r) == 0 then
        if d < 0 or redis.call('HLEN', key) >= ` + strconv.Itoa(MaxFailureReasons) + ` then r = '` + OtherFailureReason + `' end
      end
      if redis.call('HINCRBY', key, r, d) <= 0 then redis.call('HDEL', key, r) end
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
// the campaign's failed and invalid assets, most frequent first. It reads
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
