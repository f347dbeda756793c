package console_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/notify"
)

// actionIDs are the action buttons of the campaign page.
var actionIDs = []string{"approve-submit", "pause-submit", "resume-submit", "cancel-submit", "retry-submit", "undo-submit"}

// buttonsOf returns the action buttons a page shows.
func buttonsOf(body string) []string {
	var out []string
	for _, b := range actionIDs {
		if strings.Contains(body, `id="`+b+`"`) {
			out = append(out, b)
		}
	}
	return out
}

// record records outcome for assets of campaign id (batches of
// jobs.DefaultBatchSize, IDs from 1 in order).
func (u *ui) record(id, outcome string, assets ...int64) {
	u.t.Helper()
	now := time.Now()
	var brs []jobs.BatchRecords
	for _, a := range assets {
		b := int(a-1) / jobs.DefaultBatchSize
		if len(brs) == 0 || brs[len(brs)-1].Batch != b {
			brs = append(brs, jobs.BatchRecords{Batch: b})
		}
		br := &brs[len(brs)-1]
		br.Records = append(br.Records, jobs.Record{AssetID: a, Outcome: outcome, Attempts: 1, FinishedAt: now, Status: 500})
	}
	if _, err := u.store.Ledger().Record(context.Background(), id, brs, now); err != nil {
		u.t.Fatal(err)
	}
}

// takeSnapshot completes the snapshot of campaign id's first segment:
// labels of its assets as the inventory lists them.
func (u *ui) takeSnapshot(id string, labels map[int64][]string) {
	u.t.Helper()
	ctx := context.Background()
	c := u.campaign(id)
	run, err := u.store.BeginSnapshot(ctx, c, 0, "test-run")
	if err != nil {
		u.t.Fatal(err)
	}
	var page []client.Asset
	for a, l := range labels {
		page = append(page, client.Asset{ID: a, Labels: l})
	}
	run.Add(page)
	if err := run.Complete(ctx); err != nil {
		u.t.Fatal(err)
	}
}

func (u *ui) campaign(id string) *jobs.Campaign {
	u.t.Helper()
	c, err := u.store.Get(context.Background(), id)
	if err != nil {
		u.t.Fatal(err)
	}
	return c
}

// text returns the text of the element with id in body (its first text
// node), "" when there is none.
func text(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

func TestCampaignPageShowsFactsCountersSnapshotAndAudit(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "page-1", "name": "retire", "team_id": "team-a",
		"asset_ids": ids(1, 5), "labels": []string{"old"}})
	u.record(id, jobs.OutcomeReset, 1, 2)
	u.record(id, jobs.OutcomeFailed, 3)

	c := u.signIn(viewerToken)
	res := u.get(c, "/ui/campaigns/"+id)
	if res.status != http.StatusOK {
		t.Fatalf("page: %d %s", res.status, res.body)
	}
	b := res.body
	if !strings.Contains(b, `<section id="campaign" data-campaign="page-1" data-state="running"`) {
		t.Errorf("no section#campaign of a running page-1:\n%s", b)
	}
	for id, want := range map[string]string{
		"count-reset": "2", "count-failed": "1", "count-not_found": "0", "count-pending": "2",
		"finished": "3", "total": "5", "limiter": "", "team": "team-a", "mode": "remove", "priority": "normal", "state": "running",
	} {
		if got := text(b, id); got != want {
			t.Errorf("#%s: %q, want %q", id, got, want)
		}
	}
	for _, want := range []string{`<progress id="progress" value="3" max="5"`, `id="rate"`, `id="eta"`, "not known",
		`data-phase="listing"`, `<code>old</code>`, `id="created-by">api:otto`, `id="audit-log"`, `class="event" data-action="create"`,
		`id="download-report" href="/ui/campaigns/page-1/report.csv"`, `id="download-failures"`,
		`data-live="/ui/campaigns/page-1/live"`} {
		if !strings.Contains(b, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(b, `id="download-snapshot"`) {
		t.Error("a snapshot download link before the snapshot is complete")
	}
	for _, tok := range []string{viewerToken, operatorToken, approverToken, otherToken} {
		if strings.Contains(b, tok) {
			t.Fatal("a token in the page")
		}
	}

	u.takeSnapshot(id, map[int64][]string{1: {"old", "keep"}, 2: {"old"}, 3: nil})
	b = u.get(c, "/ui/campaigns/"+id).body
	for _, want := range []string{`data-phase="complete"`, "2 assets with labels", `id="download-snapshot"`} {
		if !strings.Contains(b, want) {
			t.Errorf("page with a complete snapshot lacks %s", want)
		}
	}

	noSnap := u.create(operatorToken, map[string]any{"campaign_id": "page-2", "team_id": "team-a", "asset_ids": ids(1, 2), "snapshot": false})
	if b := u.get(c, "/ui/campaigns/"+noSnap).body; !strings.Contains(b, "no snapshot: cannot be undone") {
		t.Error("a campaign without a snapshot does not say it cannot be undone")
	}
}

func TestCampaignPageOfAnotherTeamIsNotFound(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "a-1", "team_id": "team-a", "asset_ids": ids(1, 3)})
	bob := u.signIn(otherToken)
	for _, p := range []string{"/ui/campaigns/" + id, "/ui/campaigns/" + id + "/report.csv", "/ui/campaigns/" + id + "/live",
		"/ui/campaigns/nope", "/ui/campaigns/" + id + "/bogus.txt"} {
		if res := u.get(bob, p); res.status != http.StatusNotFound {
			t.Errorf("GET %s by another team: %d, want 404", p, res.status)
		}
	}
	if res := u.post(bob, "/ui/campaigns/"+id+"/pause", nil); res.status != http.StatusNotFound {
		t.Errorf("pause by another team's operator: %d, want 404", res.status)
	}
	if st := u.campaign(id).State; st != jobs.StateRunning {
		t.Fatalf("state %s after another team's pause, want running", st)
	}
	if res := u.get(u.signIn(operatorToken), "/ui/campaigns/"+id+"/bogus.txt"); res.status != http.StatusNotFound {
		t.Errorf("unknown download: %d, want 404", res.status)
	}
}

func TestCampaignButtonsFollowStateAndRole(t *testing.T) {
	u := newUI(t, nil)
	ctx := context.Background()
	mk := func(id string, n int) string {
		return u.create(operatorToken, map[string]any{"campaign_id": id, "team_id": "team-a", "asset_ids": ids(1, n)})
	}
	pending := mk("pending", 150) // over ConfirmAbove
	running := mk("running", 3)
	paused := mk("paused", 3)
	if err := u.store.Pause(ctx, paused); err != nil {
		t.Fatal(err)
	}
	done := mk("done", 2)
	u.record(done, jobs.OutcomeReset, 1)
	u.record(done, jobs.OutcomeFailed, 2)
	cancelled := mk("cancelled", 3)
	if _, err := u.store.Cancel(ctx, cancelled); err != nil {
		t.Fatal(err)
	}
	if st := u.campaign(done).State; st != jobs.StateDone {
		t.Fatalf("done campaign is %s", st)
	}
	want := map[string]map[string][]string{
		pending:   {viewerToken: nil, operatorToken: {"cancel-submit"}, approverToken: {"approve-submit"}},
		running:   {viewerToken: nil, operatorToken: {"pause-submit", "cancel-submit"}, approverToken: nil},
		paused:    {viewerToken: nil, operatorToken: {"resume-submit", "cancel-submit"}, approverToken: nil},
		done:      {viewerToken: nil, operatorToken: {"retry-submit"}, approverToken: nil},
		cancelled: {viewerToken: nil, operatorToken: nil, approverToken: nil},
	}
	roles := map[string]string{viewerToken: "viewer", operatorToken: "operator", approverToken: "approver"}
	for tok, role := range roles {
		c := u.signIn(tok)
		for id, byRole := range want {
			res := u.get(c, "/ui/campaigns/"+id)
			if res.status != http.StatusOK {
				t.Fatalf("%s as %s: %d", id, role, res.status)
			}
			if got := buttonsOf(res.body); !slices.Equal(got, byRole[tok]) {
				t.Errorf("%s as %s: buttons %v, want %v", id, role, got, byRole[tok])
			}
		}
	}
	// The approval form says what is approved.
	b := u.get(u.signIn(approverToken), "/ui/campaigns/"+pending).body
	for id, want := range map[string]string{"approve-count": "150", "approve-team": "team-a", "approve-server": ""} {
		if got := text(b, id); got != want {
			t.Errorf("#%s: %q, want %q", id, got, want)
		}
	}
	for _, want := range []string{`id="approve-confirm" name="confirm"`, `id="approve-form"`, `data-confirm-value="pending"`} {
		if !strings.Contains(b, want) {
			t.Errorf("approve form lacks %s", want)
		}
	}
}

func TestCampaignActionsGoThroughTheAPI(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "act", "team_id": "team-a", "asset_ids": ids(1, 3)})
	viewer, op := u.signIn(viewerToken), u.signIn(operatorToken)

	t.Run("a viewer's forged POST is refused by the API", func(t *testing.T) {
		res := u.post(viewer, "/ui/campaigns/"+id+"/pause", nil)
		if res.status != http.StatusForbidden || !strings.Contains(res.body, `id="error"`) {
			t.Fatalf("viewer pause: %d %s", res.status, res.body)
		}
		if st := u.campaign(id).State; st != jobs.StateRunning {
			t.Fatalf("state %s after a viewer's pause", st)
		}
	})
	t.Run("a wrong confirmation changes nothing", func(t *testing.T) {
		for _, confirm := range []string{"", "ac", "act2"} {
			res := u.post(op, "/ui/campaigns/"+id+"/cancel", url.Values{"confirm": {confirm}})
			if res.status != http.StatusBadRequest || !strings.Contains(res.body, `id="error"`) {
				t.Fatalf("cancel confirmed %q: %d", confirm, res.status)
			}
		}
		if st := u.campaign(id).State; st != jobs.StateRunning {
			t.Fatalf("state %s after unconfirmed cancels", st)
		}
		if res := u.post(op, "/ui/campaigns/"+id+"/frobnicate", nil); res.status != http.StatusNotFound {
			t.Fatalf("unknown action: %d", res.status)
		}
	})
	t.Run("pause, resume and cancel land in the audit log as the token", func(t *testing.T) {
		steps := []struct {
			action string
			form   url.Values
			state  jobs.State
		}{
			{"pause", nil, jobs.StatePaused},
			{"resume", nil, jobs.StateRunning},
			{"cancel", url.Values{"confirm": {id}}, jobs.StateCancelled},
		}
		for _, s := range steps {
			res := u.post(op, "/ui/campaigns/"+id+"/"+s.action, s.form)
			loc := res.header.Get("Location")
			if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/campaigns/"+id+"?flash=") {
				t.Fatalf("%s: %d to %q: %s", s.action, res.status, loc, res.body)
			}
			if st := u.campaign(id).State; st != s.state {
				t.Fatalf("after %s: %s, want %s", s.action, st, s.state)
			}
			if page := u.get(op, loc); !strings.Contains(page.body, `id="flash"`) {
				t.Fatalf("after %s: no #flash on %s", s.action, loc)
			}
		}
		evs, err := u.store.Events(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Action+" by "+e.Actor)
		}
		want := []string{"create by api:otto", "pause by api:otto", "resume by api:otto", "cancel by api:otto"}
		if !slices.Equal(got, want) {
			t.Fatalf("audit log %v, want %v", got, want)
		}
		b := u.get(op, "/ui/campaigns/"+id).body
		if strings.Index(b, `data-action="cancel"`) > strings.Index(b, `data-action="create"`) {
			t.Error("the audit log is not newest first")
		}
		if n := strings.Count(b, `<tr class="event"`); n != 4 {
			t.Errorf("%d audit rows, want 4", n)
		}
	})
	t.Run("a refused action shows the API's message and status", func(t *testing.T) {
		res := u.post(op, "/ui/campaigns/"+id+"/pause", nil)
		if res.status != http.StatusConflict || !strings.Contains(res.body, `id="error"`) || !strings.Contains(text(res.body, "error"), "cancelled") {
			t.Fatalf("pause of a cancelled campaign: %d %q", res.status, text(res.body, "error"))
		}
	})
}

func TestCampaignApproveAndSelfApproval(t *testing.T) {
	u := newUI(t, nil)
	// olga may operate and approve, but not her own campaigns.
	both := "both-roles-token-0123456789abc"
	extra := tokenFile + "  - name: olga\n    token: " + both + "\n    roles: [operator, approver]\n    teams: [team-a]\n"
	if err := os.WriteFile(u.tokenPath, []byte(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := u.api.ReloadTokens(); err != nil {
		t.Fatal(err)
	}
	id := u.create(both, map[string]any{"campaign_id": "big", "team_id": "team-a", "asset_ids": ids(1, 150)})
	olga := u.signIn(both)
	if got := buttonsOf(u.get(olga, "/ui/campaigns/"+id).body); !slices.Contains(got, "approve-submit") {
		t.Fatalf("olga's buttons %v: the console hides nothing the API decides", got)
	}
	res := u.post(olga, "/ui/campaigns/"+id+"/approve", url.Values{"confirm": {id}})
	if res.status != http.StatusForbidden || !strings.Contains(text(res.body, "error"), "may not approve") {
		t.Fatalf("self-approval: %d %q", res.status, text(res.body, "error"))
	}
	if st := u.campaign(id).State; st != jobs.StatePending {
		t.Fatalf("state %s after a refused self-approval", st)
	}
	anna := u.signIn(approverToken)
	if res := u.post(anna, "/ui/campaigns/"+id+"/approve", url.Values{"confirm": {"bi"}}); res.status != http.StatusBadRequest {
		t.Fatalf("approve with a wrong confirmation: %d", res.status)
	}
	res = u.post(anna, "/ui/campaigns/"+id+"/approve", url.Values{"confirm": {id}})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/ui/campaigns/big?flash=") {
		t.Fatalf("approve: %d %q %s", res.status, res.header.Get("Location"), res.body)
	}
	c := u.campaign(id)
	if c.State != jobs.StateRunning || c.ApprovedBy != "api:anna" {
		t.Fatalf("after approve: %s by %q", c.State, c.ApprovedBy)
	}
	if b := u.get(anna, "/ui/campaigns/"+id).body; text(b, "approved-by") != "api:anna" {
		t.Errorf("#approved-by %q", text(b, "approved-by"))
	}
}

func TestCampaignRetryAndUndo(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "src", "team_id": "team-a", "asset_ids": ids(1, 4)})
	u.takeSnapshot(id, map[int64][]string{1: {"a"}, 2: {"b"}, 3: {"c"}, 4: {"d"}})
	u.record(id, jobs.OutcomeReset, 1, 2, 3)
	u.record(id, jobs.OutcomeFailed, 4)
	op := u.signIn(operatorToken)
	if got := buttonsOf(u.get(op, "/ui/campaigns/"+id).body); !slices.Equal(got, []string{"cancel-submit", "retry-submit", "undo-submit"}) &&
		!slices.Equal(got, []string{"retry-submit", "undo-submit"}) {
		t.Fatalf("buttons of a campaign with a failure and a snapshot: %v", got)
	}
	res := u.post(op, "/ui/campaigns/"+id+"/retry", url.Values{"outcome": {"failed"}})
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), url.QueryEscape("Retry: 1 assets")) {
		t.Fatalf("retry: %d %q %s", res.status, res.header.Get("Location"), res.body)
	}
	if n := u.campaign(id).Counts[jobs.OutcomeFailed]; n != 0 {
		t.Fatalf("failed after retry: %d, want 0", n)
	}

	if res := u.post(op, "/ui/campaigns/"+id+"/undo", url.Values{"confirm": {"nope"}}); res.status != http.StatusBadRequest {
		t.Fatalf("undo with a wrong confirmation: %d", res.status)
	}
	if rc, _ := u.store.RestoreOf(context.Background(), id); rc != "" {
		t.Fatalf("a wrongly confirmed undo made restore campaign %s", rc)
	}
	res = u.post(op, "/ui/campaigns/"+id+"/undo", url.Values{"confirm": {id}})
	loc := res.header.Get("Location")
	if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/campaigns/") || strings.HasPrefix(loc, "/ui/campaigns/"+id+"?") {
		t.Fatalf("undo: %d to %q: %s", res.status, loc, res.body)
	}
	rid := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/ui/campaigns/")
	rc := u.campaign(rid)
	if rc.Mode != jobs.ModeRestore || rc.RestoreOf != id {
		t.Fatalf("undo landed on %s: mode %s restoring %q", rid, rc.Mode, rc.RestoreOf)
	}
	page := u.get(op, loc).body
	if !strings.Contains(page, `id="restore-of-link" href="/ui/campaigns/src"`) || !strings.Contains(page, `id="flash"`) {
		t.Errorf("the restore page does not link its source or show the flash:\n%s", page)
	}
	if slices.Contains(buttonsOf(page), "undo-submit") {
		t.Error("a restore campaign offers undo")
	}
	src := u.get(op, "/ui/campaigns/"+id).body
	if !strings.Contains(src, `id="restored-by-link" href="/ui/campaigns/`+rid+`"`) {
		t.Error("the undone source does not link its restore campaign")
	}
	if got := buttonsOf(src); slices.Contains(got, "undo-submit") || slices.Contains(got, "retry-submit") {
		t.Errorf("an undone campaign offers %v", got)
	}
}

func TestCampaignDownloads(t *testing.T) {
	u := newUI(t, nil)
	id := u.create(operatorToken, map[string]any{"campaign_id": "dl", "team_id": "team-a", "asset_ids": ids(1, 3)})
	u.record(id, jobs.OutcomeReset, 1)
	u.record(id, jobs.OutcomeFailed, 2)
	c := u.signIn(viewerToken)

	snap := u.get(c, "/ui/campaigns/"+id+"/snapshot.jsonl")
	if snap.status != http.StatusConflict || !strings.Contains(snap.body, `id="error"`) || !strings.HasPrefix(snap.header.Get("Content-Type"), "text/html") {
		t.Fatalf("snapshot before it is complete: %d %s %s", snap.status, snap.header.Get("Content-Type"), snap.body)
	}
	u.takeSnapshot(id, map[int64][]string{1: {"x"}, 2: {"y"}, 3: {"z"}})

	for _, tc := range []struct {
		file, ctype string
		rows        int
		has, lacks  string
	}{
		{"report.csv", "text/csv", 4, "2,failed", ""},
		{"failures.csv", "text/csv", 2, "2,failed", "1,reset"},
		{"snapshot.jsonl", "application/x-ndjson", 4, `"labels"`, ""},
	} {
		res := u.get(c, "/ui/campaigns/"+id+"/"+tc.file)
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s: %d %s: %s", tc.file, res.status, res.header.Get("Content-Type"), res.body)
			continue
		}
		if !strings.Contains(res.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s: Content-Disposition %q", tc.file, res.header.Get("Content-Disposition"))
		}
		lines := strings.Split(strings.TrimSpace(res.body), "\n")
		if len(lines) != tc.rows || !strings.Contains(res.body, tc.has) || (tc.lacks != "" && strings.Contains(res.body, tc.lacks)) {
			t.Errorf("%s: %d lines, want %d with %q without %q:\n%s", tc.file, len(lines), tc.rows, tc.has, tc.lacks, res.body)
		}
	}
}

func TestCampaignPageNamesItsNotifiersAndNeverTheirURLOrSecret(t *testing.T) {
	const url, secret = "https://hooks.example.invalid/labelreset-7f3a", "notifier-secret-9c1e"
	u := newUI(t, func(c *httpapi.Config) {
		c.Notifiers = &notify.Config{Notifiers: []notify.Notifier{{Name: "ops-chat", URL: url, Secret: secret}}}
	})
	id := u.create(operatorToken, map[string]any{"campaign_id": "notified", "team_id": "team-a",
		"asset_ids": ids(1, 5), "notify": []string{"ops-chat"}})
	b := u.get(u.signIn(viewerToken), "/ui/campaigns/"+id).body
	if !strings.Contains(b, `id="notifications"><code>ops-chat</code>`) {
		t.Errorf("no #notifications naming ops-chat:\n%s", b)
	}
	if strings.Contains(b, url) || strings.Contains(b, secret) {
		t.Fatal("the page shows a notifier's URL or secret")
	}
}
