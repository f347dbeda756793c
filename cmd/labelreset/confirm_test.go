//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// openPTY returns a pseudo-terminal's controlling side and its terminal
// side (what a program sees as its terminal), from /dev/ptmx.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ctl.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("TIOCGPTN: %v", e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ctl.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("TIOCSPTLCK: %v", e)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/pts/%d: %v", n, err)
	}
	return ctl, term
}

// submitOnTerminal runs `labelreset submit args` with stdin and stderr on a
// terminal, answers its prompt with answer, and returns the terminal's
// text, stdout and the exit code.
func (e *e2e) submitOnTerminal(answer string, args ...string) (termText, stdout string, code int) {
	e.t.Helper()
	ctl, term := openPTY(e.t)
	defer ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"submit"}, args...)...)
	cmd.Env = e.env
	var out bytes.Buffer
	cmd.Stdin, cmd.Stderr, cmd.Stdout = term, term, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	term.Close() // the child holds it; reads of ctl end when it exits
	var mu sync.Mutex
	var seen strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		answered := false
		for {
			n, err := ctl.Read(buf)
			mu.Lock()
			seen.Write(buf[:n])
			prompt := strings.Contains(seen.String(), "[y/N]")
			mu.Unlock()
			if prompt && !answered {
				answered = true
				io.WriteString(ctl, answer)
			}
			if err != nil {
				return
			}
		}
	}()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("submit on a terminal: %v", err)
	}
	ctl.Close()
	<-read
	mu.Lock()
	defer mu.Unlock()
	return seen.String(), out.String(), code
}

// TestConfirmNoCreatesNothing (issue 15 item 5): answering "n" at submit's
// confirmation prompt writes nothing at all in the namespace, and the
// prompt names the team and the API server the campaign would record.
// "y" still creates it running.
func TestConfirmNoCreatesNothing(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 100})
	args := []string{"--campaign", "asked", "--ids", "1,2,3,4,5", "--confirm-above", "3", "--team-id", "team-7"}
	text, out, code := e.submitOnTerminal("n\n", args...)
	if !strings.Contains(text, "Proceed? [y/N]") {
		t.Fatalf("no prompt on the terminal (exit %d):\n%s\n%s", code, text, out)
	}
	if !strings.Contains(text, "team team-7") || !strings.Contains(text, "API server "+e.fake.URL()) {
		t.Errorf("the prompt does not name team team-7 and API server %s:\n%s", e.fake.URL(), text)
	}
	if code == 0 {
		t.Errorf("declined submit: exit 0, want non-zero\n%s\n%s", text, out)
	}
	if n := e.namespaceKeys(); n > 0 {
		t.Errorf("declined submit wrote %d keys in the namespace", n)
	}
	if _, _, code := e.run("status", "asked"); code == 0 {
		t.Errorf("campaign asked exists after answering n")
	}

	text, out, code = e.submitOnTerminal("y\n", args...)
	if code != 0 {
		t.Fatalf("confirmed submit: exit %d\n%s\n%s", code, text, out)
	}
	if s := e.status("asked"); s.State != "running" || s.TeamID != "team-7" {
		t.Errorf("confirmed campaign: %+v, want running for team-7", s)
	}
}
