//go:build redisservers

package main

// Helpers that run real redis-server processes (standalone with AOF,
// cluster nodes, sentinels) on free loopback ports, each with its own --dir
// in t.TempDir(), stopped in t.Cleanup; and the Redis restart and outage
// tests on such a process. Run with -tags redisservers (CI does).

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServerBin is the redis-server binary; the tests fail (not skip)
// without it, since the build tag asks for them.
func redisServerBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("-tags redisservers needs redis-server on PATH: %v", err)
	}
	return p
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServer is one redis-server process that can be stopped and started
// again on the same port and directory.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	args []string // after the config file (or none)
	conf string   // config file, for sentinels
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedisServer starts redis-server on a free port with its own
// directory, AOF on with fsync always, no RDB snapshots, plus extra
// arguments ("--cluster-enabled", "yes", ...).
func startRedisServer(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisServerBin(t), port: freePort(t), dir: t.TempDir()}
	r.args = append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
		"--logfile", filepath.Join(r.dir, "redis.log")}, extra...)
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) URL() string  { return "redis://" + r.Addr() }

// start runs the process and waits until it answers PING.
func (r *redisServer) start() {
	r.t.Helper()
	args := r.args
	if r.conf != "" {
		args = append([]string{r.conf}, args...)
	}
	r.cmd = exec.Command(r.bin, args...)
	var out bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := r.cli("PING"); err == nil {
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("redis-server on %d exited at start: %s\n%s", r.port, out.String(), r.logTail())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %d does not answer PING after 15s\n%s", r.port, r.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *redisServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return tail(string(b), 2000)
}

// cli runs redis-cli against the server.
func (r *redisServer) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.port)}, args...)...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err == nil && (strings.HasPrefix(s, "Could not connect") || strings.HasPrefix(s, "ERR") || s == "") {
		err = fmt.Errorf("%s", s)
	}
	return s, err
}

// Down shuts the server down cleanly (SIGTERM: AOF flushed) and waits for
// the process to end.
func (r *redisServer) Down(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("redis-server on %d still running 20s after SIGTERM", r.port)
	}
}

// Up starts the same binary again on the same port and directory.
func (r *redisServer) Up(t *testing.T) { r.start() }

func (r *redisServer) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	if r.t.Failed() {
		r.t.Logf("redis-server %d log:\n%s", r.port, r.logTail())
	}
}

// startCluster starts n cluster-enabled masters, creates the cluster with
// redis-cli --cluster create and waits until every node reports
// cluster_state:ok.
func startCluster(t *testing.T, n int) []*redisServer {
	t.Helper()
	var nodes []*redisServer
	var addrs []string
	for i := 0; i < n; i++ {
		// The bus port defaults to port+10000, which may not exist or be
		// taken: give it a free port of its own.
		s := startRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(freePort(t)))
		nodes = append(nodes, s)
		addrs = append(addrs, s.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, s := range nodes {
		if _, ok := waitFor(30*time.Second, func() bool {
			out, err := s.cli("CLUSTER", "INFO")
			return err == nil && strings.Contains(out, "cluster_state:ok")
		}); !ok {
			out, _ := s.cli("CLUSTER", "INFO")
			t.Fatalf("cluster node %s not ok after 30s:\n%s", s.Addr(), out)
		}
	}
	return nodes
}

// startSentinel starts one sentinel monitoring master under name, with
// quorum 1, and waits until it knows the master.
func startSentinel(t *testing.T, name string, master *redisServer) *redisServer {
	t.Helper()
	s := &redisServer{t: t, bin: redisServerBin(t), port: freePort(t), dir: t.TempDir()}
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 3000\nsentinel failover-timeout %s 10000\n",
		s.port, s.dir, filepath.Join(s.dir, "redis.log"), name, master.port, name, name)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"--sentinel"}
	s.start()
	t.Cleanup(s.stop)
	if _, ok := waitFor(15*time.Second, func() bool {
		out, err := s.cli("SENTINEL", "get-master-addr-by-name", name)
		return err == nil && strings.Contains(out, strconv.Itoa(master.port))
	}); !ok {
		out, _ := s.cli("SENTINEL", "get-master-addr-by-name", name)
		t.Fatalf("sentinel does not know master %s: %q", name, out)
	}
	return s
}

// TestRedisRestartAOF: a redis-server with AOF (fsync always) is shut down
// mid-campaign (SIGTERM) and started again on the same port and directory
// 4s later; the workers reconnect and the campaign completes.
func TestRedisRestartAOF(t *testing.T) {
	testRedisRestart(t, startRedisServer(t), 4*time.Second)
}

// TestRedisOutage30s: a redis-server is down for 30s mid-campaign.
func TestRedisOutage30s(t *testing.T) {
	testRedisOutage(t, startRedisServer(t), 30*time.Second, 150*time.Second)
}

// TestRedisServerHelper checks the helper itself: data written before a
// restart is there after it (AOF).
func TestRedisServerHelper(t *testing.T) {
	r := startRedisServer(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Down(t)
	r.Up(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q, %v; want the AOF to keep k=v", v, err)
	}
}
