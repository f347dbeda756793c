package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The run's configuration. The fake answers every label call after a short
// latency and fails a fixed share of its assets for good (422: a permanent
// answer, recorded failed at once instead of after minutes of retries); the
// worker's rate keeps a few hundred assets running for seconds, long enough
// to watch them move.
const (
	fakeAssets    = 5000
	fakeLatency   = "20ms"
	fakeFailShare = "0.02"
	workerRate    = "40" // assets/s, shared by every campaign of the run
	batchSize     = "10" // small batches: the counters move in small steps
	confirmAbove  = 1000 // campaigns above it are created pending
)

// stack is everything TestMain starts: the binaries, their processes, the
// tokens of the three roles and the browser.
type stack struct {
	dir       string // temporary: binaries, token file, browser profile
	artifacts string // screenshots and process logs, kept after the run

	redisAddr string
	namespace string

	fakeURL  string
	serveURL string
	tokens   map[string]string // role → token

	mu      sync.Mutex
	procs   []*proc
	tailing map[*testing.T]bool // tests that log the processes' logs when they fail

	browser *browser
}

// env is the run's stack, set by TestMain before any test runs.
var env *stack

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

// runMain starts the stack, runs the tests and stops everything, whatever
// happened: deferred calls do not run under os.Exit.
func runMain(m *testing.M) int {
	s, err := startStack()
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	env = s
	fmt.Printf("e2e: screenshots and logs in %s\n", s.artifacts)
	return m.Run()
}

func startStack() (*stack, error) {
	chrome, err := findBrowser()
	if err != nil {
		return nil, err
	}
	s := &stack{namespace: "e2e" + randHex(6), tokens: map[string]string{}, tailing: map[*testing.T]bool{}}
	if s.dir, err = os.MkdirTemp("", "labelreset-e2e-"); err != nil {
		return nil, err
	}
	if s.artifacts, err = filepath.Abs("artifacts"); err != nil {
		return s, err
	}
	if err := resetArtifacts(s.artifacts); err != nil {
		return s, err
	}
	if s.redisAddr, err = redisAddr(); err != nil {
		return s, err
	}
	for _, name := range []string{"labelreset", "pdcp-fake"} {
		if err := build(name, filepath.Join(s.dir, name)); err != nil {
			return s, err
		}
	}
	if err := s.startFake(); err != nil {
		return s, err
	}
	if err := s.writeTokens(); err != nil {
		return s, err
	}
	if err := s.startServe(); err != nil {
		return s, err
	}
	if _, err := s.start("worker", "worker", "--rate", workerRate, "--concurrency", "8",
		"--metrics-addr", "", "--shutdown-timeout", "5s"); err != nil {
		return s, err
	}
	if s.browser, err = startBrowser(chrome, filepath.Join(s.dir, "chrome-profile"), s.artifacts); err != nil {
		return s, err
	}
	return s, nil
}

// stop ends the browser and the processes (SIGTERM, then SIGKILL after a
// bound) and removes the run's Redis keys and temporary files.
func (s *stack) stop() {
	if s.browser != nil {
		s.browser.stop()
	}
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- { // worker and serve before the fake
		procs[i].stop()
	}
	if s.redisAddr != "" {
		if err := deleteNamespace(s.redisAddr, s.namespace); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: remove the run's Redis keys:", err)
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// findBrowser returns CHROME_PATH, else chromium-headless-shell, else
// chromium on PATH. The tests never skip without one: they fail, saying how
// to install it.
func findBrowser() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CHROME_PATH=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium-headless-shell", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no browser: set CHROME_PATH, or install one with `apt-get install -y chromium-headless-shell`")
}

// resetArtifacts empties the artifacts directory, so that no screenshot of
// an earlier run passes for one of this run.
func resetArtifacts(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// redisAddr is REDIS_ADDR (host:port or a redis:// URL without a password)
// or 127.0.0.1:6379, checked to answer.
func redisAddr() (string, error) {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "redis://"), "/")
	if err := pingRedis(addr); err != nil {
		return "", fmt.Errorf("Redis at %s (REDIS_ADDR) does not answer: %w", addr, err)
	}
	return addr, nil
}

// build builds ./cmd/<name> of the parent module into out.
func build(name, out string) error {
	cmd := exec.Command("go", "build", "-C", "..", "-o", out, "./cmd/"+name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	return nil
}

// procEnv is the environment of every process: the caller's, without any
// labelreset, PDCP or Redis setting that could point a process elsewhere.
func (s *stack) procEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LABELRESET_") || strings.HasPrefix(name, "PDCP_") || name == "REDIS_URL" || name == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+s.dir, // no ~/.pdcp/credentials.yaml of the machine
		"REDIS_URL=redis://"+s.redisAddr,
		"LABELRESET_NAMESPACE="+s.namespace,
		"PDCP_API_KEY=test-key",
		"PDCP_API_SERVER="+s.fakeURL,
	)
}

// startFake starts pdcp-fake on a free port and reads its address from the
// line it prints.
func (s *stack) startFake() error {
	p, err := s.start("pdcp-fake", "", "--addr", "127.0.0.1:0", "--assets", fmt.Sprint(fakeAssets),
		"--latency", fakeLatency, "--fail-fraction", fakeFailShare, "--fail-times", "-1",
		"--fail-status", "422", "--seed", "18", "--no-log")
	if err != nil {
		return err
	}
	select {
	case line := <-p.firstLine:
		_, url, ok := strings.Cut(line, "listening on ")
		if !ok {
			return fmt.Errorf("pdcp-fake said %q, want its address", line)
		}
		s.fakeURL, _, _ = strings.Cut(url, " ")
		return nil
	case <-p.done:
		return fmt.Errorf("pdcp-fake exited: %s", p.tail())
	case <-time.After(30 * time.Second):
		return errors.New("pdcp-fake printed no address in 30s")
	}
}

// writeTokens writes a token file with a viewer, an operator and an
// approver, each with fresh random tokens, readable only by its owner.
func (s *stack) writeTokens() error {
	var b strings.Builder
	b.WriteString("tokens:\n")
	for _, u := range []struct{ name, role string }{{"vera", "viewer"}, {"olivia", "operator"}, {"alex", "approver"}} {
		s.tokens[u.role] = randHex(24)
		fmt.Fprintf(&b, "  - name: %s\n    token: %q\n    roles: [%s]\n    teams: [\"*\"]\n", u.name, s.tokens[u.role], u.role)
	}
	return os.WriteFile(filepath.Join(s.dir, "tokens.yaml"), []byte(b.String()), 0o600)
}

// startServe starts `labelreset serve` on a free loopback port and waits
// until /readyz answers. serve does not print the port it bound, so the
// port is picked first; the rare port taken in between is tried again.
func (s *stack) startServe() error {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p, err := s.start("serve", "serve", "--addr", addr, "--tokens-file", filepath.Join(s.dir, "tokens.yaml"),
			"--batch-size", batchSize, "--confirm-above", fmt.Sprint(confirmAbove),
			"--rate", workerRate) // the workers' rate: the campaign page shows their limiter
		if err != nil {
			return err
		}
		s.serveURL = "http://" + addr
		if last = waitReady(s.serveURL+"/readyz", p, 30*time.Second); last == nil {
			return nil
		}
		p.stop()
	}
	return last
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(url string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after %v: %s", p.name, url, timeout, p.tail())
}

// proc is one child process. Its output goes to artifacts/<name>.log.
type proc struct {
	name      string
	cmd       *exec.Cmd
	log       *os.File
	firstLine chan string   // the first line of its output
	done      chan struct{} // closed when it exited
}

// start starts the binary bin (labelreset when sub is a subcommand) with
// args. The kernel kills it when the thread that started it ends (Pdeathsig),
// and that thread stays until the process exits, so a test binary that dies
// (a panic, a -timeout) takes its children along.
func (s *stack) start(name, sub string, args ...string) (*proc, error) {
	bin := filepath.Join(s.dir, "pdcp-fake")
	if sub != "" {
		bin = filepath.Join(s.dir, "labelreset")
		args = append([]string{sub}, args...)
	}
	log, err := os.Create(filepath.Join(s.artifacts, name+".log"))
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, log: log, firstLine: make(chan string, 1), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = s.procEnv()
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p.cmd.Stdout
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive the child
		if err := p.cmd.Start(); err != nil {
			started <- fmt.Errorf("start %s: %w", name, err)
			return
		}
		started <- nil
		p.copyOutput(out)
		p.cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

func (p *proc) copyOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	first := true
	for sc.Scan() {
		if first {
			p.firstLine <- sc.Text()
			first = false
		}
		fmt.Fprintln(p.log, sc.Text())
	}
}

// stop sends SIGTERM, waits up to 15s for a graceful exit, then kills.
func (p *proc) stop() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// logTails logs the end of every process's log when t failed, once per
// test however many tabs it opened.
func logTails(t *testing.T) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.tailing[t] {
		return
	}
	env.tailing[t] = true
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		env.mu.Lock()
		defer env.mu.Unlock()
		for _, p := range env.procs {
			t.Logf("end of %s's log (%s):\n%s", p.name, p.log.Name(), p.tail())
		}
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testContext is a context that ends shortly before the test binary's
// -timeout would panic, so that a hung step fails its test with a message.
func testContext(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}
