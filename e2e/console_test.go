package e2e

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Asset ranges of the fake's inventory (1..fakeAssets), one per test that
// lets its campaign reset labels, so that each snapshot finds the labels
// the fake seeded and an undo has something to put back.
const (
	pendingFirst, pendingCount = 1, 1500 // above confirmAbove: created pending
	liveFirst, liveCount       = 1501, 900
	pauseFirst, pauseCount     = 2401, 900
	failFirst, failCount       = 3301, 200
	reportFirst, reportCount   = 3501, 100
	undoFirst, undoCount       = 3601, 100
	newFirst, newCount         = 3701, 20
	shotFirst, shotCount       = 2401, 2500 // the last test: the ranges before are done
)

// actionForms are the forms of the campaign page that change state.
var actionForms = []string{"#approve-form", "#pause-form", "#resume-form", "#cancel-form", "#retry-form", "#undo-form"}

// campaignPath is the console page of campaign id.
func campaignPath(id string) string { return "/ui/campaigns/" + url.PathEscape(id) }

// postForm posts fields to path from inside the page, as a forged form
// would (same origin, with the session cookie), and returns the status of
// the answer; redirects are not followed (0 for a redirect).
func (tb *tab) postForm(path string, fields map[string]string) int {
	tb.t.Helper()
	var args []string
	for k, v := range fields {
		args = append(args, fmt.Sprintf("[%q, %q]", k, v))
	}
	return eval[int](tb, fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "same-origin", redirect: "manual",
		body: new URLSearchParams([%s])}).then(r => r.status)`, path, strings.Join(args, ", ")))
}

func TestSignIn(t *testing.T) {
	tb := newTab(t)

	// Without a session every page leads to the sign-in form, keeping
	// where the person wanted to go.
	tb.open("/ui/")
	if loc := tb.location(); !strings.Contains(loc, "/ui/login") {
		t.Fatalf("GET /ui/ without a session landed on %s, want /ui/login", loc)
	}
	tb.wait("form#login")

	tb.expectLoadError(http.StatusUnauthorized, "/ui/login")
	tb.typeInto("#token", "not-a-token-of-the-file")
	if code := tb.submit("#login-submit"); code != http.StatusUnauthorized {
		t.Errorf("a bad token answers %d, want 401", code)
	}
	if msg := tb.text("#error"); msg == "" {
		t.Error("a bad token shows an empty #error")
	}
	if tb.count("#campaigns") != 0 {
		t.Error("a bad token shows the campaigns list")
	}
	if strings.Contains(tb.text("body"), "not-a-token-of-the-file") {
		t.Error("the sign-in page repeats the token it refused")
	}

	tb.login("operator")
	if who := tb.text("#whoami"); !strings.Contains(who, "olivia") {
		t.Errorf("#whoami shows %q, want the token's name olivia", who)
	}
	if tb.count("a#nav-new") != 1 {
		t.Error("an operator sees no a#nav-new")
	}

	if code := tb.submit("#logout-submit"); code != http.StatusOK {
		t.Errorf("sign out answered %d, want 200 (the sign-in page after the redirect)", code)
	}
	tb.wait("form#login")
	tb.open("/ui/")
	if loc := tb.location(); !strings.Contains(loc, "/ui/login") {
		t.Errorf("after signing out GET /ui/ landed on %s, want /ui/login", loc)
	}
}

func TestViewerSeesNoActions(t *testing.T) {
	id := campaignID("viewer-pending")
	createPending(t, id)

	// The operator's page of the same campaign has a cancel form: the
	// viewer's page below lacks it because of the role, not a wrong
	// selector.
	op := newTab(t)
	op.login("operator")
	op.show(campaignPath(id))
	op.wait("#cancel-form")

	tb := newTab(t)
	tb.login("viewer")
	if tb.count("a#nav-new") != 0 {
		t.Error("a viewer sees a#nav-new")
	}
	tb.show(campaignPath(id))
	tb.wait("section#campaign")
	for _, sel := range actionForms {
		if n := tb.count(sel); n != 0 {
			t.Errorf("a viewer sees %s", sel)
		}
	}
	// Signing out is the only thing a viewer may post.
	if n := tb.count("form[method=post i]:not(#logout)"); n != 0 {
		t.Errorf("a viewer's page has %d POST forms besides form#logout", n)
	}

	// The viewer forges the posts the buttons would make: refused.
	for _, action := range []string{"cancel", "approve", "pause"} {
		path := campaignPath(id) + "/" + action
		tb.expectLoadError(http.StatusForbidden, path)
		if code := tb.postForm(path, map[string]string{"confirm": id}); code != http.StatusForbidden {
			t.Errorf("a viewer's POST %s answered %d, want 403", path, code)
		}
	}
	if c := getCampaign(t, id); c.State != "pending" {
		t.Errorf("after the viewer's posts the campaign is %s, want pending", c.State)
	}
}

func TestLiveProgress(t *testing.T) {
	id := campaignID("live")
	createCampaign(t, id, liveFirst, liveCount)
	waitCampaign(t, id, time.Minute, "some assets finished", func(c campaign) bool { return c.finished() > 0 })

	tb := newTab(t)
	tb.login("viewer")
	tb.show(campaignPath(id))
	tb.wait("#finished")
	if state := tb.text("#state"); !strings.Contains(state, "running") {
		t.Fatalf("#state shows %q, want running", state)
	}
	// A marker in the page's JavaScript world survives only as long as the
	// page does: the counts must change without a reload.
	eval[bool](tb, "window.e2eMarker = true")
	finished, reset := tb.number("#finished"), tb.number("#count-reset")
	var laterFinished, laterReset int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		laterFinished, laterReset = tb.number("#finished"), tb.number("#count-reset")
		if laterFinished > finished && laterReset > reset || time.Now().After(deadline) {
			break
		}
	}
	if laterFinished <= finished || laterReset <= reset {
		t.Fatalf("#finished %d → %d, #count-reset %d → %d in 30s; the campaign's counters moved from %d to %d",
			finished, laterFinished, reset, laterReset, finished, getCampaign(t, id).finished())
	}
	if !eval[bool](tb, "window.e2eMarker === true") {
		t.Error("the page reloaded to show the new counts; want them live")
	}
	// The achieved rate needs two samples of the counters; it shows while
	// the campaign runs.
	tb.waitTrue(`document.querySelector("#rate").textContent.includes("/s")`, "#rate to show assets/s")
	if lim := tb.text("#limiter"); !strings.Contains(lim, workerRate+"/s") {
		t.Errorf("#limiter shows %q, want the workers' effective rate %s/s", lim, workerRate)
	}
	if total := tb.number("#total"); total != liveCount {
		t.Errorf("#total shows %d, want %d", total, liveCount)
	}
	if v, max := tb.attr("progress#progress", "value"), tb.attr("progress#progress", "max"); v == "" || max == "" {
		t.Errorf("progress#progress value=%q max=%q", v, max)
	}
}

func TestApprove(t *testing.T) {
	id := campaignID("approve-me")
	createPending(t, id)

	tb := newTab(t)
	tb.login("approver")
	tb.show(campaignPath(id))
	tb.wait("#approve-form")
	if n := tb.number("#approve-count"); n != pendingCount {
		t.Errorf("#approve-count shows %d, want %d", n, pendingCount)
	}
	if server := tb.text("#approve-server"); !strings.Contains(server, strings.TrimPrefix(env.fakeURL, "http://")) {
		t.Errorf("#approve-server shows %q, want the campaign's API server %s", server, env.fakeURL)
	}
	tb.text("#approve-team") // present; the campaign has no team

	// A confirmation that is not the campaign's ID is refused by the
	// server, whatever the page's script checks.
	path := campaignPath(id) + "/approve"
	tb.expectLoadError(http.StatusBadRequest, path)
	tb.expectLoadError(http.StatusConflict, path)
	if code := tb.postForm(path, map[string]string{"confirm": id + "-not"}); code < 400 {
		t.Errorf("approve with a wrong confirmation answered %d, want a refusal", code)
	}
	if c := getCampaign(t, id); c.State != "pending" {
		t.Fatalf("after a wrong confirmation the campaign is %s, want pending", c.State)
	}

	tb.typeInto("#approve-confirm", id)
	if code := tb.submit("#approve-submit"); code != http.StatusOK {
		t.Fatalf("approve answered %d, want 200 (the campaign page after the redirect)", code)
	}
	if msg := tb.text("#flash"); msg == "" {
		t.Error("no #flash after approving")
	}
	if c := getCampaign(t, id); c.State != "running" && c.State != "done" {
		t.Errorf("after approving the campaign is %s, want running", c.State)
	}
	if tb.count("#approve-form") != 0 {
		t.Error("the approved campaign's page still shows #approve-form")
	}
}

func TestPauseResume(t *testing.T) {
	id := campaignID("pause-me")
	createCampaign(t, id, pauseFirst, pauseCount)

	tb := newTab(t)
	tb.login("operator")
	tb.show(campaignPath(id))
	tb.wait("#pause-form")
	if tb.count("#resume-form") != 0 {
		t.Error("a running campaign shows #resume-form")
	}
	if code := tb.submit("#pause-submit"); code != http.StatusOK {
		t.Fatalf("pause answered %d, want 200", code)
	}
	if msg := tb.text("#flash"); msg == "" {
		t.Error("no #flash after pausing")
	}
	if c := getCampaign(t, id); c.State != "paused" {
		t.Fatalf("after pausing the campaign is %s, want paused", c.State)
	}
	tb.wait("#resume-form")
	if state := tb.text("#state"); !strings.Contains(state, "paused") {
		t.Errorf("#state shows %q after pausing, want paused", state)
	}
	if tb.count("#pause-form") != 0 {
		t.Error("a paused campaign shows #pause-form")
	}

	if code := tb.submit("#resume-submit"); code != http.StatusOK {
		t.Fatalf("resume answered %d, want 200", code)
	}
	if c := getCampaign(t, id); c.State != "running" && c.State != "done" {
		t.Fatalf("after resuming the campaign is %s, want running", c.State)
	}
	tb.wait("#pause-form")
	if state := tb.text("#state"); !strings.Contains(state, "running") {
		t.Errorf("#state shows %q after resuming, want running", state)
	}
}

// finishedCampaign creates campaign id over first..first+n-1 and waits
// until it is done.
func finishedCampaign(t *testing.T, id string, first, n int) campaign {
	t.Helper()
	createCampaign(t, id, first, n)
	return waitState(t, id, 2*time.Minute, "done")
}

func TestFailedAssetSearch(t *testing.T) {
	id := campaignID("with-failures")
	failing := failingAsset(t, failFirst, failCount)
	c := finishedCampaign(t, id, failFirst, failCount)
	if c.Counts["failed"] == 0 {
		t.Fatalf("campaign %s has no failed asset: %v", id, c.Counts)
	}
	asset := strconv.FormatInt(failing, 10)
	row := fmt.Sprintf("#failures-table tr[data-asset=%q]", asset)

	tb := newTab(t)
	tb.login("viewer")
	tb.show(campaignPath(id))
	tb.wait("#failures-table")
	if n := tb.count("#failures-table tr[data-asset]"); int64(n) == 0 {
		t.Fatalf("the failures table has no row; the campaign has %d failed", c.Counts["failed"])
	}

	// Search by asset ID through the failures filter: Enter in the field,
	// as a person would; the page's script swaps the table in place.
	tb.do("clear #failures-asset", chromedp.Clear(chromedp.CSS("#failures-asset")))
	tb.typeInto("#failures-asset", asset+"\r")
	tb.waitTrue(fmt.Sprintf(`document.querySelector(%q) !== null &&
		document.querySelectorAll("#failures-table tr[data-asset]").length === 1`, row),
		"the failures table filtered to asset "+asset+" alone")
	if got := tb.text(row + " td.outcome"); got != "failed" {
		t.Errorf("asset %s's outcome shows %q, want failed", asset, got)
	}
	if got := tb.text(row + " td.status"); !strings.Contains(got, "422") {
		t.Errorf("asset %s's status shows %q, want 422", asset, got)
	}

	// Search it through the header's asset search, from any page.
	tb.typeInto("#asset-id", asset)
	if code := tb.submitForm("#asset-search"); code != http.StatusOK {
		t.Fatalf("the asset search answered %d", code)
	}
	hit := fmt.Sprintf("#asset-hits tr[data-campaign=%q]", id)
	tb.wait(hit)
	if got := tb.text(hit + " td.outcome"); got != "failed" {
		t.Errorf("the asset page shows outcome %q for %s in %s, want failed", got, asset, id)
	}
}

func TestReportDownload(t *testing.T) {
	id := campaignID("report-me")
	finishedCampaign(t, id, reportFirst, reportCount)

	tb := newTab(t)
	tb.login("viewer")
	tb.show(campaignPath(id))
	href := tb.attr("a#download-report", "href")
	if !strings.HasSuffix(href, campaignPath(id)+"/report.csv") {
		t.Errorf("a#download-report links to %q, want .../report.csv", href)
	}
	// The browser fetches the link with its session, as a click would.
	type download struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Body   string `json:"body"`
	}
	d := eval[download](tb, fmt.Sprintf(`fetch(%q, {credentials: "same-origin"}).then(async r =>
		({status: r.status, type: r.headers.get("Content-Type") || "", body: await r.text()}))`, href))
	if d.Status != http.StatusOK {
		t.Fatalf("GET %s: %d", href, d.Status)
	}
	if !strings.Contains(d.Type, "csv") {
		t.Errorf("the report's Content-Type is %q, want text/csv", d.Type)
	}
	lines := strings.Split(strings.TrimSpace(d.Body), "\n")
	if len(lines) != reportCount+1 {
		t.Errorf("the report has %d lines, want a header and %d assets", len(lines), reportCount)
	}
	seen := map[string]bool{}
	for _, l := range lines[1:] {
		first, _, _ := strings.Cut(l, ",")
		seen[first] = true
	}
	for i := reportFirst; i < reportFirst+reportCount; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("the report has no row for asset %d", i)
			break
		}
	}
	if api := reportRows(t, id); len(api) != len(lines) {
		t.Errorf("the console's report has %d lines, the API's %d", len(lines), len(api))
	}
}

func TestUndo(t *testing.T) {
	id := campaignID("undo-me")
	finishedCampaign(t, id, undoFirst, undoCount)

	tb := newTab(t)
	tb.login("operator")
	tb.show(campaignPath(id))
	tb.wait("#undo-form")
	tb.typeInto("#undo-confirm", id)
	if code := tb.submit("#undo-submit"); code != http.StatusOK {
		t.Fatalf("undo answered %d, want 200 (the restore campaign's page after the redirect)", code)
	}
	restore := tb.attr("section#campaign", "data-campaign")
	if restore == id {
		t.Fatalf("after undo the page is still campaign %s, want its restore campaign", id)
	}
	t.Cleanup(func() { cancelIfLive(t, restore) })
	if c := getCampaign(t, restore); c.RestoreOf != id {
		t.Errorf("the page after undo shows campaign %s, restore of %q, want the restore of %s", restore, c.RestoreOf, id)
	}
	if msg := tb.text("#flash"); msg == "" {
		t.Error("no #flash after undo")
	}
}

// pastedIDs is what a person pastes into #ids: the assets first..first+n-1
// one per line, the first one again and a line that is no ID.
func pastedIDs(first, n int) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	fmt.Fprintf(&b, "%d\nnot-an-id\n", first)
	return b.String()
}

// plan asks for the plan of the new-campaign form; the page's script shows
// it in place (without the script it would be a page of its own).
func (tb *tab) plan() {
	tb.t.Helper()
	tb.do("show the plan", chromedp.Click(chromedp.CSS("#plan-submit")))
	tb.wait("section#plan #plan-valid")
}

func TestNewCampaign(t *testing.T) {
	tb := newTab(t)
	tb.login("operator")
	tb.do("open the new-campaign page", chromedp.Click(chromedp.CSS("a#nav-new")))
	tb.wait("form#new-campaign")
	tb.typeInto("#ids", pastedIDs(newFirst, newCount))
	tb.plan()
	for sel, want := range map[string]int64{"#plan-valid": newCount, "#plan-duplicates": 1, "#plan-bad": 1} {
		if got := tb.number(sel); got != want {
			t.Errorf("%s shows %d, want %d", sel, got, want)
		}
	}

	if code := tb.submit("#create-submit"); code != http.StatusOK {
		t.Fatalf("create answered %d, want 200 (the campaign page after the redirect)", code)
	}
	loc := tb.location()
	_, id, ok := strings.Cut(loc, "/ui/campaigns/")
	if !ok {
		t.Fatalf("after create the page is %s, want the new campaign's", loc)
	}
	id, _, _ = strings.Cut(id, "?")
	id, _ = url.PathUnescape(id)
	t.Cleanup(func() { cancelIfLive(t, id) })
	if c := getCampaign(t, id); c.Total != newCount {
		t.Errorf("the campaign created from the form holds %d assets, want %d", c.Total, newCount)
	}
	if got := tb.attr("section#campaign", "data-campaign"); got != id {
		t.Errorf("the campaign page shows campaign %q, want %q", got, id)
	}
}

// TestCrossSitePostRefused: a page of another origin that the signed-in
// operator visits posts a cancel form to the console. The browser sends
// the session cookie (the other origin is on the same site, 127.0.0.1, so
// SameSite=Strict does not hold it back); the console must refuse the post
// by its origin.
func TestCrossSitePostRefused(t *testing.T) {
	id := campaignID("cross-site")
	createPending(t, id)
	target := env.serveURL + campaignPath(id) + "/cancel"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>other site</title><link rel="icon" href="data:,">
<form id="forged" method="post" action="%s"><input name="confirm" value="%s"><button id="go">Win a prize</button></form>`,
			html.EscapeString(target), html.EscapeString(id))
	}))
	defer evil.Close()

	tb := newTab(t)
	tb.login("operator")
	tb.do("open the other site", navigate(evil.URL+"/"))
	tb.expectLoadError(http.StatusForbidden, campaignPath(id)+"/cancel")
	if code := tb.submit("#go"); code != http.StatusForbidden {
		t.Errorf("a cross-site POST answered %d, want 403", code)
	}
	if c := getCampaign(t, id); c.State != "pending" {
		t.Errorf("after a cross-site cancel the campaign is %s, want pending", c.State)
	}
}

// createPending creates campaign id above --confirm-above through the API:
// it waits for an approval.
func createPending(t *testing.T, id string) {
	t.Helper()
	if c := createCampaign(t, id, pendingFirst, pendingCount); c.State != "pending" {
		t.Fatalf("campaign %s of %d assets is %s, want pending (above --confirm-above)", id, pendingCount, c.State)
	}
}
