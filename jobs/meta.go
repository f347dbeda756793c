// The meta hash of a campaign (see keys.go): how a Campaign is written
// to it and read back.

package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// metaFields renders the immutable definition as Redis hash fields.
func (c *Campaign) metaFields() []any {
	labels, _ := json.Marshal(c.Labels)
	return []any{
		"id", c.ID, "name", c.Name, "mode", string(c.Mode), "labels", string(labels),
		"team", c.TeamID, "server", c.Server, "source", c.Source, "priority", string(c.Priority),
		"batch_size", c.BatchSize, "created", c.CreatedAt.UnixMilli(), "owner", c.Owner, "team_recorded", 1,
		"inc", c.Incarnation,
		"snapshot", flag01(c.Snapshot), "reset_unlisted", flag01(c.ResetUnlisted), "query", c.Query,
		"restore_of", c.RestoreOf, "exact", flag01(c.Exact),
		"express", flag01(c.Express), "express_deadline_ms", c.ExpressDeadline.Milliseconds(),
		"max_attempts", c.Policy.MaxAttempts, "max_throttled", c.Policy.MaxThrottled,
		"backoff_base_ms", c.Policy.BackoffBase.Milliseconds(),
		"backoff_cap_ms", c.Policy.BackoffCap.Milliseconds(),
		"max_failure_ratio", strconv.FormatFloat(c.Policy.MaxFailureRatio, 'g', -1, 64),
		"min_sample", c.Policy.MinSample,
		"retention_s", int64(c.Policy.Retention / time.Second),
		"not_before", notBeforeMS(c.NotBefore),
		"notify", notifyField(c.Notify),
	}
}

// notBeforeMS renders Campaign.NotBefore: 0 for none.
func notBeforeMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// decodeCampaign builds a Campaign from its meta hash.
func decodeCampaign(m map[string]string) (*Campaign, error) {
	if len(m) == 0 || m["id"] == "" {
		return nil, ErrNotFound
	}
	if m["deleting"] != "" {
		return nil, ErrDeleting
	}
	i := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	c := &Campaign{
		ID: m["id"], Name: m["name"], Mode: Mode(m["mode"]), TeamID: m["team"], Server: m["server"],
		Source: m["source"], Priority: Priority(m["priority"]), BatchSize: int(i("batch_size")),
		CreatedAt: time.UnixMilli(i("created")).UTC(), Owner: m["owner"], TeamRecorded: m["team_recorded"] == "1",
		State: State(m["state"]), Reason: m["reason"], Total: i("total"),
		Batches: int(i("batches")), Segments: int(i("segments")), Gen: int(i("gen")),
		Fingerprint: m["fp"], Attempts: i("attempts"), Incarnation: m["inc"],
		Counts: make(map[string]int64, len(Outcomes)),
	}
	if m["labels"] != "" && m["labels"] != "null" {
		if err := json.Unmarshal([]byte(m["labels"]), &c.Labels); err != nil {
			return nil, fmt.Errorf("campaign %s: corrupt labels field: %w", c.ID, err)
		}
	}
	c.Policy = Policy{
		MaxAttempts:  int(i("max_attempts")),
		MaxThrottled: int(i("max_throttled")),
		BackoffBase:  time.Duration(i("backoff_base_ms")) * time.Millisecond,
		BackoffCap:   time.Duration(i("backoff_cap_ms")) * time.Millisecond,
		MinSample:    i("min_sample"),
		Retention:    time.Duration(i("retention_s")) * time.Second,
	}
	c.Policy.MaxFailureRatio, _ = strconv.ParseFloat(m["max_failure_ratio"], 64)
	// Campaigns stored before snapshots existed have none of these
	// fields: they read as "no snapshot", which is what they took.
	c.Snapshot, c.ResetUnlisted, c.Exact = m["snapshot"] == "1", m["reset_unlisted"] == "1", m["exact"] == "1"
	c.Query, c.RestoreOf = m["query"], m["restore_of"]
	c.Express, c.ExpressDeadline = m["express"] == "1", time.Duration(i("express_deadline_ms"))*time.Millisecond
	c.CreatedBy, c.ApprovedBy = m["created_by"], m["approved_by"]
	c.Notify = parseNotifyField(m["notify"])
	if v, ok := m["approved_total"]; ok {
		c.ApprovedTotal, _ = strconv.ParseInt(v, 10, 64)
	} else if c.State != StatePending {
		c.ApprovedTotal = c.Total // stored before approvals were counted
	}
	if v, ok := m["stagers"]; ok {
		c.StagersRecorded = true
		// cjson encodes an empty table as {}, not [].
		if v != "{}" && v != "" {
			if err := json.Unmarshal([]byte(v), &c.Stagers); err != nil {
				return nil, fmt.Errorf("campaign %s: corrupt stagers field: %w", c.ID, err)
			}
		}
	}
	if nb := i("not_before"); nb > 0 {
		c.NotBefore = time.UnixMilli(nb).UTC()
	}
	if f := i("finished"); f > 0 {
		c.FinishedAt = time.UnixMilli(f).UTC()
	}
	for _, o := range Outcomes {
		c.Counts[o] = i("n:" + o)
	}
	return c, nil
}

// flag01 renders a flag as a meta hash field: "1" or "0".
func flag01(v bool) string {
	if v {
		return "1"
	}
	return "0"
}
