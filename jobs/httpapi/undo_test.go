package httpapi_test

// Snapshot and undo over HTTP: the create parameters snapshot and
// reset_unlisted, GET .../snapshot, POST .../undo.

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
)

// oddLabels are labels with the characters a label store gets wrong.
var oddLabels = []string{"a b", "x,y", "p/q:r", `say "hi"`, "café", "<&>"}

// takeSnapshot writes campaign id's snapshot as a worker would: one
// listing of the inventory, in which asset a holds labels[a] (absent
// from labels: not in the inventory), plus an asset of no campaign.
func (e *env) takeSnapshot(t *testing.T, id string, labels map[int64][]string) {
	t.Helper()
	ctx := context.Background()
	c, err := e.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.store.BeginSnapshot(ctx, c, 0, "test-run")
	if err != nil {
		t.Fatal(err)
	}
	page := []client.Asset{{ID: 999_999, Labels: []string{"not ours"}}}
	for a, l := range labels {
		page = append(page, client.Asset{ID: a, Labels: l})
	}
	run.Add(page)
	if err := run.Complete(ctx); err != nil {
		t.Fatal(err)
	}
}

// recordReset records outcome reset (one call) for the given assets of
// campaign id, whose batches hold batchSize assets of ids 1..n in order.
func (e *env) recordReset(t *testing.T, id string, batchSize int, assets ...int64) {
	t.Helper()
	now := time.Now()
	var brs []jobs.BatchRecords
	for _, a := range assets {
		b := int(a-1) / batchSize
		if len(brs) == 0 || brs[len(brs)-1].Batch != b {
			brs = append(brs, jobs.BatchRecords{Batch: b})
		}
		br := &brs[len(brs)-1]
		br.Records = append(br.Records, jobs.Record{AssetID: a, Outcome: jobs.OutcomeReset, Attempts: 1, FinishedAt: now})
	}
	if _, err := e.store.Ledger().Record(context.Background(), id, brs, now); err != nil {
		t.Fatal(err)
	}
}

func (e *env) campaign(t *testing.T, id string) *jobs.Campaign {
	t.Helper()
	c, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateSnapshotParameters(t *testing.T) {
	e := newEnv(t, nil)
	multipartBody := func(fields ...string) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for i := 0; i+1 < len(fields); i += 2 {
			mw.WriteField(fields[i], fields[i+1])
		}
		fw, _ := mw.CreateFormFile("file", "ids.csv")
		fw.Write([]byte("id\n1\n2\n"))
		mw.Close()
		return mw.FormDataContentType(), b.String()
	}
	mpOff, mpOffBody := multipartBody("campaign_id", "mp-off", "snapshot", "false")
	mpOn, mpOnBody := multipartBody("campaign_id", "mp-unlisted", "reset_unlisted", "true")
	cases := []struct {
		name, path, ctype, body string
		snapshot, resetUnlisted bool
	}{
		{"csv default", "/v1/campaigns?campaign_id=csv-default", "text/csv", "1\n2\n", true, false},
		{"csv off", "/v1/campaigns?campaign_id=csv-off&snapshot=false", "text/csv", "1\n2\n", false, false},
		{"csv unlisted", "/v1/campaigns?campaign_id=csv-unlisted&reset_unlisted", "text/csv", "1\n2\n", true, true},
		{"json off", "/v1/campaigns", "application/json", `{"campaign_id":"json-off","asset_ids":[1,2],"snapshot":false}`, false, false},
		{"json on", "/v1/campaigns", "application/json", `{"campaign_id":"json-on","asset_ids":[1,2],"snapshot":true,"reset_unlisted":true}`, true, true},
		{"multipart off", "/v1/campaigns", mpOff, mpOffBody, false, false},
		{"multipart unlisted", "/v1/campaigns", mpOn, mpOnBody, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: tc.path, ctype: tc.ctype, body: strings.NewReader(tc.body)})
			if r.status != http.StatusCreated {
				t.Fatalf("status %d, want 201: %s", r.status, r.body)
			}
			m := r.json(t)
			camp := m["campaign"].(map[string]any)
			c := e.campaign(t, camp["id"].(string))
			if c.Snapshot != tc.snapshot || c.ResetUnlisted != tc.resetUnlisted {
				t.Errorf("stored snapshot=%v reset_unlisted=%v, want %v %v", c.Snapshot, c.ResetUnlisted, tc.snapshot, tc.resetUnlisted)
			}
			plan := m["plan"].(map[string]any)
			snap, _ := camp["snapshot"].(map[string]any)
			if plan["snapshot"] != tc.snapshot || snap["enabled"] != tc.snapshot {
				t.Errorf("plan.snapshot %v, campaign.snapshot %v: want snapshot %v", plan["snapshot"], camp["snapshot"], tc.snapshot)
			}
			undo, _ := plan["undo"].(string)
			warned := strings.Contains(fmt.Sprint(m["warnings"]), "cannot be undone")
			if cannot := strings.Contains(undo, "cannot be undone"); cannot == tc.snapshot || warned == tc.snapshot {
				t.Errorf("snapshot %v: plan.undo %q, warnings %v: want \"cannot be undone\" in both exactly when the snapshot is off",
					tc.snapshot, undo, m["warnings"])
			}
		})
	}

	t.Run("dry run says so", func(t *testing.T) {
		r := e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true&snapshot=0", ctype: "text/csv", body: csvBody("5")})
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "cannot be undone") {
			t.Fatalf("dry run without snapshot: %d %s: want 200 saying the campaign cannot be undone", r.status, r.body)
		}
		r = e.do(req{method: "POST", path: "/v1/campaigns?dry_run=true", ctype: "text/csv", body: csvBody("5")})
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "snapshot of the assets' labels is taken") {
			t.Fatalf("dry run: %d %s: want 200 saying a snapshot will be taken", r.status, r.body)
		}
	})

	for _, tc := range []struct{ name, path, ctype, body, code string }{
		{"bad value", "/v1/campaigns?snapshot=maybe", "text/csv", "1\n", "invalid_parameter"},
		{"json string", "/v1/campaigns", "application/json", `{"asset_ids":[1],"snapshot":"no"}`, "malformed_json"},
		{"unlisted without snapshot", "/v1/campaigns?snapshot=false&reset_unlisted=true", "text/csv", "1\n", "invalid_parameter"},
		{"json unlisted without snapshot", "/v1/campaigns", "application/json",
			`{"asset_ids":[1],"snapshot":false,"reset_unlisted":true}`, "invalid_parameter"},
		{"twice", "/v1/campaigns?snapshot=false&snapshot=true", "text/csv", "1\n", "invalid_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: tc.path, ctype: tc.ctype, body: strings.NewReader(tc.body)})
			if r.status != http.StatusBadRequest || r.errCode(t) != tc.code {
				t.Fatalf("status %d %s, want 400 %s", r.status, r.body, tc.code)
			}
		})
	}

	// An append answers with the stored campaign's setting: snapshot=false
	// in the request does not make the campaign one that cannot be undone.
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=csv-default&append=true&snapshot=false", ctype: "text/csv", body: csvBody("1", "2", "3")})
	if r.status != http.StatusOK {
		t.Fatalf("append: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["plan"].(map[string]any)["snapshot"] != true || m["warnings"] != nil {
		t.Errorf("append with snapshot=false to a campaign with snapshot: plan %v, warnings %v: want the stored setting (snapshot) and no warning",
			m["plan"], m["warnings"])
	}

	// An Idempotency-Key reused with snapshot=false for what was created
	// with a snapshot is another request.
	h := map[string]string{"Idempotency-Key": "snap-key"}
	if r := e.do(req{method: "POST", path: "/v1/campaigns", ctype: "text/csv", header: h, body: csvBody("7")}); r.status != http.StatusCreated {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns?snapshot=false", ctype: "text/csv", header: h, body: csvBody("7")}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, snapshot=false: %d %s, want 422", r.status, r.body)
	}
}

func TestSnapshotEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=snap&team_id=team-1", ctype: "text/csv", body: csvBody(idLines(1, 5)...)}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=nosnap&snapshot=false", ctype: "text/csv", body: csvBody("1")}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}

	r := e.do(req{method: "GET", path: "/v1/campaigns/snap/snapshot"})
	if r.status != http.StatusConflict || r.errCode(t) != "snapshot_incomplete" {
		t.Fatalf("before the snapshot is complete: %d %s, want 409 snapshot_incomplete", r.status, r.body)
	}
	if st := e.do(req{method: "GET", path: "/v1/campaigns/snap"}).json(t)["snapshot"].(map[string]any); st["enabled"] != true || st["complete"] != false {
		t.Fatalf("status while the snapshot runs: snapshot %v, want enabled and not complete", st)
	}

	labels := map[int64][]string{1: {"a", "b"}, 2: oddLabels, 3: {}, 5: {"a"}} // 4 is not in the inventory
	e.takeSnapshot(t, "snap", labels)

	r = e.do(req{method: "GET", path: "/v1/campaigns/snap/snapshot"})
	if r.status != http.StatusOK {
		t.Fatalf("complete snapshot: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q, want application/x-ndjson", ct)
	}
	hdr, lines, err := jobs.ReadSnapshot(bytes.NewReader(r.body), "response")
	if err != nil {
		t.Fatalf("the answer is not a snapshot: %v\n%s", err, r.body)
	}
	if hdr.Campaign != "snap" || hdr.Mode != jobs.ModeDelete || hdr.TeamID != "team-1" || hdr.Assets != 4 {
		t.Errorf("header %+v: want campaign snap, mode delete, team team-1, 4 assets", hdr)
	}
	var got []int64
	for _, l := range lines {
		got = append(got, l.AssetID)
		want := labels[l.AssetID]
		if !slices.Equal(slices.Sorted(slices.Values(l.Labels)), slices.Sorted(slices.Values(want))) {
			t.Errorf("asset %d: labels %q, want %q", l.AssetID, l.Labels, want)
		}
	}
	if !slices.Equal(got, []int64{1, 2, 3, 5}) {
		t.Errorf("assets %v, want 1 2 3 5 (4 was not in the inventory, 999999 is no asset of the campaign)", got)
	}

	st := e.do(req{method: "GET", path: "/v1/campaigns/snap"}).json(t)["snapshot"].(map[string]any)
	if st["complete"] != true || st["with_labels"] != 3.0 || st["without_labels"] != 1.0 || st["not_in_inventory"] != 1.0 {
		t.Errorf("status snapshot %v: want complete, 3 with labels, 1 without, 1 not in the inventory", st)
	}

	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/campaigns/missing/snapshot", http.StatusNotFound, "not_found"},
		{"/v1/campaigns/nosnap/snapshot", http.StatusConflict, "no_snapshot"},
		{"/v1/campaigns/snap/snapshot?format=csv", http.StatusBadRequest, "unknown_parameter"},
	} {
		r := e.do(req{method: "GET", path: tc.path})
		if r.status != tc.status || r.errCode(t) != tc.code {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, r.status, r.body, tc.status, tc.code)
		}
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/snap/snapshot", noAuth: true}); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.status)
	}
}

// TestSnapshotRoles: the snapshot is read like the report: a viewer of
// the campaign's team reads it, a token of another team gets 404.
func TestSnapshotRoles(t *testing.T) {
	p := writeTokenFile(t, "tokens:\n"+teamEntry("op", scopeTokA, "operator", "team-a")+teamEntry("view", scopeTokB, "viewer", "team-a")+
		teamEntry("other", "scope-token-c-0123456789abcdef", "viewer", "team-b"), 0o600)
	e := newEnv(t, func(c *httpapi.Config) { c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1 })
	if r := e.as(scopeTokA, req{method: "POST", path: "/v1/campaigns?campaign_id=s&team_id=team-a", ctype: "text/csv", body: csvBody("1", "2")}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.takeSnapshot(t, "s", map[int64][]string{1: {"a"}})
	if r := e.as(scopeTokB, req{method: "GET", path: "/v1/campaigns/s/snapshot"}); r.status != http.StatusOK {
		t.Errorf("viewer of the team: %d %s, want 200", r.status, r.body)
	}
	if r := e.as("scope-token-c-0123456789abcdef", req{method: "GET", path: "/v1/campaigns/s/snapshot"}); r.status != http.StatusNotFound {
		t.Errorf("viewer of another team: %d %s, want 404", r.status, r.body)
	}
	if r := e.as(scopeTokB, req{method: "POST", path: "/v1/campaigns/s/undo"}); r.status != http.StatusForbidden {
		t.Errorf("undo by a viewer: %d %s, want 403", r.status, r.body)
	}
	if r := e.as(scopeTokA, req{method: "POST", path: "/v1/campaigns/s/undo"}); r.status != http.StatusCreated {
		t.Errorf("undo by an operator: %d %s, want 201", r.status, r.body)
	}
}

func TestUndoEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	// Batches of 100: IDs 1..6 are batch 0.
	if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=src&team_id=team-1", ctype: "text/csv", body: csvBody(idLines(1, 6)...)}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e.takeSnapshot(t, "src", map[int64][]string{1: {"a", "b"}, 2: oddLabels, 3: {}, 4: {"c"}, 5: {"a"}})
	e.recordReset(t, "src", 100, 1, 2, 3)
	if c := e.campaign(t, "src"); c.State != jobs.StateRunning {
		t.Fatalf("source is %s, want running", c.State)
	}

	r := e.do(req{method: "POST", path: "/v1/campaigns/src/undo"})
	if r.status != http.StatusCreated {
		t.Fatalf("undo: %d %s, want 201", r.status, r.body)
	}
	m := r.json(t)
	camp := m["campaign"].(map[string]any)
	rid := camp["id"].(string)
	if loc := r.header.Get("Location"); loc != "/v1/campaigns/"+rid {
		t.Errorf("Location %q, want /v1/campaigns/%s", loc, rid)
	}
	if camp["mode"] != "restore" || camp["restore_of"] != "src" || camp["team_id"] != "team-1" || m["created"] != true {
		t.Errorf("restore campaign %v: want mode restore of src in team-1, created", camp)
	}
	plan := m["plan"].(map[string]any)
	// 1 and 2 had labels and were reset; 3 had none; 4 and 5 have no
	// outcome yet in a running source, so a call may be in flight: they
	// get theirs back too; 6 was not in the inventory.
	if plan["source"] != "src" || plan["restore"] != 4.0 || plan["unchanged"] != 2.0 || plan["cancels_source"] != true {
		t.Errorf("plan %v: want source src, 4 to restore, 2 unchanged, cancels_source", plan)
	}
	if !strings.Contains(fmt.Sprint(m["warnings"]), "cancelled it") {
		t.Errorf("warnings %v: want the cancellation of the running source said", m["warnings"])
	}
	// The running source is cancelled, so that no later resume deletes
	// the restored labels again.
	if c := e.campaign(t, "src"); c.State != jobs.StateCancelled {
		t.Errorf("source is %s after undo, want cancelled", c.State)
	}
	rc := e.campaign(t, rid)
	if rc.Mode != jobs.ModeRestore || rc.RestoreOf != "src" || rc.Exact || rc.Total != 6 {
		t.Errorf("stored restore campaign: mode %s restore_of %q exact %v total %d; want restore of src, not exact, 6 assets",
			rc.Mode, rc.RestoreOf, rc.Exact, rc.Total)
	}
	labels, _, ready, err := e.store.BatchLabels(context.Background(), rc, 0, []int64{1, 2, 3, 4, 5, 6})
	if err != nil || !ready {
		t.Fatalf("BatchLabels of the restore campaign: ready %v, err %v", ready, err)
	}
	if !slices.Equal(labels[1], oddLabels) && !slices.Equal(slices.Sorted(slices.Values(labels[1])), slices.Sorted(slices.Values(oddLabels))) {
		t.Errorf("asset 2 gets %q back, want %q", labels[1], oddLabels)
	}
	if len(labels[2]) != 0 || len(labels[5]) != 0 || !slices.Equal(labels[3], []string{"c"}) {
		t.Errorf("assets 3, 4 and 6 get %q, %q and %q back, want nothing, c, nothing", labels[2], labels[3], labels[5])
	}

	// Idempotent: the second undo answers 200 with the same campaign.
	r2 := e.do(req{method: "POST", path: "/v1/campaigns/src/undo", ctype: "application/json", body: strings.NewReader(`{}`)})
	if r2.status != http.StatusOK {
		t.Fatalf("second undo: %d %s, want 200", r2.status, r2.body)
	}
	m2 := r2.json(t)
	if id2 := m2["campaign"].(map[string]any)["id"]; id2 != rid || m2["created"] != false {
		t.Errorf("second undo answered campaign %v (created %v), want %s, not created", id2, m2["created"], rid)
	}
	cs, err := e.store.List(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Errorf("%d campaigns after two undos, want 2 (source and one restore campaign)", len(cs))
	}

	// Audit: who cancelled the source and who created the restore.
	actions := func(id string) string {
		var out []string
		for _, ev := range e.do(req{method: "GET", path: "/v1/campaigns/" + id + "/events"}).json(t)["events"].([]any) {
			ev := ev.(map[string]any)
			out = append(out, fmt.Sprint(ev["action"], " by ", ev["actor"]))
		}
		return strings.Join(out, "; ")
	}
	if a := actions("src"); !strings.Contains(a, "cancel by api:") {
		t.Errorf("source events %q: want its cancel by the token", a)
	}
	if a := actions(rid); !strings.Contains(a, "create by api:") {
		t.Errorf("restore campaign events %q: want its create by the token", a)
	}

	// The restore campaign has no snapshot: no undo of an undo.
	if r := e.do(req{method: "POST", path: "/v1/campaigns/" + rid + "/undo"}); r.status != http.StatusConflict || r.errCode(t) != "no_snapshot" {
		t.Errorf("undo of the restore campaign: %d %s, want 409 no_snapshot", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/v1/campaigns/" + rid + "/snapshot"}); r.status != http.StatusConflict || r.errCode(t) != "no_snapshot" {
		t.Errorf("snapshot of the restore campaign: %d %s, want 409 no_snapshot", r.status, r.body)
	}
}

func TestUndoOptionsAndErrors(t *testing.T) {
	e := newEnv(t, nil)
	create := func(id, extra string) {
		t.Helper()
		if r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=" + id + extra, ctype: "text/csv", body: csvBody(idLines(1, 3)...)}); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	create("exact", "")
	create("nosnap", "&snapshot=false")
	create("running-snap", "")
	create("keyed", "")
	e.takeSnapshot(t, "exact", map[int64][]string{1: {"a"}})
	e.takeSnapshot(t, "keyed", map[int64][]string{1: {"a"}})
	e.recordReset(t, "exact", 100, 1)

	r := e.do(req{method: "POST", path: "/v1/campaigns/exact/undo", ctype: "application/json", body: strings.NewReader(`{"exact":true,"name":"put them back"}`)})
	if r.status != http.StatusCreated {
		t.Fatalf("undo exact: %d %s", r.status, r.body)
	}
	camp := r.json(t)["campaign"].(map[string]any)
	if camp["exact"] != true || camp["name"] != "put them back" {
		t.Errorf("restore campaign %v: want exact and the given name", camp)
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown campaign", "/v1/campaigns/missing/undo", "", http.StatusNotFound, "not_found"},
		{"no snapshot", "/v1/campaigns/nosnap/undo", "", http.StatusConflict, "no_snapshot"},
		{"undone with the other exact", "/v1/campaigns/exact/undo", `{"exact":false}`, http.StatusConflict, "conflict"},
		{"snapshot running", "/v1/campaigns/running-snap/undo", "", http.StatusConflict, "snapshot_incomplete"},
		{"unknown field", "/v1/campaigns/keyed/undo", `{"exactly":true}`, http.StatusBadRequest, "malformed_json"},
		{"wrong type", "/v1/campaigns/keyed/undo", `{"exact":"yes"}`, http.StatusBadRequest, "malformed_json"},
		{"query", "/v1/campaigns/keyed/undo?exact=true", "", http.StatusBadRequest, "unknown_parameter"},
		{"control name", "/v1/campaigns/keyed/undo", `{"name":"a\u0007b"}`, http.StatusBadRequest, "invalid_parameter"},
		{"bad id", "/v1/campaigns/bad%20id/undo", "", http.StatusBadRequest, "invalid_campaign_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := req{method: "POST", path: tc.path}
			if tc.body != "" {
				q.ctype, q.body = "application/json", strings.NewReader(tc.body)
			}
			r := e.do(q)
			if r.status != tc.status || r.errCode(t) != tc.code {
				t.Fatalf("status %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	if c := e.campaign(t, "running-snap"); c.State != jobs.StateRunning {
		t.Errorf("a refused undo left its source %s, want running (untouched)", c.State)
	}

	// Idempotency-Key: the same request answers the same campaign, marked
	// replayed; the key used for another request is refused.
	h := map[string]string{"Idempotency-Key": "undo-1"}
	r1 := e.do(req{method: "POST", path: "/v1/campaigns/keyed/undo", header: h})
	r2 := e.do(req{method: "POST", path: "/v1/campaigns/keyed/undo", header: h})
	if r1.status != http.StatusCreated || r2.status != http.StatusOK || r2.json(t)["replayed"] != true {
		t.Fatalf("same key twice: %d then %d %s, want 201 then 200 replayed", r1.status, r2.status, r2.body)
	}
	if a, b := r1.json(t)["campaign"].(map[string]any)["id"], r2.json(t)["campaign"].(map[string]any)["id"]; a != b {
		t.Errorf("same key twice answered %v and %v", a, b)
	}
	r3 := e.do(req{method: "POST", path: "/v1/campaigns/exact/undo", header: h})
	if r3.status != http.StatusUnprocessableEntity || r3.errCode(t) != "idempotency_key_reused" {
		t.Errorf("key reused for another campaign's undo: %d %s, want 422 idempotency_key_reused", r3.status, r3.body)
	}
	if r := e.do(req{method: "POST", path: "/v1/campaigns/keyed/undo", header: map[string]string{"Idempotency-Key": "bad key"}}); r.status != http.StatusBadRequest {
		t.Errorf("invalid key: %d, want 400", r.status)
	}
}

// TestUndoApproval: a restore campaign above the confirmation threshold
// (of assets that get labels back) waits for approval like a create,
// unless the token may approve its own campaigns.
func TestUndoApproval(t *testing.T) {
	const selfTok = "self-approver-0123456789abcdef"
	p := filepath.Join(t.TempDir(), "tokens.yaml")
	file := "tokens:\n" +
		"  - name: op\n    token: " + apprOperatorTok + "\n    roles: [operator]\n    teams: [team-a]\n" +
		"  - name: appr\n    token: " + apprApproverTok + "\n    roles: [operator, approver]\n    teams: [team-a]\n" +
		"  - name: self\n    token: " + selfTok + "\n    roles: [operator, approver]\n    teams: [team-a]\n    self_approve: true\n"
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *httpapi.Config) {
		c.Tokens, c.TokenFile, c.TokenReloadInterval = nil, p, -1
		c.Defaults.ConfirmAbove = 10
	})
	for i, tc := range []struct {
		tok     string
		pending bool
	}{
		{apprOperatorTok, true}, // may not approve
		{apprApproverTok, true}, // may not approve what it staged
		{selfTok, false},        // would approve it right away
	} {
		id := fmt.Sprintf("appr-%d", i)
		// The source itself runs: created by the self-approving token.
		if r := e.as(selfTok, req{method: "POST", path: "/v1/campaigns?team_id=team-a&campaign_id=" + id, ctype: "text/csv", body: csvBody(idLines(1, 20)...)}); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		all := map[int64][]string{}
		for a := int64(1); a <= 20; a++ {
			all[a] = []string{"a"}
		}
		e.takeSnapshot(t, id, all)
		r := e.as(tc.tok, req{method: "POST", path: "/v1/campaigns/" + id + "/undo"})
		if r.status != http.StatusCreated {
			t.Fatalf("undo: %d %s", r.status, r.body)
		}
		m := r.json(t)
		state := m["campaign"].(map[string]any)["state"]
		if (state == "pending") != tc.pending || m["approval_required"] != tc.pending {
			t.Errorf("undo of 20 assets (threshold 10) by token %d: state %v, approval_required %v; want pending %v",
				i, state, m["approval_required"], tc.pending)
		}
		if tc.tok == apprApproverTok {
			// The four-eyes rule holds for restore campaigns: the token
			// that staged it does not approve it.
			rid := m["campaign"].(map[string]any)["id"].(string)
			if r := e.as(apprApproverTok, req{method: "POST", path: "/v1/campaigns/" + rid + "/approve"}); r.status != http.StatusForbidden {
				t.Errorf("approval of its own undo by a token without self_approve: %d %s, want 403", r.status, r.body)
			}
		}
	}
}

// TestUndoEndToEnd: over HTTP, with a real worker and the fake PDCP: a
// campaign resets the labels of 250 assets (and meets 2 IDs that do not
// exist), its snapshot is exported, and its undo gives every asset its
// labels back, asset by asset, varied labels included.
func TestUndoEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	e.startWorkerWith(pdcpfake.Options{Assets: 300, Labels: pdcpfake.LabelsVaried, Seed: 17, NoLog: true})
	fake := e.fake.Fake()
	before := map[int64][]string{}
	withLabels := 0
	for a := int64(1); a <= 250; a++ {
		l, ok := fake.Labels(a)
		if !ok {
			t.Fatalf("the fake has no asset %d", a)
		}
		before[a] = slices.Sorted(slices.Values(l))
		if len(l) > 0 {
			withLabels++
		}
	}
	if withLabels == 0 || withLabels == 250 {
		t.Fatalf("%d of 250 seeded assets have labels: the test wants some with and some without", withLabels)
	}

	ids := append(idLines(1, 250), "900001", "900002")
	r := e.do(req{method: "POST", path: "/v1/campaigns?campaign_id=e2e", ctype: "text/csv", body: csvBody(ids...)})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	final := e.waitState("e2e", jobs.StateDone, time.Minute)
	counts := final["counts"].(map[string]any)
	if counts["reset"] != 250.0 || counts["not_in_inventory"] != 2.0 {
		t.Fatalf("counts %v: want 250 reset, 2 not in the inventory", counts)
	}
	if snap := final["snapshot"].(map[string]any); snap["complete"] != true || snap["with_labels"] != float64(withLabels) {
		t.Errorf("snapshot %v: want complete with %d assets with labels", snap, withLabels)
	}
	for a := int64(1); a <= 250; a++ {
		if l, _ := fake.Labels(a); len(l) != 0 {
			t.Fatalf("asset %d still has labels %q after the reset", a, l)
		}
	}

	r = e.do(req{method: "GET", path: "/v1/campaigns/e2e/snapshot"})
	_, lines, err := jobs.ReadSnapshot(bytes.NewReader(r.body), "e2e snapshot")
	if r.status != http.StatusOK || err != nil || len(lines) != 250 {
		t.Fatalf("snapshot export: %d, %d lines, %v", r.status, len(lines), err)
	}
	for _, l := range lines {
		if got := slices.Sorted(slices.Values(l.Labels)); !slices.Equal(got, before[l.AssetID]) {
			t.Errorf("exported asset %d: %q, want %q", l.AssetID, got, before[l.AssetID])
		}
	}

	r = e.do(req{method: "POST", path: "/v1/campaigns/e2e/undo"})
	if r.status != http.StatusCreated {
		t.Fatalf("undo: %d %s", r.status, r.body)
	}
	m := r.json(t)
	rid := m["campaign"].(map[string]any)["id"].(string)
	if p := m["plan"].(map[string]any); p["restore"] != float64(withLabels) || p["cancels_source"] != false {
		t.Errorf("plan %v: want %d to restore, no cancel of a done source", p, withLabels)
	}
	final = e.waitState(rid, jobs.StateDone, time.Minute)
	counts = final["counts"].(map[string]any)
	if counts["restored"] != float64(withLabels) || counts["unchanged"] != float64(252-withLabels) {
		t.Errorf("restore counts %v: want %d restored, %d unchanged", counts, withLabels, 252-withLabels)
	}
	for a := int64(1); a <= 250; a++ {
		l, _ := fake.Labels(a)
		if got := slices.Sorted(slices.Values(l)); !slices.Equal(got, before[a]) {
			t.Errorf("asset %d after undo: %q, want %q", a, got, before[a])
		}
	}
}
