package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// Lister lists PDCP assets; *client.Client implements it.
type Lister = jobs.Lister

// Errors of a firing's source.
var (
	// ErrTooLarge: a URL source's body exceeds its max_bytes.
	ErrTooLarge = errors.New("download larger than max_bytes")
	// ErrTooManyAssets: a CSV or URL source holds more than HardMaxAssets
	// distinct IDs.
	ErrTooManyAssets = jobs.ErrTooManyAssets
)

// reading is the outcome of reading a firing's source.
type reading struct {
	plan *jobs.Plan
	// truncated: a query was stopped after MaxAssets+1 distinct assets.
	truncated bool
}

// read reads the schedule's source into a plan for def.
func (s *Scheduler) read(ctx context.Context, sc *Schedule, def *jobs.Campaign) (*reading, error) {
	var in jobs.Input
	var capped *jobs.CapInput
	switch src := sc.Source; {
	case src.CSV != nil:
		r, c, err := idfile.Open(src.CSV.Path, idfile.Options{})
		if err != nil {
			return nil, fmt.Errorf("open ID file: %w", err)
		}
		defer c.Close()
		capped = &jobs.CapInput{In: r, Limit: HardMaxAssets}
		in = capped
	case src.URL != nil:
		dctx, cancel := context.WithTimeout(ctx, src.URL.Timeout)
		defer cancel()
		body, name, err := s.fetch(dctx, src.URL)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("%w (url source timeout %v)", err, src.URL.Timeout)
			}
			return nil, err
		}
		defer body.Close()
		capped = &jobs.CapInput{In: idfile.NewReader(body, name, idfile.Options{}), Limit: HardMaxAssets}
		in = capped
	case src.PDCPQuery != nil:
		lister := s.lister(sc.TeamID)
		if lister == nil {
			return nil, errors.New("no PDCP lister configured for pdcp_query sources")
		}
		var stop func()
		capped, stop = jobs.ListQuery(ctx, lister, src.PDCPQuery.Filter(), src.PDCPQuery.PageSize, sc.MaxAssets, true)
		defer stop()
		in = capped
	default:
		return nil, errors.New("schedule has no source")
	}
	plan, err := jobs.ReadPlan(def, in)
	switch {
	case errors.Is(err, idfile.ErrNoIDs):
		return &reading{plan: &jobs.Plan{}}, nil
	case err != nil && sc.Source.URL != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, fmt.Errorf("%w (url source timeout %v)", err, sc.Source.URL.Timeout)
	case err != nil && sc.Source.PDCPQuery != nil:
		return nil, fmt.Errorf("pdcp_query: %w", err)
	case err != nil:
		return nil, err
	}
	return &reading{plan: plan, truncated: capped.Truncated()}, nil
}

// fetch starts the download of a URL source. name is the URL without its
// query, for messages.
func (s *Scheduler) fetch(ctx context.Context, src *URLSource) (io.ReadCloser, string, error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		return nil, "", fmt.Errorf("source url: %w", err)
	}
	shown := *u
	shown.RawQuery, shown.Fragment, shown.User = "", "", nil
	name := shown.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return nil, name, fmt.Errorf("GET %s: %w", name, err)
	}
	req.Header.Set("User-Agent", "labelreset-scheduler/"+client.Version)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, name, fmt.Errorf("GET %s: %w", name, redactURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, name, fmt.Errorf("GET %s: HTTP %s", name, resp.Status)
	}
	if resp.ContentLength > src.MaxBytes {
		resp.Body.Close()
		return nil, name, fmt.Errorf("GET %s: %w: Content-Length %d > %d bytes", name, ErrTooLarge, resp.ContentLength, src.MaxBytes)
	}
	return &limitedBody{ctx: ctx, rc: resp.Body, left: src.MaxBytes, max: src.MaxBytes}, name, nil
}

// redactURLError drops the URL (which may hold a token) from a client
// error; the caller names the URL without its query.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// limitedBody fails with ErrTooLarge, instead of ending quietly, once more
// than max bytes were read: a truncated ID list must not become a campaign.
//
// It also turns an end of body seen after ctx ended into ctx's error: the
// transport may report a clean EOF for a download cut short by the timeout
// (observed with chunked bodies), and a cut list must not become a campaign.
type limitedBody struct {
	ctx  context.Context
	rc   io.ReadCloser
	left int64
	max  int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), l.err()
	}
	if err == io.EOF && l.ctx.Err() != nil {
		return n, l.ctx.Err()
	}
	return n, err
}

// err is wrapped with the URL by the idfile reader.
func (l *limitedBody) err() error { return fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, l.max) }

func (l *limitedBody) Close() error { return l.rc.Close() }

// checkRedirect refuses redirects that leave https (or loopback http when
// allowed): the scheme rules of the configuration apply to every hop.
func checkRedirect(allowHTTP bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		switch {
		case req.URL.Scheme == "https":
			return nil
		case req.URL.Scheme == "http" && allowHTTP && loopback(req.URL.Hostname()):
			return nil
		}
		return fmt.Errorf("refusing redirect to %s://%s (want https)", req.URL.Scheme, req.URL.Host)
	}
}
