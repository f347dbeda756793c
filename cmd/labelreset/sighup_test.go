package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestSIGHUPKeepsLongRunningCommands: a SIGHUP (a closed terminal, or a
// `kill -HUP` sent to every process of a deployment to reload tokens) must
// not stop a long-running command without its graceful shutdown. serve
// reloads its token file on it; serve without a token file, worker,
// scheduler and run go on. Each then still stops cleanly (exit 0) on
// SIGTERM.
func TestSIGHUPKeepsLongRunningCommands(t *testing.T) {
	t.Parallel()
	e := newE2E(t, pdcpfake.Options{Assets: 500, Seed: 3})
	e.env = append(e.env, "LABELRESET_API_TOKENS="+testToken)
	tokFile := filepath.Join(e.dir, "tokens.yaml")
	entry := func(name string) string {
		return "  - name: " + name + "\n    token: " + tokenOf(name) + "\n    roles: [viewer]\n    teams: [\"*\"]\n"
	}
	if err := os.WriteFile(tokFile, []byte("tokens:\n"+entry("keep")+entry("gone")), 0o600); err != nil {
		t.Fatal(err)
	}
	schedules := filepath.Join(e.dir, "schedules.yaml")
	if err := os.WriteFile(schedules, []byte(fmt.Sprintf("schedules:\n  - name: hourly\n    cron: \"@every 1h\"\n    source:\n      csv:\n        path: %s\n",
		e.writeIDs("sched.csv", 1, 10))), 0o600); err != nil {
		t.Fatal(err)
	}
	serveAddr, serveFileAddr, workerAddr, schedAddr, runAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	procs := []struct {
		name, ready string
		p           *proc
	}{
		{"serve", serveAddr, e.start("serve", "--addr", serveAddr)},
		{"serve --tokens-file", serveFileAddr, e.start("serve", "--addr", serveFileAddr, "--tokens-file", tokFile, "--tokens-reload", "0")},
		// In a namespace of its own: it would finish run's campaign at once.
		{"worker", workerAddr, newE2E(t, pdcpfake.Options{Assets: 10}).start("worker", "--metrics-addr", workerAddr, "--shutdown-timeout", "5s")},
		{"scheduler", schedAddr, e.start("scheduler", "--config", schedules, "--metrics-addr", schedAddr)},
		// 200 assets at 2 requests/s: still running when the signals come.
		{"run", runAddr, e.start("run", "--campaign", "hup-run", "--csv", e.writeIDs("run.csv", 1, 200), "--rate", "2",
			"--concurrency", "1", "--metrics-addr", runAddr, "--shutdown-timeout", "5s")},
	}
	for _, pr := range procs {
		waitHTTP(t, "http://"+pr.ready+"/readyz", 200)
	}
	if st, body := apiCall(t, serveFileAddr, "GET", "/v1/campaigns", tokenOf("gone"), ""); st != 200 {
		t.Fatalf("token gone before the reload: %d %s", st, body)
	}
	if err := os.WriteFile(tokFile, []byte("tokens:\n"+entry("keep")), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for _, pr := range procs {
			pr.p.cmd.Process.Signal(syscall.SIGHUP) // one already stopped is reported below
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Generous: a stopped process is seen at once; a live one must still
	// answer after the signals were handled.
	time.Sleep(2 * time.Second)
	for _, pr := range procs {
		select {
		case <-pr.p.done:
			t.Fatalf("%s stopped on SIGHUP: %v\n%s", pr.name, pr.p.cmd.ProcessState, tail(pr.p.output(), 2000))
		default:
		}
		waitHTTP(t, "http://"+pr.ready+"/readyz", 200)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := apiCall(t, serveFileAddr, "GET", "/v1/campaigns", tokenOf("gone"), "")
		if st == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --tokens-file --tokens-reload 0: token removed from the file still answers %d after SIGHUP", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := apiCall(t, serveFileAddr, "GET", "/v1/campaigns", tokenOf("keep"), ""); st != 200 {
		t.Fatalf("token kept after the reload: %d %s", st, body)
	}
	for _, pr := range procs {
		pr.p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, pr := range procs {
		select {
		case <-pr.p.done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not stop within 60s of SIGTERM", pr.name)
		}
		ps := pr.p.cmd.ProcessState
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Errorf("%s after SIGTERM: killed by %v, want its graceful stop\n%s", pr.name, ws.Signal(), tail(pr.p.output(), 2000))
		} else if pr.name != "run" && ps.ExitCode() != 0 {
			// run stops an unfinished campaign with its own exit code.
			t.Errorf("%s after SIGTERM: exit %d, want 0\n%s", pr.name, ps.ExitCode(), tail(pr.p.output(), 2000))
		}
	}
}
