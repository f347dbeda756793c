// The Dispatcher: finds campaigns with outbox entries and delivers them.

package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/client/backoff"
	"github.com/labelreset/labelreset/jobs"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Dispatcher. Every zero value means the default
// noted on the field.
type Options struct {
	// Namespace of the campaigns' keys. Default jobs.DefaultNamespace.
	Namespace string
	// Config names the notifiers this process delivers to (required).
	// An entry naming another notifier waits for a process that knows it.
	Config *Config
	// Registerer gets the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// PollInterval is how often the campaigns are looked at for entries.
	// Default 2s: the delay of a notification after its change.
	PollInterval time.Duration
	// Lease is how long a campaign's outbox stays with one process
	// without a renewal (renewed every Lease/3 while it works): the
	// longest wait before another process takes over from one that
	// died. Default 30s.
	Lease time.Duration
	// Attempts is how often one pass tries a notifier before it leaves
	// the entry for the next pass (which tries again). Default 5.
	Attempts int
	// Backoff spaces the attempts (jittered). Default 500ms doubling to
	// 30s.
	Backoff backoff.Policy
	// Concurrency is how many campaigns are delivered at once. Default 4.
	Concurrency int
	// HTTPClient sends the POSTs. Default: a 10s timeout, TLS verified,
	// no redirect followed (a 3xx is a failed attempt), so the POST goes
	// to the operator's URL and nowhere else.
	HTTPClient *http.Client
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = jobs.DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff.Base <= 0 {
		o.Backoff = backoff.Policy{Base: 500 * time.Millisecond, Cap: 30 * time.Second}
	}
	o.Backoff.Jitter = true
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.HTTPClient == nil {
		o.HTTPClient = NewHTTPClient()
	}
}

// NewHTTPClient returns the default client of Options.HTTPClient.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Dispatcher delivers the outbox entries of every campaign of a
// namespace to the notifiers it knows. Any number of Dispatchers may run
// on one Redis: a per-campaign lease keeps one of them on a campaign.
type Dispatcher struct {
	rdb     redis.UniversalClient
	opts    Options
	byName  map[string]Notifier
	metrics *metrics
	log     *slog.Logger

	mu      sync.Mutex
	unknown map[string]bool // notifier names logged as unknown once
}

// New returns a Dispatcher; Run starts it.
func New(rdb redis.UniversalClient, opts Options) (*Dispatcher, error) {
	if opts.Config == nil {
		return nil, errors.New("notify: no notifiers configured")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	opts.defaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("notify: register metrics: %w", err)
	}
	d := &Dispatcher{rdb: rdb, opts: opts, byName: map[string]Notifier{}, metrics: m,
		log: opts.Logger, unknown: map[string]bool{}}
	for _, n := range opts.Config.Notifiers {
		d.byName[n.Name] = n
	}
	return d, nil
}

// Run delivers until ctx ends, then waits for its goroutines (a POST in
// flight is cancelled with ctx; its entry stays for the next holder of
// the lease) and returns nil. Errors of one pass (Redis unreachable) are
// logged and the next pass tries again.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		if err := d.pass(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("notifications: pass failed", "err", err)
		}
		if err := backoff.Sleep(ctx, d.opts.PollInterval); err != nil {
			return nil
		}
	}
}

// pass delivers the entries of every campaign that has some, up to
// Concurrency campaigns at once, and returns when all are handled.
//
// The campaigns are found by looking at every outbox of the index: the
// entries are written by scripts that run in the campaign's Cluster slot,
// which cannot touch a global "due" set, and a due set written after the
// script would lose an entry to a crash in between. An LLEN per campaign
// in one pipeline every PollInterval is cheap next to that.
func (d *Dispatcher) pass(ctx context.Context) error {
	ids, err := d.due(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(d.opts.Concurrency, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cid := range work {
				if err := d.deliverCampaign(ctx, cid); err != nil && ctx.Err() == nil {
					d.log.Warn("notifications: delivery failed, will retry", "campaign", cid, "err", err)
				}
			}
		}()
	}
	for _, cid := range ids {
		select {
		case work <- cid:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return nil
}

// due returns the campaigns whose outbox holds entries.
func (d *Dispatcher) due(ctx context.Context) ([]string, error) {
	const page = 1000
	var out []string
	for start := int64(0); ; start += page {
		ids, err := d.rdb.ZRange(ctx, jobs.IndexKey(d.opts.Namespace), start, start+page-1).Result()
		if err != nil {
			return out, fmt.Errorf("list campaigns: %w", err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		cmds := make([]*redis.IntCmd, len(ids))
		_, err = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.LLen(ctx, jobs.OutboxKey(d.opts.Namespace, id))
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("look at outboxes: %w", err)
		}
		for i, c := range cmds {
			if c.Val() > 0 {
				out = append(out, ids[i])
			}
		}
		if len(ids) < page {
			return out, nil
		}
	}
}

// deliverCampaign delivers campaign cid's entries in order while it holds
// the campaign's lease. It returns nil when the lease is held elsewhere.
func (d *Dispatcher) deliverCampaign(ctx context.Context, cid string) error {
	ns := d.opts.Namespace
	lease := jobs.NotifyLeaseKey(ns, cid)
	token := newToken()
	ok, err := d.rdb.SetNX(ctx, lease, token, d.opts.Lease).Result()
	if err != nil {
		return fmt.Errorf("take lease: %w", err)
	}
	if !ok {
		return nil
	}
	lctx, cancel := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		d.renew(lctx, cancel, lease, token)
	}()
	defer func() {
		cancel()
		<-renewed
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer rcancel()
		// Released so that another process need not wait out the lease
		// (on shutdown above all); when this fails, the lease expires.
		releaseScript.Run(rctx, d.rdb, []string{lease}, token)
	}()
	outbox, notified := jobs.OutboxKey(ns, cid), jobs.NotifiedKey(ns, cid)
	for {
		// A window of entries, oldest first. Each goes to the notifiers
		// this process knows, in order; an entry that waits for a
		// notifier only another process knows does not hold the later
		// ones back from the known notifiers (whose order is kept: a
		// failed send stops the pass). Entries leave from the head once
		// every notifier has them.
		raws, err := d.rdb.LRange(lctx, outbox, 0, outboxWindow-1).Result()
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(raws) == 0 {
			return nil
		}
		head := true
		for _, raw := range raws {
			done, err := d.deliverEntry(lctx, cid, raw, lease, token, notified)
			if errors.Is(err, errLeaseLost) {
				return nil // its new holder goes on
			}
			if err != nil {
				return err
			}
			if !done || !head {
				head = false
				continue
			}
			n, err := popScript.Run(lctx, d.rdb, []string{lease, outbox, notified}, token, raw).Int()
			if err != nil {
				return fmt.Errorf("remove delivered entry: %w", err)
			}
			if n == 0 {
				return nil // the lease was lost: its new holder goes on
			}
		}
		if !head {
			return nil // the rest waits for a process that knows its notifiers
		}
	}
}

// outboxWindow is how many of a campaign's entries one pass reads at once.
const outboxWindow = 100

// errLeaseLost stops a delivery whose campaign lease went to another
// process: it delivers from there on.
var errLeaseLost = errors.New("notifications: campaign lease lost")

// deliverEntry sends entry raw to each of its notifiers that has not got
// it yet. It returns true when the entry can go (delivered to all, or
// dropped as corrupt or too old), false (and no error) when it must stay
// for a process that knows one of its notifiers (those this process knows
// got it, and are recorded: that process sends to the rest only).
func (d *Dispatcher) deliverEntry(ctx context.Context, cid, raw, lease, token, notified string) (bool, error) {
	e, err := parseEntry(raw)
	if err != nil {
		d.log.Error("notifications: dropping an entry that cannot be read", "campaign", cid, "err", err)
		return true, nil
	}
	if age := time.Since(e.time()); age > e.retention() {
		d.log.Warn("notifications: dropping an entry older than the campaign's retention",
			"campaign", cid, "event", e.Event, "id", e.ID, "age", age.Round(time.Second))
		return true, nil
	}
	names := e.notifiers()
	got, err := d.rdb.HGetAll(ctx, notified).Result()
	if err != nil {
		return false, fmt.Errorf("read deliveries of entry %s: %w", e.ID, err)
	}
	body, err := e.body()
	if err != nil {
		return false, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	missing := false
	for _, name := range names {
		if got[e.ID+":"+name] != "" {
			continue
		}
		if _, ok := d.byName[name]; !ok {
			// Sent by a process that knows it; the others go now.
			d.unknownOnce(name, cid)
			missing = true
			continue
		}
		if err := d.send(ctx, d.byName[name], e, body); err != nil {
			return false, err
		}
		n, err := markScript.Run(ctx, d.rdb, []string{lease, notified}, token, e.ID, name).Int()
		if err != nil {
			return false, fmt.Errorf("record delivery of entry %s to %s: %w", e.ID, name, err)
		}
		if n == 0 {
			return false, errLeaseLost
		}
	}
	return !missing, nil
}

// unknownOnce logs, once per process and name, that an entry waits for
// a notifier this process does not know.
func (d *Dispatcher) unknownOnce(name, cid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unknown[name] {
		return
	}
	d.unknown[name] = true
	d.log.Warn("notifications: a campaign names a notifier this process does not know; its entries wait for a process that does",
		"notifier", name, "campaign", cid)
}

// send POSTs body to n, up to Attempts times with backoff.
func (d *Dispatcher) send(ctx context.Context, n Notifier, e *entry, body []byte) error {
	var err error
	for attempt := 1; attempt <= d.opts.Attempts; attempt++ {
		if err = d.post(ctx, n, e.ID, body); err == nil {
			d.metrics.sent.WithLabelValues(n.Name, e.Event).Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.metrics.failed.WithLabelValues(n.Name).Inc()
		if attempt < d.opts.Attempts {
			if serr := backoff.Sleep(ctx, d.opts.Backoff.Delay(attempt)); serr != nil {
				return serr
			}
		}
	}
	return fmt.Errorf("notifier %s: entry %s: %d attempts: %w", n.Name, e.ID, d.opts.Attempts, err)
}

// post makes one attempt. Its errors name neither the URL (a webhook URL
// often holds a token) nor the secret.
func (d *Dispatcher) post(ctx context.Context, n Notifier, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("cannot build the request (check the notifier's url)")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "labelreset-notify")
	req.Header.Set(SignatureHeader, Sign(n.Secret, body))
	req.Header.Set(DeliveryHeader, id)
	resp, err := d.opts.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// renew keeps the lease while ctx lasts; when the lease is lost it
// cancels the delivery, whose writes (markScript, popScript) check the
// lease anyway.
func (d *Dispatcher) renew(ctx context.Context, cancel context.CancelFunc, lease, token string) {
	every := d.opts.Lease / 3
	for backoff.Sleep(ctx, every) == nil {
		n, err := renewScript.Run(ctx, d.rdb, []string{lease}, token, d.opts.Lease.Milliseconds()).Int()
		if err == nil && n == 0 {
			cancel()
			return
		}
	}
}

func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
