package main

import (
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestRunDoesNotApproveAnotherPendingCampaign: `run --campaign X --append`
// with a CSV whose IDs X already holds must not approve X, which someone
// else staged pending for approval (a select_all schedule's campaign is
// staged the same way): run confirms only what its own prompt or --yes
// covered. It says the campaign waits for approval, exits 3, and PDCP
// gets no call.
func TestRunDoesNotApproveAnotherPendingCampaign(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 2000})
	out, errs, code := e.run("submit", "--campaign", "staged", "--csv", e.writeIDs("staged.csv", 1, 2000), "--confirm-above", "1000")
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, out, errs)
	}
	if s := e.status("staged"); s.State != "pending" {
		t.Fatalf("state %s, want pending", s.State)
	}
	out, errs, code = e.run("run", "--campaign", "staged", "--append", "--csv", e.writeIDs("one.csv", 1, 1), "--metrics-addr", "127.0.0.1:0")
	s := e.status("staged")
	calls := e.fake.Fake().Stats().LabelCalls
	if s.State != "pending" || calls > 0 || code != exitStopped || !strings.Contains(errs, "labelreset approve staged") {
		t.Fatalf("run with one already-held ID: exit %d, campaign staged is %s with %d reset, fake PDCP took %d label calls "+
			"(want exit 3 naming 'labelreset approve staged', the campaign still pending, no call)\nstdout: %s\nstderr: %s",
			code, s.State, s.Counts["reset"], calls, tail(out, 400), tail(errs, 400))
	}
}
