package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// apiCall is one request to a running "labelreset serve".
func apiCall(t *testing.T, addr, method, path, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/csv")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenOf is the secret of a named test token.
func tokenOf(name string) string { return "tok-" + name + "-0123456789abcdef" }

func sha(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

// writeTokenFile writes a token file with the given entries (name:
// "roles|teams|self"), by digest except the first, which carries the
// token itself (both forms are accepted).
func writeTokenFile(t *testing.T, path string, entries [][2]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test tokens\ntokens:\n")
	for i, e := range entries {
		parts := strings.Split(e[1], "|")
		fmt.Fprintf(&b, "  - name: %s\n", e[0])
		if i == 0 {
			fmt.Fprintf(&b, "    token: %s\n", tokenOf(e[0]))
		} else {
			fmt.Fprintf(&b, "    token_sha256: %s\n", sha(tokenOf(e[0])))
		}
		fmt.Fprintf(&b, "    roles: [%s]\n    teams: [%s]\n", parts[0], parts[1])
		if len(parts) > 2 {
			b.WriteString("    self_approve: true\n")
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var roleTokens = [][2]string{
	{"viewer-a", `viewer|"team-a"`},
	{"op-a", `operator|"team-a"`},
	{"appr-a", `approver|"team-a"`},
	{"opappr-a", `operator, approver|"team-a"`},
	{"self-a", `operator, approver|"team-a"|self`},
	{"op-b", `operator|"team-b"`},
	{"admin", `viewer, operator, approver|"*"`},
}

// TestAPIRolesAndTeams runs "labelreset serve" with a token file of named
// tokens, each with roles and teams, and checks over HTTP what each may
// do: a viewer reads but cannot change anything, an operator cannot
// approve, the creator cannot approve its own campaign unless the file
// allows it, a token of team B neither sees nor touches team A's
// campaign. Then a token removed from the file is refused without a
// restart, and one added is accepted.
func TestAPIRolesAndTeams(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	tokFile := filepath.Join(e.dir, "tokens.yaml")
	writeTokenFile(t, tokFile, roleTokens)
	addr := freeAddr(t)
	srv := e.start("serve", "--addr", addr, "--tokens-file", tokFile, "--confirm-above", "2")
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	ids := "asset_id\n1\n2\n3\n"
	create := func(tok, id, team string) (int, string) {
		return apiCall(t, addr, "POST", "/v1/campaigns?campaign_id="+id+"&team_id="+team, tokenOf(tok), ids)
	}
	check := func(what string, got int, body string, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d %s, want %d", what, got, strings.TrimSpace(body), want)
		}
	}

	// viewer: reads, never writes.
	st, body := create("viewer-a", "by-viewer", "team-a")
	check("viewer creates", st, body, 403)
	st, body = create("op-a", "c1", "team-a")
	check("operator creates", st, body, 201)
	for _, p := range []string{"/v1/campaigns", "/v1/campaigns/c1", "/v1/campaigns/c1/report", "/v1/campaigns/c1/events"} {
		st, body = apiCall(t, addr, "GET", p, tokenOf("viewer-a"), "")
		check("viewer GET "+p, st, body, 200)
	}
	for _, a := range []string{"approve", "pause", "resume", "cancel", "retry"} {
		st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/"+a, tokenOf("viewer-a"), "")
		check("viewer "+a, st, body, 403)
	}
	// operator: cannot approve.
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/approve", tokenOf("op-a"), "")
	check("operator approves", st, body, 403)
	// The creator cannot approve its own campaign; another approver can.
	st, body = create("opappr-a", "c2", "team-a")
	check("operator+approver creates", st, body, 201)
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c2/approve", tokenOf("opappr-a"), "")
	check("creator approves its own campaign", st, body, 403)
	if !strings.Contains(body, "self_approval") {
		t.Errorf("self-approval refused with %s, want code self_approval", body)
	}
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c2/approve", tokenOf("appr-a"), "")
	check("another approver approves", st, body, 200)
	// ...unless the token file allows it.
	st, body = create("self-a", "c3", "team-a")
	check("self_approve token creates", st, body, 201)
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c3/approve", tokenOf("self-a"), "")
	check("self_approve token approves its own campaign", st, body, 200)

	// team B: team A's campaign does not exist for it.
	for _, p := range []string{"/v1/campaigns/c1", "/v1/campaigns/c1/report", "/v1/campaigns/c1/events"} {
		st, body = apiCall(t, addr, "GET", p, tokenOf("op-b"), "")
		check("team B GET "+p, st, body, 404)
	}
	for _, a := range []string{"pause", "resume", "cancel", "retry"} {
		st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/"+a, tokenOf("op-b"), "")
		check("team B "+a, st, body, 404)
	}
	_, missing := apiCall(t, addr, "GET", "/v1/campaigns/no-such", tokenOf("op-b"), "")
	_, hidden := apiCall(t, addr, "GET", "/v1/campaigns/c1", tokenOf("op-b"), "")
	if strings.ReplaceAll(hidden, "c1", "X") != strings.ReplaceAll(missing, "no-such", "X") {
		t.Errorf("team B: hidden campaign answers %s, a missing one %s: want the same", hidden, missing)
	}
	st, body = apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("op-b"), "")
	check("team B lists", st, body, 200)
	if strings.Contains(body, `"c1"`) || strings.Contains(body, "team-a") {
		t.Errorf("team B's list shows team A's campaigns: %s", body)
	}
	st, body = create("op-b", "c4", "team-a")
	check("team B creates for team A", st, body, 403)
	st, body = create("op-a", "c5", "")
	check("team A creates without a team", st, body, 403)
	st, body = create("op-b", "c1", "team-b")
	// Refused as the other refusals of what the token may not do, without
	// "taken" (review finding 13: GET hides c1 from team B).
	check("team B reuses team A's campaign ID", st, body, 403)
	if strings.Contains(body, "team-a") || strings.Contains(body, "taken") || !strings.Contains(body, "campaign_id_unavailable") {
		t.Errorf("team B learns team A's campaign team: %s", body)
	}
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/approve", tokenOf("admin"), "")
	check("all-teams approver approves team A's campaign", st, body, 200)
	// Who appends above the threshold staged the campaign again: it may
	// not approve the append either.
	st, body = apiCall(t, addr, "POST", "/v1/campaigns?campaign_id=c1&team_id=team-a&append=true", tokenOf("opappr-a"), "asset_id\n4\n5\n6\n")
	check("append above the threshold", st, body, 200)
	if !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("append above the threshold: %s, want the campaign pending", body)
	}
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/approve", tokenOf("opappr-a"), "")
	check("appender approves its append", st, body, 403)
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/approve", tokenOf("appr-a"), "")
	check("another approver approves the append", st, body, 200)
	if out, errs, code := e.run("status", "c4"); code == 0 || !strings.Contains(errs, "not found") {
		t.Errorf("campaign c4 refused but stored: exit %d %s %s", code, out, errs)
	}

	// Revocation: op-a leaves the file, op-c arrives; no restart.
	writeTokenFile(t, tokFile, append([][2]string{{"op-c", `operator|"team-a"`}}, roleTokens[0], roleTokens[2]))
	var took time.Duration
	start := time.Now()
	for {
		st, _ = apiCall(t, addr, "GET", "/v1/campaigns/c1", tokenOf("op-a"), "")
		if st == 401 {
			took = time.Since(start)
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("removed token still answers %d after 20s", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("removed token refused %v after the file changed", took.Round(time.Millisecond))
	st, body = apiCall(t, addr, "POST", "/v1/campaigns/c1/pause", tokenOf("op-c"), "")
	check("added token pauses", st, body, 200)
	st, body = apiCall(t, addr, "GET", "/v1/campaigns/c1", tokenOf("viewer-a"), "")
	check("kept token reads", st, body, 200)

	// A broken file refuses every token of the file (a revocation is never
	// lost to a typo) until it is fixed.
	os.WriteFile(tokFile, []byte("tokens:\n  - name: [oops\n"), 0o600)
	waitFor(20*time.Second, func() bool {
		st, _ = apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("viewer-a"), "")
		return st == 401
	})
	check("kept token while the file is broken", st, "", 401)
	writeTokenFile(t, tokFile, roleTokens[:1])
	waitFor(20*time.Second, func() bool {
		st, _ = apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("viewer-a"), "")
		return st == 200
	})
	check("kept token once the file is fixed", st, "", 200)
	logs := srv.output()
	for _, e := range roleTokens {
		if strings.Contains(logs, tokenOf(e[0])) || strings.Contains(logs, sha(tokenOf(e[0]))) {
			t.Errorf("serve logged the token of %s or its digest", e[0])
		}
	}
	if !strings.Contains(logs, "reload failed") {
		t.Errorf("no log of the failed reload:\n%s", tail(logs, 2000))
	}
}

// TestLegacyTokenList: a plain token list (LABELRESET_API_TOKENS) keeps
// working as before - its token creates, approves its own campaign and
// acts for every team - and serve warns at startup that it should move to
// a token file.
func TestLegacyTokenList(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	addr := freeAddr(t)
	srv := e.start("serve", "--addr", addr, "--confirm-above", "2")
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	for _, team := range []string{"team-a", "team-b", ""} {
		id := "legacy" + team
		st, body := apiCall(t, addr, "POST", "/v1/campaigns?campaign_id="+id+"&team_id="+team, testToken, "asset_id\n1\n2\n3\n")
		if st != 201 {
			t.Fatalf("create for team %q: %d %s", team, st, body)
		}
		st, body = apiCall(t, addr, "POST", "/v1/campaigns/"+id+"/approve", testToken, "")
		if st != 200 {
			t.Errorf("approve own campaign of team %q: %d %s", team, st, body)
		}
	}
	logs := srv.output()
	if !strings.Contains(logs, "plain list") || !strings.Contains(logs, "level=WARN") {
		t.Errorf("no startup warning about the plain token list:\n%s", tail(logs, 2000))
	}
	if strings.Contains(logs, testToken) {
		t.Error("serve logged the token")
	}
}

// cliActor is what the binary records for CLI actions on this machine.
func cliActor(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	name := u.Username
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	return "cli:" + name + "@" + h
}

// TestEventsAuditTrail drives a campaign through create -> approve ->
// pause -> resume -> cancel, mixing API tokens and CLI commands, and reads
// the audit log through GET /v1/campaigns/{id}/events and through
// "labelreset events" (table and --json): who, what, when, from, to.
func TestEventsAuditTrail(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	tokFile := filepath.Join(e.dir, "tokens.yaml")
	writeTokenFile(t, tokFile, [][2]string{{"alice", `operator|"team-a"`}, {"bob", `approver|"team-a"`}})
	addr := freeAddr(t)
	e.start("serve", "--addr", addr, "--tokens-file", tokFile, "--confirm-above", "2")
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	before := time.Now().Add(-time.Second)
	do := func(tok, method, path, body string, want int) {
		t.Helper()
		if st, b := apiCall(t, addr, method, path, tokenOf(tok), body); st != want {
			t.Fatalf("%s %s %s: %d %s, want %d", tok, method, path, st, b, want)
		}
	}
	do("alice", "POST", "/v1/campaigns?campaign_id=audit&team_id=team-a", "asset_id\n1\n2\n3\n", 201)
	do("bob", "POST", "/v1/campaigns/audit/approve", "", 200)
	for _, cmd := range []string{"pause", "resume"} {
		if out, errs, code := e.run(cmd, "audit"); code != 0 {
			t.Fatalf("labelreset %s: exit %d: %s %s", cmd, code, out, errs)
		}
	}
	do("alice", "POST", "/v1/campaigns/audit/cancel", "", 200)
	cli := cliActor(t)
	want := [][4]string{
		{"api:alice", "create", "", "pending"},
		{"api:bob", "approve", "pending", "running"},
		{cli, "pause", "running", "paused"},
		{cli, "resume", "paused", "running"},
		{"api:alice", "cancel", "running", "cancelled"},
	}
	type event struct {
		Time                    time.Time
		Actor, Action, From, To string
	}
	checkEvents := func(src string, evs []event) {
		t.Helper()
		if len(evs) != len(want) {
			t.Fatalf("%s: %d events %+v, want %d", src, len(evs), evs, len(want))
		}
		for i, ev := range evs {
			if got := [4]string{ev.Actor, ev.Action, ev.From, ev.To}; got != want[i] {
				t.Errorf("%s: event %d = %q, want %q", src, i, got, want[i])
			}
			if ev.Time.Before(before) || ev.Time.After(time.Now().Add(time.Second)) || (i > 0 && ev.Time.Before(evs[i-1].Time)) {
				t.Errorf("%s: event %d at %v: want in order, during the test", src, i, ev.Time)
			}
		}
	}

	st, body := apiCall(t, addr, "GET", "/v1/campaigns/audit/events", tokenOf("bob"), "")
	if st != 200 {
		t.Fatalf("GET events: %d %s", st, body)
	}
	var api struct{ Events []event }
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatalf("GET events: %v: %s", err, body)
	}
	checkEvents("API", api.Events)

	out, errs, code := e.run("events", "audit", "--json")
	if code != 0 {
		t.Fatalf("labelreset events --json: exit %d: %s", code, errs)
	}
	var cliOut struct{ Events []event }
	if err := json.Unmarshal([]byte(out), &cliOut); err != nil {
		t.Fatalf("labelreset events --json: %v: %s", err, out)
	}
	checkEvents("CLI --json", cliOut.Events)

	out, errs, code = e.run("events", "audit")
	if code != 0 {
		t.Fatalf("labelreset events: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("labelreset events: %d lines, want a header and %d events:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		f := strings.Fields(lines[i+1])
		from := w[2]
		if from == "" {
			from = "-"
		}
		if len(f) < 5 || f[1] != w[0] || f[2] != w[1] || f[3] != from || f[4] != w[3] {
			t.Errorf("labelreset events line %d = %q, want %v", i+1, lines[i+1], w)
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("labelreset events line %d: time %q: %v", i+1, f[0], err)
		}
	}
}

// TestTokenReloadOnSIGHUP: with polling off (--tokens-reload 0), SIGHUP
// re-reads the token file: a removed token is refused from then on.
func TestTokenReloadOnSIGHUP(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	tokFile := filepath.Join(e.dir, "tokens.yaml")
	writeTokenFile(t, tokFile, roleTokens)
	addr := freeAddr(t)
	srv := e.start("serve", "--addr", addr, "--tokens-file", tokFile, "--tokens-reload", "0")
	waitHTTP(t, "http://"+addr+"/readyz", 200)
	if st, body := apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("op-b"), ""); st != 200 {
		t.Fatalf("op-b before: %d %s", st, body)
	}
	writeTokenFile(t, tokFile, roleTokens[:1])
	srv.cmd.Process.Signal(syscall.SIGHUP)
	st := 0
	took, ok := waitFor(20*time.Second, func() bool {
		st, _ = apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("op-b"), "")
		return st == 401
	})
	if !ok {
		t.Fatalf("removed token answers %d 20s after SIGHUP, want 401", st)
	}
	t.Logf("removed token refused %v after SIGHUP", took.Round(time.Millisecond))
	if st, body := apiCall(t, addr, "GET", "/v1/campaigns", tokenOf("viewer-a"), ""); st != 200 {
		t.Errorf("kept token after SIGHUP: %d %s", st, body)
	}
}
