package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

var (
	failureRowRE = regexp.MustCompile(`<tr data-asset="(\d+)">(?s:.*?)<td class="outcome"><span class="pill o-[a-z_]+">([a-z_]+)</span></td>`)
	failuresNext = regexp.MustCompile(`<a id="failures-next" href="([^"]+)"`)
)

// failureRows returns the asset IDs of the failures table's rows and
// their outcomes.
func failureRows(body string) ([]int64, map[int64]string) {
	var ids []int64
	outcomes := map[int64]string{}
	for _, m := range failureRowRE.FindAllStringSubmatch(body, -1) {
		a, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, a)
		outcomes[a] = m[2]
	}
	return ids, outcomes
}

// recordOutcomes records, in a campaign of batches of 100 from ID 1: a%4
// == 0 failed (HTTP 500), a%4 == 1 not found, reset otherwise.
func (u *ui) recordOutcomes(id string, assets []int) {
	u.t.Helper()
	now := time.Now()
	var brs []jobs.BatchRecords
	for _, a := range assets {
		r := jobs.Record{AssetID: int64(a), Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: now}
		switch a % 4 {
		case 0:
			r.Outcome, r.Status, r.Error = jobs.OutcomeFailed, 500, "HTTP 500 INTERNAL_ERROR: <b>try</b> later"
		case 1:
			r.Outcome, r.Status = jobs.OutcomeNotFound, 404
		}
		b := (a - 1) / 100
		if len(brs) == 0 || brs[len(brs)-1].Batch != b {
			brs = append(brs, jobs.BatchRecords{Batch: b})
		}
		brs[len(brs)-1].Records = append(brs[len(brs)-1].Records, r)
	}
	if _, err := u.store.Ledger().Record(context.Background(), id, brs, now); err != nil {
		u.t.Fatal(err)
	}
}

// TestFailuresSection: the failures section served alone lists a page of
// the campaign's failures with their outcome and error (escaped), filters
// by outcome, error and asset ID, pages through next links that keep the
// filter, and refuses bad filters, other teams and lapsed sessions.
func TestFailuresSection(t *testing.T) {
	u := newUI(t, nil)
	u.create(operatorToken, map[string]any{"campaign_id": "fs", "team_id": "team-a", "asset_ids": ids(1, 200)})
	u.recordOutcomes("fs", ids(1, 200))
	viewer := u.signIn(viewerToken)

	res := u.get(viewer, "/ui/campaigns/fs/failures?fragment=1")
	if res.status != http.StatusOK || !strings.HasPrefix(res.body, `<section id="failures"`) {
		t.Fatalf("fragment: %d %s", res.status, res.body)
	}
	for _, want := range []string{`<form id="failures-filter"`, `<select id="failures-outcome" name="outcome">`,
		`<select id="failures-reason" name="reason">`, `<input id="failures-asset" name="asset"`, `<table id="failures-table"`,
		`<option value="HTTP 500 INTERNAL_ERROR: &lt;b&gt;try&lt;/b&gt; later">`, `&lt;b&gt;try&lt;/b&gt;`, `100 assets.`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("fragment lacks %s:\n%s", want, res.body)
		}
	}
	if strings.Contains(res.body, "<b>try</b>") {
		t.Error("an error text is rendered as HTML")
	}
	// All 100 failures (50 failed, 50 not found) in two pages of 50.
	var all []int64
	path := "/ui/campaigns/fs/failures?fragment=1"
	for range 5 {
		res := u.get(viewer, path)
		got, _ := failureRows(res.body)
		all = append(all, got...)
		m := failuresNext.FindStringSubmatch(res.body)
		if m == nil {
			break
		}
		next, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil || next.Path != "/ui/campaigns/fs" || next.Fragment != "failures" {
			t.Fatalf("next link %q: want the campaign page's #failures", m[1])
		}
		path = "/ui/campaigns/fs/failures?fragment=1&" + next.RawQuery
	}
	var want []int64
	for a := int64(1); a <= 200; a++ {
		if a%4 == 0 || a%4 == 1 {
			want = append(want, a)
		}
	}
	if !slices.Equal(all, want) {
		t.Errorf("paged rows %v, want %v", all, want)
	}

	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"outcome=failed&asset=", []int64{4, 8, 12}}, // the first three of 50
		{"outcome=not_found", []int64{1, 5, 9}},
		{"reason=" + url.QueryEscape("HTTP 500 INTERNAL_ERROR: <b>try</b> later"), []int64{4, 8, 12}},
		{"asset=8", []int64{8}},
		{"asset=8&outcome=not_found", nil},
		{"asset=2", nil},
		{"outcome=failed&after=192", []int64{196, 200}},
	} {
		res := u.get(viewer, "/ui/campaigns/fs/failures?fragment=1&"+tc.query)
		got, outcomes := failureRows(res.body)
		if res.status != http.StatusOK || !slices.Equal(got[:min(3, len(got))], tc.want) {
			t.Errorf("?%s: %d, rows %v, want %v first", tc.query, res.status, got, tc.want)
		}
		if strings.Contains(tc.query, "outcome=failed") {
			for a, o := range outcomes {
				if o != jobs.OutcomeFailed {
					t.Errorf("?%s: asset %d is %s", tc.query, a, o)
				}
			}
			if m := failuresNext.FindStringSubmatch(res.body); m != nil && !strings.Contains(html.UnescapeString(m[1]), "outcome=failed") {
				t.Errorf("?%s: next link %s drops the filter", tc.query, m[1])
			}
		}
	}
	for _, q := range []string{"asset=abc", "asset=-1", "outcome=reset", "after=x"} {
		res := u.get(viewer, "/ui/campaigns/fs/failures?fragment=1&"+q)
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, `id="failures-error"`) {
			t.Errorf("?%s: %d %s, want 400 with #failures-error", q, res.status, res.body)
		}
	}
	other := u.signIn(otherToken)
	if res := u.get(other, "/ui/campaigns/fs/failures?fragment=1"); res.status != http.StatusNotFound {
		t.Errorf("another team's token: %d, want 404", res.status)
	}
	if res := u.get(viewer, "/ui/campaigns/missing/failures?fragment=1"); res.status != http.StatusNotFound {
		t.Errorf("missing campaign: %d, want 404", res.status)
	}
	if res := u.get(u.browser(), "/ui/campaigns/fs/failures?fragment=1"); res.status != http.StatusUnauthorized {
		t.Errorf("without a session: %d, want 401", res.status)
	}
}
