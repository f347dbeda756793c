package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
)

// benchKey is the fake's API key; benchNS the key namespace of the phases.
const (
	benchKey = "test-key"
	benchNS  = "bench"
)

// env is what every phase shares: the built binaries, the fake PDCP
// process and the Redis client.
type env struct {
	cfg   *config
	logf  func(string, ...any)
	dir   string
	lrBin string // labelreset
	fake  *process
	url   string // fake PDCP base URL
	ropts *redis.UniversalOptions
	rdb   *redis.Client
}

func newEnv(ctx context.Context, cfg *config, logf func(string, ...any)) (*env, error) {
	e := &env{cfg: cfg, logf: logf}
	ropts, err := jobs.ParseRedisURL(cfg.redisURL)
	if err != nil {
		return nil, err
	}
	if len(ropts.Addrs) != 1 || ropts.MasterName != "" || ropts.IsClusterMode {
		return nil, errors.New("--redis: want a plain redis:// URL (one server): the bench reads INFO and runs FLUSHDB")
	}
	e.ropts = ropts
	e.rdb = redis.NewClient(&redis.Options{Addr: ropts.Addrs[0], Username: ropts.Username, Password: ropts.Password,
		DB: ropts.DB, TLSConfig: ropts.TLSConfig})
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis %s: %w", jobs.RedactURL(cfg.redisURL), err)
	}
	if !cfg.needsProcesses() {
		return e, nil
	}
	if e.dir, err = os.MkdirTemp("", "labelreset-bench-"); err != nil {
		return nil, err
	}
	logf("building pdcp-fake and labelreset into %s", e.dir)
	fakeBin := filepath.Join(e.dir, "pdcp-fake")
	e.lrBin = filepath.Join(e.dir, "labelreset")
	builds := map[string]string{fakeBin: "github.com/labelreset/labelreset/cmd/pdcp-fake",
		e.lrBin: "github.com/labelreset/labelreset/cmd/labelreset"}
	if cfg.labelresetBin != "" {
		if e.lrBin, err = filepath.Abs(cfg.labelresetBin); err != nil {
			e.close()
			return nil, err
		}
		delete(builds, filepath.Join(e.dir, "labelreset"))
	}
	for bin, pkg := range builds {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			e.close()
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	// The fake seeds every asset of the pipeline campaign, so each call
	// does the real work (clear the labels, answer 200).
	e.fake, err = startProcess(ctx, fakeBin, nil, false, "--no-log", "--assets", strconv.Itoa(cfg.assets), "--addr", "127.0.0.1:0")
	if err != nil {
		e.close()
		return nil, err
	}
	line, err := e.fake.waitLine(regexp.MustCompile(`listening on (http://\S+)`), 30*time.Second)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("pdcp-fake: %w", err)
	}
	e.url = line[1]
	logf("pdcp-fake at %s (pid %d)", e.url, e.fake.cmd.Process.Pid)
	return e, nil
}

func (e *env) close() {
	if e.fake != nil {
		e.fake.stop(5 * time.Second)
	}
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// flush empties the bench's Redis DB (only that DB: others may share the
// server) and returns once the memory figure has settled.
func (e *env) flush(ctx context.Context) error {
	if err := e.rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("FLUSHDB: %w", err)
	}
	return nil
}

// workerEnv is the environment of a labelreset subprocess.
func (e *env) workerEnv() []string {
	return append(os.Environ(), "PDCP_API_KEY="+benchKey, "PDCP_API_SERVER="+e.url, "PDCP_TEAM_ID=",
		"HOME="+e.dir, "REDIS_URL="+e.cfg.redisURL, "LABELRESET_NAMESPACE="+benchNS)
}

// info returns the fields of INFO section as a map.
func (e *env) info(ctx context.Context, section string) (map[string]string, error) {
	s, err := e.rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s: %w", section, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// cmdStats is INFO commandstats: calls per command.
type cmdStats map[string]int64

func (e *env) commandStats(ctx context.Context) (cmdStats, error) {
	m, err := e.info(ctx, "commandstats")
	if err != nil {
		return nil, err
	}
	out := cmdStats{}
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err == nil {
			out[name] = n
		}
	}
	return out, nil
}

// sub returns the per-command growth from old to s.
func (s cmdStats) sub(old cmdStats) cmdStats {
	d := cmdStats{}
	for k, v := range s {
		if n := v - old[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

func (s cmdStats) total() int64 {
	var n int64
	for _, v := range s {
		n += v
	}
	return n
}

// redisCPU returns Redis' user+sys CPU seconds so far.
func (e *env) redisCPU(ctx context.Context) (float64, error) {
	m, err := e.info(ctx, "cpu")
	if err != nil {
		return 0, err
	}
	u, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	return u + s, nil
}

func (e *env) usedMemory(ctx context.Context) (int64, error) {
	m, err := e.info(ctx, "memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(m["used_memory"], 10, 64)
}

// process is a child process whose stderr+stdout lines are scanned.
type process struct {
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	echo  bool
}

func startProcess(ctx context.Context, bin string, envv []string, echo bool, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{}), echo: echo}
	p.cond = sync.NewCond(&p.mu)
	p.cmd.Env = envv
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			if len(p.lines) < 10000 {
				p.lines = append(p.lines, sc.Text())
			}
			p.cond.Broadcast()
			p.mu.Unlock()
			if p.echo {
				fmt.Fprintln(os.Stderr, filepath.Base(bin)+":", sc.Text())
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		p.cmd.Wait()
		w.Close()
		close(p.done)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	return p, nil
}

// waitLine waits for an output line matching re and returns its
// submatches.
func (p *process) waitLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; ; {
		for ; i < len(p.lines); i++ {
			if m := re.FindStringSubmatch(p.lines[i]); m != nil {
				return m, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("exited before printing %q: %s", re, p.tail())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no line matching %q within %v: %s", re, timeout, p.tail())
		}
		p.cond.Wait()
	}
}

func (p *process) tail() string {
	n := max(0, len(p.lines)-5)
	return strings.Join(p.lines[n:], " | ")
}

// stop sends SIGTERM and waits, then kills after timeout.
func (p *process) stop(timeout time.Duration) {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// procStatus returns fields of /proc/<pid>/status in kB (VmHWM, VmRSS).
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procCPU returns a process's user+system CPU seconds (/proc/<pid>/stat).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based), in clock ticks (100/s on Linux).
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, nil
}

// machine describes where the figures were taken.
type machine struct {
	CPUs    int    `json:"nproc"`
	CPU     string `json:"cpu"`
	Go      string `json:"go"`
	Redis   string `json:"redis"`
	Kernel  string `json:"kernel,omitempty"`
	Workers string `json:"-"`
}

func machineInfo(ctx context.Context, e *env) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if info, err := e.info(ctx, "server"); err == nil {
		m.Redis = info["redis_version"]
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// steal is the host-wide steal time (/proc/stat, clock ticks) and the
// total of all CPU times, read together.
type steal struct{ steal, total float64 }

// readSteal reads the first line of /proc/stat; zero when unreadable.
func readSteal() steal {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return steal{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return steal{}
	}
	var s steal
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i < 8 { // user … steal; guest time is already in user
			s.total += x
		}
		if i == 7 {
			s.steal = x
		}
	}
	return s
}

// pctSince is the steal share of all CPU time since s0, in percent.
func (s steal) pctSince(s0 steal) float64 {
	if s.total <= s0.total {
		return 0
	}
	return 100 * (s.steal - s0.steal) / (s.total - s0.total)
}
