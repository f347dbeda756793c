package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// Lister lists PDCP assets; *client.Client implements it.
type Lister interface {
	ListAssets(ctx context.Context, f client.AssetFilter, pageSize int) iter.Seq2[client.Asset, error]
}

var _ Lister = (*client.Client)(nil)

// Errors of a firing's source.
var (
	// ErrTooLarge: a URL source's body exceeds its max_bytes.
	ErrTooLarge = errors.New("download larger than max_bytes")
	// ErrTooManyAssets: a CSV or URL source holds more than HardMaxAssets
	// distinct IDs.
	ErrTooManyAssets = errors.New("source holds more asset IDs than a schedule may read")
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
	var capped *capInput
	switch src := sc.Source; {
	case src.CSV != nil:
		r, c, err := idfile.Open(src.CSV.Path, idfile.Options{})
		if err != nil {
			return nil, fmt.Errorf("open ID file: %w", err)
		}
		defer c.Close()
		capped = &capInput{in: r, limit: HardMaxAssets, seen: jobs.NewIDSet()}
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
		capped = &capInput{in: idfile.NewReader(body, name, idfile.Options{}), limit: HardMaxAssets, seen: jobs.NewIDSet()}
		in = capped
	case src.PDCPQuery != nil:
		lister := s.lister(sc.TeamID)
		if lister == nil {
			return nil, errors.New("no PDCP lister configured for pdcp_query sources")
		}
		next, stop := iter.Pull2(lister.ListAssets(ctx, src.PDCPQuery.Filter(), src.PDCPQuery.PageSize))
		defer stop()
		capped = &capInput{in: &assetInput{next: next}, limit: sc.MaxAssets, seen: jobs.NewIDSet(), stopAtLimit: true,
			maxRepeats: 10 * max(src.PDCPQuery.PageSize, client.DefaultPageSize)}
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
	return &reading{plan: plan, truncated: capped.truncated}, nil
}

// capInput passes rows through until more than limit distinct IDs were
// seen: then it either ends the input (stopAtLimit, after the first ID
// beyond the limit) or fails with ErrTooManyAssets.
type capInput struct {
	in          jobs.Input
	limit       int64
	stopAtLimit bool
	seen        *jobs.IDSet
	n           int64
	truncated   bool
	// maxRepeats > 0 fails the input after that many rows in a row bring
	// no new ID: a listing whose server does not advance (ignores offset,
	// reshuffles each page) would otherwise never end.
	maxRepeats, repeats int
}

func (c *capInput) Next() (idfile.Row, error) {
	if c.truncated {
		return idfile.Row{}, io.EOF
	}
	row, err := c.in.Next()
	if err != nil {
		return row, err
	}
	if !c.seen.Add(row.ID) {
		if c.repeats++; c.maxRepeats > 0 && c.repeats > c.maxRepeats {
			return idfile.Row{}, fmt.Errorf("the listing is not advancing: %d assets in a row were listed before (does the server page by offset?)", c.repeats)
		}
		return row, nil
	}
	c.repeats = 0
	if c.n++; c.n > c.limit {
		if !c.stopAtLimit {
			return idfile.Row{}, fmt.Errorf("%w: more than %d", ErrTooManyAssets, c.limit)
		}
		c.truncated = true
	}
	return row, nil
}

// assetInput adapts a pulled ListAssets sequence to jobs.Input.
type assetInput struct {
	next func() (client.Asset, error, bool)
	n    int
}

func (a *assetInput) Next() (idfile.Row, error) {
	asset, err, ok := a.next()
	switch {
	case !ok:
		return idfile.Row{}, io.EOF
	case err != nil:
		return idfile.Row{}, err
	}
	a.n++
	if asset.ID <= 0 {
		return idfile.Row{}, &idfile.BadRow{File: "pdcp_query", Line: a.n, Value: strconv.FormatInt(asset.ID, 10), Reason: idfile.ReasonNotPositive}
	}
	return idfile.Row{Line: a.n, ID: asset.ID}, nil
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
