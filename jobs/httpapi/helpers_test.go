package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/client/pdcpfake"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/httpapi"
	"github.com/labelreset/labelreset/jobs/redistest"
	"github.com/labelreset/labelreset/worker"
)

const token = "test-token-0123456789abcdef"

// env is one test's Redis, store, API server and (optionally) fake PDCP.
type env struct {
	t     testing.TB
	redis *redistest.Env
	store *jobs.Store
	srv   *httpapi.Server
	reg   *prometheus.Registry
	fake  *pdcpfake.Server
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, mod func(*httpapi.Config)) *env {
	t.Helper()
	e := &env{t: t, redis: redistest.New(t), reg: prometheus.NewRegistry()}
	e.store = jobs.NewStore(e.redis.Client, jobs.StoreOptions{Namespace: e.redis.Namespace, ControlDelay: 50 * time.Millisecond})
	pol := jobs.DefaultPolicy()
	pol.BackoffBase, pol.BackoffCap = 5*time.Millisecond, 50*time.Millisecond
	cfg := httpapi.Config{
		Store: e.store, Tokens: []string{"another-token-abcdefghijkl", token},
		Defaults:   httpapi.Defaults{Policy: pol, ConfirmAbove: -1},
		Registerer: e.reg, Gatherer: e.reg, Logger: quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := httpapi.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	return e
}

// req is one request to the handler.
type req struct {
	method, path, ctype string
	body                io.Reader
	header              map[string]string
	noAuth              bool
	rawQuery            string // set verbatim after parsing path (fuzzing)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v: %q", r.status, err, r.body)
	}
	return m
}

// errCode returns the code of a JSON error response.
func (r resp) errCode(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	code, _ := m["code"].(string)
	if msg, _ := m["error"].(string); code == "" || msg == "" {
		t.Fatalf("status %d: want an error body with error and code, got %s", r.status, r.body)
	}
	return code
}

func (e *env) newRequest(q req) *http.Request {
	var body io.Reader = http.NoBody
	if q.body != nil {
		body = q.body
	}
	r := httptest.NewRequest(q.method, q.path, body)
	if q.rawQuery != "" {
		r.URL.RawQuery = q.rawQuery
	}
	if q.ctype != "" {
		r.Header.Set("Content-Type", q.ctype)
	}
	if !q.noAuth {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	return r
}

// do serves q; it touches no testing.TB, so fuzz functions may call it.
func (e *env) do(q req) resp {
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, e.newRequest(q))
	return resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func csvBody(lines ...string) io.Reader { return strings.NewReader(strings.Join(lines, "\n") + "\n") }

func idLines(first, n int) []string {
	out := []string{"asset_id"}
	for i := range n {
		out = append(out, strconv.Itoa(first+i))
	}
	return out
}

// keys lists the test namespace's keys (campaign data and asynq queues).
func (e *env) keys() []string {
	e.t.Helper()
	ctx := context.Background()
	var out []string
	for _, pat := range []string{e.redis.Namespace + ":*", "asynq:{" + e.redis.Namespace + "-*"} {
		iter := e.redis.Client.Scan(ctx, 0, pat, 1000).Iterator()
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		if err := iter.Err(); err != nil {
			e.t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

// queueSize is the number of tasks in the namespace's normal queue.
func (e *env) queueSize() int {
	e.t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(e.redis.Client).GetQueueInfo(jobs.Queue(e.redis.Namespace, jobs.PriorityNormal))
	if err != nil {
		return 0 // no queue yet
	}
	return info.Size
}

// queuedTypes counts the tasks waiting in the namespace's normal queue
// by task type.
func (e *env) queuedTypes() map[string]int {
	e.t.Helper()
	tasks, err := asynq.NewInspectorFromRedisClient(e.redis.Client).ListPendingTasks(jobs.Queue(e.redis.Namespace, jobs.PriorityNormal), asynq.PageSize(10000))
	if err != nil {
		return nil // no queue yet
	}
	out := map[string]int{}
	for _, ti := range tasks {
		out[ti.Type]++
	}
	return out
}

// startWorker runs a worker against a fake PDCP seeded with assets
// 1..assets until the test ends; stop ends it earlier.
func (e *env) startWorker(assets int) (stop func()) {
	e.t.Helper()
	return e.startWorkerWith(pdcpfake.Options{Assets: assets})
}

// startWorkerWith is startWorker with a fake PDCP made from opts.
func (e *env) startWorkerWith(opts pdcpfake.Options) (stop func()) {
	e.t.Helper()
	fake := pdcpfake.NewServer(opts)
	e.t.Cleanup(fake.Close)
	return e.startWorkerOn(fake)
}

// startWorkerOn is startWorker against the fake PDCP fake.
func (e *env) startWorkerOn(fake *pdcpfake.Server) (stop func()) {
	e.t.Helper()
	e.fake = fake
	c, err := client.New(client.Config{APIKey: "test-key", Server: e.fake.URL(), MaxConns: 16, Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	ropts, err := jobs.ParseRedisURL(e.redis.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Redis: ropts, Namespace: e.redis.Namespace, Concurrency: 16, Registerer: prometheus.NewRegistry(),
		API:             func(team string) worker.Caller { return c.WithTeam(team) },
		ShutdownTimeout: 5 * time.Second, HoldDelay: 300 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

// waitState polls the API until the campaign reaches state.
func (e *env) waitState(id string, state jobs.State, timeout time.Duration) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		r := e.do(req{method: "GET", path: "/v1/campaigns/" + id})
		if r.status == http.StatusOK {
			last = r.json(e.t)
			if last["state"] == string(state) {
				return last
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("campaign %s did not reach %s within %v: %v", id, state, timeout, last)
	return nil
}
