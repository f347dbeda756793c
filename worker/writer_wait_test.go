package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/redistest"
)

// TestWaitOnTheWriteConnection: WAIT only covers the writes made on its
// own connection, so the ledger writer must send each write and its WAIT
// on one connection. A dialer that logs which pooled connection carries
// which command checks it while other goroutines keep the pool busy, as a
// worker's other Redis traffic does.
func TestWaitOnTheWriteConnection(t *testing.T) {
	env := redistest.New(t)
	ctx := context.Background()
	store := jobs.NewStore(env.Client, jobs.StoreOptions{Namespace: env.Namespace})
	const flushes, perFlush = 40, 25
	def := &jobs.Campaign{ID: "wait", Mode: jobs.ModeDelete, BatchSize: 100, Priority: jobs.PriorityNormal, Policy: jobs.DefaultPolicy()}
	ids := make([]string, flushes*perFlush)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	plan, err := jobs.ReadPlan(def, jobs.IDList("test", ids))
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Submit(ctx, def, plan, jobs.SubmitOptions{Approved: true, ConfirmAbove: -1})
	if err != nil {
		t.Fatal(err)
	}
	inc := res.Campaign.Incarnation

	opt, err := redis.ParseURL(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	var log commandLog
	opt.Dialer = log.dial
	// Fewer connections than users: a connection the writer puts back is
	// taken at once by a waiting user, as on a busy worker.
	opt.PoolSize = 4
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ledger := jobs.NewLedger(rdb, env.Namespace)
	// Load the record script first, so that no NOSCRIPT fallback is logged.
	if _, err := ledger.Record(ctx, "wait", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	log.start()

	w := newWriter(ledger, 64, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(nil), nil, func(string, string) {})
	w.replicas.Store(1) // as watchReplicas does on a master with a replica
	// No replica is attached: each WAIT times out. Keep that short.
	w.waitTimeout = 5 * time.Millisecond
	exited := make(chan struct{})
	go func() { defer close(exited); w.run() }()

	// Other users of the pool.
	busyCtx, stopBusy := context.WithCancel(ctx)
	var busy sync.WaitGroup
	for range 8 {
		busy.Go(func() {
			for busyCtx.Err() == nil {
				rdb.Ping(busyCtx)
			}
		})
	}
	for f := range flushes {
		var done sync.WaitGroup
		done.Add(perFlush)
		for i := range perFlush {
			id := int64(f*perFlush + i + 1)
			w.send(record{campaign: "wait", inc: inc, batch: int(id-1) / 100, done: done.Done,
				rec: jobs.Record{AssetID: id, Outcome: jobs.OutcomeReset, Status: 200, Attempts: 1, FinishedAt: time.Now()}})
		}
		done.Wait()
	}
	stopBusy()
	busy.Wait()
	w.stop(5 * time.Second)
	<-exited

	c, err := store.Get(ctx, "wait")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != jobs.StateDone || c.Finished() != int64(len(ids)) {
		t.Fatalf("campaign %s with %d of %d outcomes, want done with all", c.State, c.Finished(), len(ids))
	}
	writes, bad, first := log.check()
	if writes == 0 {
		t.Fatal("no ledger write was logged")
	}
	if bad > 0 {
		t.Errorf("%d of %d ledger writes were not followed by a WAIT on their own connection (first: %s)", bad, writes, first)
	}
	t.Logf("%d ledger writes, each followed by WAIT on its connection: %d", writes, writes-bad)
}

// commandLog records, in order, which connection carried which command.
type commandLog struct {
	mu     sync.Mutex
	on     bool
	conns  int
	events []connCommand
}

type connCommand struct {
	conn int
	name string
}

func (l *commandLog) start() {
	l.mu.Lock()
	l.on = true
	l.mu.Unlock()
}

func (l *commandLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns++
	id := l.conns
	l.mu.Unlock()
	return &loggedConn{Conn: c, id: id, log: l}, nil
}

// check walks the writer's commands (the record script and WAIT) in
// order: every ledger write must be followed by a WAIT on the same
// connection before the next ledger write.
func (l *commandLog) check() (writes, bad int, first string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pending := -1 // connection of the ledger write not yet covered
	flag := func(what string) {
		bad++
		if first == "" {
			first = what
		}
	}
	for _, e := range l.events {
		switch e.name {
		case "EVALSHA", "EVAL":
			if pending >= 0 {
				flag(fmt.Sprintf("write on connection %d, next write before any WAIT", pending))
			}
			writes++
			pending = e.conn
		case "WAIT":
			if pending < 0 {
				continue // a second WAIT, or one after a NOSCRIPT retry
			}
			if e.conn != pending {
				flag(fmt.Sprintf("write on connection %d, WAIT on connection %d", pending, e.conn))
			}
			pending = -1
		}
	}
	if pending >= 0 {
		flag(fmt.Sprintf("last write on connection %d never followed by WAIT", pending))
	}
	return writes, bad, first
}

// loggedConn parses the RESP requests written to it (a command may span
// several writes) and logs each command's name.
type loggedConn struct {
	net.Conn
	id  int
	log *commandLog
	buf []byte
}

func (c *loggedConn) Write(b []byte) (int, error) {
	c.log.mu.Lock()
	if c.log.on {
		c.buf = append(c.buf, b...)
		for {
			name, n := parseRequest(c.buf)
			if n == 0 {
				break
			}
			c.log.events = append(c.log.events, connCommand{conn: c.id, name: name})
			c.buf = c.buf[n:]
		}
	}
	c.log.mu.Unlock()
	return c.Conn.Write(b)
}

// parseRequest reads one RESP request (an array of bulk strings) from b
// and returns its command name and length, or 0 when b holds no whole
// request yet.
func parseRequest(b []byte) (string, int) {
	line := func(at int) (int, int) { // the integer after a type byte, and where the next line starts
		end := bytes.Index(b[at:], []byte("\r\n"))
		if end < 1 {
			return -1, 0
		}
		v, err := strconv.Atoi(string(b[at+1 : at+end]))
		if err != nil {
			return -1, 0
		}
		return v, at + end + 2
	}
	if len(b) == 0 || b[0] != '*' {
		return "", 0
	}
	n, pos := line(0)
	if n < 1 {
		return "", 0
	}
	var name string
	for i := range n {
		if pos >= len(b) || b[pos] != '$' {
			return "", 0
		}
		size, start := line(pos)
		if size < 0 || start+size+2 > len(b) {
			return "", 0
		}
		if i == 0 {
			name = strings.ToUpper(string(b[start : start+size]))
		}
		pos = start + size + 2
	}
	return name, pos
}
