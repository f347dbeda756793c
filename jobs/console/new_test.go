package console_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/notify"
)

// newForm is a new-campaign form as a browser sends it: fields in the
// page's order, the file input last (empty when file is nil).
type newForm struct {
	fields   [][2]string
	fileName string
	file     []byte
}

func (u *ui) postNew(c *http.Client, path string, f newForm) page {
	u.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range f.fields {
		mw.WriteField(kv[0], kv[1])
	}
	fw, _ := mw.CreateFormFile("file", f.fileName)
	fw.Write(f.file)
	mw.Close()
	return u.do(c, http.MethodPost, path, &b, map[string]string{"Content-Type": mw.FormDataContentType()})
}

// elemText returns the text of the element with the given id attribute,
// unescaped (bad lines quote their values).
func elemText(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(html.UnescapeString(m[1]))
}

func campaignOf(t *testing.T, u *ui, res page) *jobs.Campaign {
	t.Helper()
	if res.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303: %s", res.status, elemText(res.body, "error"))
	}
	loc, _ := url.Parse(res.header.Get("Location"))
	id, ok := strings.CutPrefix(loc.Path, "/ui/campaigns/")
	if !ok {
		t.Fatalf("Location %s: want a campaign page", loc)
	}
	cp, err := u.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("campaign %s: %v", id, err)
	}
	return cp
}

func countCampaigns(t *testing.T, u *ui) int {
	t.Helper()
	cs, err := u.store.List(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func TestNewPageIsForOperatorsWithTheirTeam(t *testing.T) {
	u := newUI(t, nil)
	res := u.get(u.signIn(operatorToken), "/ui/new")
	if res.status != http.StatusOK || !strings.Contains(res.body, `id="new-campaign"`) {
		t.Fatalf("operator's GET /ui/new: %d", res.status)
	}
	if !strings.Contains(res.body, `id="team" name="team_id" type="text" value="team-a"`) {
		t.Error("the team of a one-team token is not filled in")
	}
	if !strings.Contains(res.body, `id="snapshot" name="snapshot" type="checkbox" value="true" checked`) {
		t.Error("snapshot is not checked by default")
	}
	for _, tok := range []string{viewerToken, approverToken} {
		c := u.signIn(tok)
		if res := u.get(c, "/ui/new"); res.status != http.StatusForbidden || strings.Contains(res.body, `id="new-campaign"`) {
			t.Errorf("GET /ui/new without the operator role: %d", res.status)
		}
		for _, path := range []string{"/ui/new", "/ui/new/plan"} {
			res := u.postNew(c, path, newForm{fields: [][2]string{{"team_id", "team-a"}, {"ids", "1\n2\n"}}})
			if res.status != http.StatusForbidden {
				t.Errorf("POST %s without the operator role: %d", path, res.status)
			}
		}
	}
	if got := countCampaigns(t, u); got != 0 {
		t.Errorf("%d campaigns exist after refused posts", got)
	}
}

func TestNewPlanOfPastedIDsShowsCountsAndTheFirstBadLine(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	ids := "101\n102\n101\nx42\n103, 104 105\n"
	res := u.postNew(c, "/ui/new/plan", newForm{fields: [][2]string{
		{"name", "spring clean"}, {"mode", "remove"}, {"labels", "stale"}, {"team_id", "team-a"},
		{"priority", "low"}, {"snapshot", "true"}, {"ids", ids}}})
	if res.status != http.StatusOK {
		t.Fatalf("plan: %d %s", res.status, elemText(res.body, "error"))
	}
	for id, want := range map[string]string{"plan-valid": "5", "plan-duplicates": "1", "plan-bad": "1",
		"plan-first-bad": `pasted-ids:4: "x42": not a decimal integer`} {
		if got := elemText(res.body, id); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	if !strings.Contains(res.body, "runs as soon as it is created") {
		t.Error("a plan under the threshold does not say it runs at once")
	}
	// The plan speaks to console users: no API route, no word said twice.
	if got := elemText(res.body, "plan-undo"); !strings.Contains(got, "Undo on the campaign page puts the removed labels back") || strings.Contains(got, "/v1/") {
		t.Errorf("#plan-undo = %q, want the campaign page's Undo and no API route", got)
	}
	if !strings.Contains(res.body, "IDs from column 1 (the only one).") {
		t.Error("the plan does not say the IDs come from column 1, the only one")
	}
	// The form comes back with its values, the pasted IDs included.
	for _, want := range []string{`value="spring clean"`, `value="stale"`, `<option value="remove" selected`,
		`<option value="low" selected`, ">" + ids + "</textarea>"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the form shown again lacks %s", want)
		}
	}
	if got := countCampaigns(t, u); got != 0 {
		t.Errorf("a plan created %d campaigns", got)
	}

	// Without a snapshot the plan says the campaign cannot be undone.
	res = u.postNew(c, "/ui/new/plan", newForm{fields: [][2]string{{"mode", "delete"}, {"team_id", "team-a"}, {"ids", "1 2 3"}}})
	if res.status != http.StatusOK || !strings.Contains(res.body, `id="plan-warnings"`) ||
		!strings.Contains(res.body, "cannot be undone") || !strings.Contains(res.body, `id="snapshot-warning" class="warning">`) {
		t.Errorf("plan without a snapshot: %d, warnings missing", res.status)
	}
}

func TestNewCreatesTheCampaignAsChosen(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	res := u.postNew(c, "/ui/new", newForm{fields: [][2]string{
		{"name", "spring clean"}, {"campaign_id", "spring-1"}, {"mode", "remove"}, {"labels", "stale, quarantine"},
		{"team_id", "team-a"}, {"priority", "high"}, {"snapshot", "true"}, {"ids", "11,12,13\n14"}}})
	cp := campaignOf(t, u, res)
	want := jobs.Campaign{ID: "spring-1", Name: "spring clean", Mode: jobs.ModeRemove, TeamID: "team-a",
		Priority: jobs.PriorityHigh, Snapshot: true, Total: 4, State: jobs.StateRunning}
	got := jobs.Campaign{ID: cp.ID, Name: cp.Name, Mode: cp.Mode, TeamID: cp.TeamID, Priority: cp.Priority,
		Snapshot: cp.Snapshot, Total: cp.Total, State: cp.State}
	if fmt.Sprint(got) != fmt.Sprint(want) || strings.Join(cp.Labels, ",") != "stale,quarantine" {
		t.Errorf("campaign %+v labels %v, want %+v labels [stale quarantine]", got, cp.Labels, want)
	}
	if cp.Owner == "" {
		t.Error("the campaign has no owner")
	}
	loc := res.header.Get("Location")
	if !strings.Contains(loc, "flash=") || !strings.Contains(loc, url.QueryEscape("Campaign spring-1 created.")) {
		t.Errorf("Location %s: want the created flash", loc)
	}

	// Unchecked, the snapshot checkbox sends nothing: no snapshot.
	cp = campaignOf(t, u, u.postNew(c, "/ui/new", newForm{fields: [][2]string{{"mode", "delete"}, {"team_id", "team-a"}, {"ids", "5"}}}))
	if cp.Snapshot || cp.Mode != jobs.ModeDelete || cp.TeamID != "team-a" {
		t.Errorf("unchecked snapshot: %+v", cp)
	}
}

func TestNewBigCampaignLandsPending(t *testing.T) {
	u := newUI(t, nil) // ConfirmAbove 100
	c := u.signIn(operatorToken)
	var b strings.Builder
	for i := 1; i <= 150; i++ {
		fmt.Fprintf(&b, "%d\n", 1000+i)
	}
	form := newForm{fields: [][2]string{{"mode", "delete"}, {"team_id", "team-a"}, {"snapshot", "true"}, {"ids", b.String()}}}
	plan := u.postNew(c, "/ui/new/plan", form)
	if elemText(plan.body, "plan-valid") != "150" || !strings.Contains(plan.body, "will wait for an approver") {
		t.Errorf("plan of 150 IDs over a threshold of 100: valid %q, approval not said", elemText(plan.body, "plan-valid"))
	}
	res := u.postNew(c, "/ui/new", form)
	if cp := campaignOf(t, u, res); cp.State != jobs.StatePending {
		t.Errorf("state %s, want pending", cp.State)
	}
	if loc := res.header.Get("Location"); !strings.Contains(loc, url.QueryEscape("created, waiting for approval")) {
		t.Errorf("Location %s: want the waiting-for-approval flash", loc)
	}
}

func TestNewUploadsAFile(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	csv := []byte("asset_id,host\n7,a\n8,b\nnope,c\n8,d\n")
	f := newForm{fields: [][2]string{{"mode", "delete"}, {"team_id", "team-a"}, {"snapshot", "true"}, {"ids", ""}},
		fileName: "hosts.csv", file: csv}
	plan := u.postNew(c, "/ui/new/plan", f)
	if plan.status != http.StatusOK || elemText(plan.body, "plan-valid") != "2" || elemText(plan.body, "plan-duplicates") != "1" ||
		elemText(plan.body, "plan-first-bad") != `hosts.csv:4: "nope": not a decimal integer` {
		t.Errorf("plan of a file: %d valid %q dup %q first bad %q", plan.status, elemText(plan.body, "plan-valid"),
			elemText(plan.body, "plan-duplicates"), elemText(plan.body, "plan-first-bad"))
	}
	if !strings.Contains(plan.body, `id="file-again"`) {
		t.Error("the plan does not say to choose the file again")
	}
	cp := campaignOf(t, u, u.postNew(c, "/ui/new", f))
	if cp.Total != 2 || cp.Name != "hosts.csv" {
		t.Errorf("campaign from a file: total %d name %q, want 2 hosts.csv", cp.Total, cp.Name)
	}
}

func TestNewShowsRefusalsWithTheFormKept(t *testing.T) {
	u := newUI(t, func(cfg *httpapi.Config) { cfg.MaxBodyBytes = 4 << 10 })
	c := u.signIn(operatorToken)
	big := bytes.Repeat([]byte("123456789\n"), 1000)
	for _, tc := range []struct {
		name   string
		form   newForm
		status int
		error  string
	}{
		{"another team's campaign", newForm{fields: [][2]string{{"team_id", "team-b"}, {"ids", "1"}}},
			http.StatusForbidden, `token "otto" may not create campaigns for team team-b`},
		{"remove without labels", newForm{fields: [][2]string{{"name", "keep me"}, {"mode", "remove"}, {"team_id", "team-a"}, {"ids", "1"}}},
			http.StatusBadRequest, "mode remove needs labels"},
		{"a file and pasted IDs", newForm{fields: [][2]string{{"name", "keep me"}, {"ids", "1"}}, fileName: "a.csv", file: []byte("2\n")},
			http.StatusBadRequest, "not both"},
		{"neither", newForm{fields: [][2]string{{"name", "keep me"}, {"ids", " \n"}}},
			http.StatusBadRequest, "Choose a file of asset IDs or paste IDs."},
		{"over MaxBodyBytes", newForm{fields: [][2]string{{"name", "keep me"}, {"team_id", "team-a"}}, fileName: "big.csv", file: big},
			http.StatusRequestEntityTooLarge, "request body exceeds 4096 bytes"},
		{"all bad", newForm{fields: [][2]string{{"name", "keep me"}, {"team_id", "team-a"}, {"ids", "x\ny"}}},
			http.StatusUnprocessableEntity, "no valid asset IDs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/ui/new/plan", "/ui/new"} {
				res := u.postNew(c, path, tc.form)
				if res.status != tc.status || !strings.Contains(elemText(res.body, "error"), tc.error) {
					t.Errorf("%s: %d #error %q, want %d %q", path, res.status, elemText(res.body, "error"), tc.status, tc.error)
				}
				if !strings.Contains(res.body, `id="new-campaign"`) {
					t.Errorf("%s: the form is not shown again", path)
				}
				if tc.form.fields[0][0] == "name" && !strings.Contains(res.body, `value="keep me"`) {
					t.Errorf("%s: the name is not kept", path)
				}
			}
		})
	}
	if got := countCampaigns(t, u); got != 0 {
		t.Errorf("%d campaigns exist after refusals", got)
	}
}

func TestNewRefusesCrossSitePosts(t *testing.T) {
	u := newUI(t, nil)
	c := u.signIn(operatorToken)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("team_id", "team-a")
	mw.WriteField("ids", "1")
	mw.Close()
	for _, path := range []string{"/ui/new", "/ui/new/plan"} {
		res := u.do(c, http.MethodPost, path, bytes.NewReader(b.Bytes()), map[string]string{
			"Content-Type": mw.FormDataContentType(), "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		if res.status != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, res.status)
		}
	}
	if got := countCampaigns(t, u); got != 0 {
		t.Errorf("%d campaigns exist after cross-site posts", got)
	}
}

func TestNewShowsTheAPIsBusyAnswer(t *testing.T) {
	u := newUI(t, func(cfg *httpapi.Config) { cfg.MaxConcurrentUploads = 1 })
	// Hold the one upload slot with an upload through the API that is
	// still being sent: once more has been written than the sockets
	// buffer, the API's handler is reading it and holds the slot.
	pr, pw := io.Pipe()
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, u.srv.URL+"/v1/campaigns?dry_run=true&team_id=team-a", pr)
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		res.Body.Close()
		held <- res.StatusCode
	}()
	line := strings.Repeat(" ", 1023) + "1\n"
	for range 32 << 10 { // 32 MiB
		if _, err := io.WriteString(pw, line); err != nil {
			t.Fatalf("holding an upload slot: %v", err)
		}
	}
	c := u.signIn(operatorToken)
	res := u.postNew(c, "/ui/new/plan", newForm{fields: [][2]string{{"name", "keep me"}, {"team_id", "team-a"}, {"ids", "1\n2"}, {"priority", "low"}}})
	if res.status != http.StatusServiceUnavailable || !strings.Contains(elemText(res.body, "error"), "1 uploads are in progress") ||
		!strings.Contains(res.body, `value="keep me"`) || !strings.Contains(res.body, ">1\n2</textarea>") ||
		!strings.Contains(res.body, `<option value="low" selected`) {
		t.Errorf("plan while the upload slot is held: %d #error %q, want 503 with the API's message and the form", res.status, elemText(res.body, "error"))
	}
	if res.header.Get("Retry-After") == "" {
		t.Error("the busy answer lacks the API's Retry-After")
	}
	pw.Close()
	if got := <-held; got != http.StatusOK {
		t.Errorf("held upload: status %d, want 200", got)
	}
	if res := u.postNew(c, "/ui/new/plan", newForm{fields: [][2]string{{"team_id", "team-a"}, {"ids", "1"}}}); res.status != http.StatusOK {
		t.Errorf("plan after the slot was freed: %d %s", res.status, elemText(res.body, "error"))
	}
}

// TestNewNamesNotifiers: the form has a Notify field, passed on to the
// API as its notify list, so that a campaign created in the console can
// tell the people not watching; an unknown name is the API's refusal,
// shown with the form kept.
func TestNewNamesNotifiers(t *testing.T) {
	u := newUI(t, func(c *httpapi.Config) {
		c.Notifiers = &notify.Config{Notifiers: []notify.Notifier{
			{Name: "ops", URL: "https://hooks.example.com/ops", Secret: "s1"},
			{Name: "audit", URL: "https://hooks.example.com/audit", Secret: "s2"},
		}}
	})
	c := u.signIn(operatorToken)
	if res := u.get(c, "/ui/new"); !strings.Contains(res.body, `name="notify"`) {
		t.Fatal("the new-campaign form has no notify field")
	}
	cp := campaignOf(t, u, u.postNew(c, "/ui/new", newForm{fields: [][2]string{
		{"mode", "delete"}, {"team_id", "team-a"}, {"notify", "ops, audit"}, {"ids", "1,2"}}}))
	if strings.Join(cp.Notify, ",") != "ops,audit" {
		t.Errorf("notify %v, want [ops audit]", cp.Notify)
	}
	res := u.postNew(c, "/ui/new", newForm{fields: [][2]string{
		{"mode", "delete"}, {"team_id", "team-a"}, {"notify", "nobody"}, {"ids", "3"}}})
	if res.status != http.StatusUnprocessableEntity || !strings.Contains(elemText(res.body, "error"), "nobody") ||
		!strings.Contains(res.body, `value="nobody"`) {
		t.Errorf("unknown notifier: status %d, error %q; want 422 naming it, the field kept", res.status, elemText(res.body, "error"))
	}
}
