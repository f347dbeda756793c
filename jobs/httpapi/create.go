package httpapi

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// createParamNames are the parameters of POST /v1/campaigns, accepted as
// query parameters, multipart form fields or JSON fields.
var createParamNames = []string{"name", "campaign_id", "labels", "mode", "team_id", "priority", "dry_run", "strict", "append"}

const (
	maxBadRowsShown   = 20
	maxFieldBytes     = 64 << 10
	maxIdempotencyKey = 255
	gzipExpansion     = 16 // a gzip body may expand to this many times MaxBodyBytes
)

// createParams are the settings of one create request.
type createParams struct {
	name, campaignID, teamID, priority, mode string
	labels                                   []string
	labelsNull                               bool // JSON "labels": null
	hasLabels                                bool
	dryRun, strict, append                   bool
	seen                                     map[string]string // parameter -> where it was given
}

func newCreateParams() *createParams { return &createParams{seen: map[string]string{}} }

// mark records that key was given in where, refusing a second value.
func (p *createParams) mark(key, where string) error {
	if prev, dup := p.seen[key]; dup {
		if prev == where {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s %q given twice: give it once", where, key)
		}
		return errorf(http.StatusBadRequest, "invalid_parameter", "parameter %q given both as %s and as %s: give it once", key, prev, where)
	}
	p.seen[key] = where
	return nil
}

// set applies a textual parameter value (query string or form field).
func (p *createParams) set(key, val, where string) error {
	if !slices.Contains(createParamNames, key) {
		return errorf(http.StatusBadRequest, "unknown_parameter", "unknown %s %q: want one of %s",
			where, key, joinComma(createParamNames))
	}
	if err := p.mark(key, where); err != nil {
		return err
	}
	switch key {
	case "name":
		p.name = val
	case "campaign_id":
		p.campaignID = val
	case "team_id":
		p.teamID = val
	case "priority":
		p.priority = val
	case "mode":
		p.mode = val
	case "labels":
		p.hasLabels = true
		labels, err := jobs.ParseLabelList(val)
		if err == nil && len(p.labels)+len(labels) > jobs.MaxLabels {
			err = fmt.Errorf("labels: %d labels: %w", len(p.labels)+len(labels), jobs.ErrTooManyLabels)
		}
		if errors.Is(err, jobs.ErrTooManyLabels) {
			return errorf(http.StatusRequestEntityTooLarge, "too_many_labels", "%s %v", where, err)
		}
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid_parameter", "%s %v", where, err)
		}
		p.labels = append(p.labels, labels...)
	default: // booleans
		b := true // a bare "?dry_run" means true
		if val != "" {
			var err error
			if b, err = strconv.ParseBool(val); err != nil {
				return errorf(http.StatusBadRequest, "invalid_parameter", "%s %s=%q: want true or false", where, key, val)
			}
		}
		p.setBool(key, b)
	}
	return nil
}

func (p *createParams) setBool(key string, b bool) {
	switch key {
	case "dry_run":
		p.dryRun = b
	case "strict":
		p.strict = b
	case "append":
		p.append = b
	}
}

func (p *createParams) fromQuery(q url.Values) error {
	for _, k := range sortedKeys(q) {
		for _, v := range q[k] {
			if err := p.set(k, v, "query parameter"); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys(q url.Values) []string {
	ks := make([]string, 0, len(q))
	for k := range q {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// createRequest is a parsed create request.
type createRequest struct {
	params *createParams
	source string // "csv" or "json", the metrics label
	file   string // name of an uploaded file, for the default name
	owner  string
	// principal may create campaigns of the teams it may act for only.
	principal *Principal
	plan      *jobs.Plan
	input     *countingInput
}

// countingInput enforces MaxRows and sums the valid IDs (in an
// order-independent way) for the request fingerprint.
type countingInput struct {
	in   jobs.Input
	max  int64
	rows int64
	sum  uint64
}

var errTooManyRows = errors.New("too many rows")

func (c *countingInput) Next() (idfile.Row, error) {
	row, err := c.in.Next()
	var bad *idfile.BadRow
	if err == nil || errors.As(err, &bad) {
		c.rows++
		if c.rows > c.max {
			return idfile.Row{}, errTooManyRows
		}
		if err == nil {
			c.sum += mix64(uint64(row.ID))
		}
	}
	return row, err
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) {
	idemKey := r.Header.Get("Idempotency-Key")
	if idemKey != "" && !validIdempotencyKey(idemKey) {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_idempotency_key",
			"Idempotency-Key: want 1..%d printable ASCII characters (e.g. a UUID)", maxIdempotencyKey))
		return
	}
	if !s.uploads.tryAcquire() {
		s.busy(w)
		return
	}
	defer s.uploads.release()
	slow := newSlowBody(w, r, time.Now())
	r.Body = slow
	req, def, err := s.readCreate(w, r)
	if err != nil {
		if slow.cut {
			err = slow.tooSlow()
		}
		s.fail(w, r, err)
		return
	}
	if slow.rc != nil {
		// Read: the rest of the request (Submit) is bounded by its own
		// timeouts, not by the body's rate.
		slow.rc.SetReadDeadline(time.Time{})
	}
	p, plan := req.params, req.plan
	confirm := s.cfg.Defaults.ConfirmAbove
	if confirm == 0 {
		confirm = jobs.DefaultConfirmAbove
	}
	pj := newPlanJSON(plan)
	if p.strict && plan.Bad > 0 {
		e := errorf(http.StatusUnprocessableEntity, "strict_bad_rows",
			"strict: %d of %d rows are bad, nothing was created; first: %s", plan.Bad, plan.Rows, firstBad(plan))
		e.plan = pj
		s.fail(w, r, e)
		return
	}
	if plan.Valid == 0 {
		e := errorf(http.StatusUnprocessableEntity, "no_valid_ids",
			"no valid asset IDs: %d rows, all bad; first: %s", plan.Rows, firstBad(plan))
		e.plan = pj
		s.fail(w, r, e)
		return
	}
	needsApproval := confirm > 0 && plan.Valid > confirm
	if p.dryRun {
		writeJSON(w, http.StatusOK, createResponse{DryRun: true, Plan: pj, ApprovalRequired: needsApproval})
		return
	}

	// From here the request has been read: finish the Redis work even if
	// the client hangs up, so that no campaign is left half enqueued.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), submitTimeout)
	defer cancel()
	owner := ownerOf(r.Context())
	var idem *idempotency
	if idemKey != "" {
		if p.campaignID == "" {
			def.ID = idempotentCampaignID(owner, idemKey)
		}
		idem = &idempotency{
			key: jobs.IdempotencyKey(s.store.Namespace(), owner, idemKey),
			rec: idemRecord{Campaign: def.ID, Team: def.TeamID, Request: fingerprint(req)},
		}
		done, err := s.claimIdempotency(ctx, w, idem, pj)
		if err != nil || done {
			if err != nil {
				s.fail(w, r, err)
			}
			return
		}
		idem.stop = s.holdClaim(ctx, idem)
	}
	if _, err := s.visibleCampaign(ctx, def.ID); errors.Is(err, errHidden) {
		// The ID belongs to another team's campaign, which GET hides as
		// "not found": refuse without saying it is taken (see
		// errIDUnavailable).
		if idem != nil {
			idem.release(ctx, s.store.Redis())
		}
		s.fail(w, r, errIDUnavailable(def.ID))
		return
	}
	res, err := s.store.Submit(ctx, def, plan, jobs.SubmitOptions{
		Strict: p.strict, Append: p.append, ConfirmAbove: s.cfg.Defaults.ConfirmAbove,
	})
	if idem != nil {
		idem.stop()
		// Once the campaign exists the key answers with it for the
		// retention; a create that failed before that frees the key.
		if err == nil || (res != nil && res.Created) {
			if res != nil && res.Campaign != nil {
				idem.rec.Incarnation = res.Campaign.Incarnation
			} else {
				idem.rec.Incarnation = def.Incarnation
			}
			if kerr := idem.record(ctx, s.store.Redis(), s.cfg.Defaults.Policy.Retention); kerr != nil {
				s.log.Warn("campaign created, but its Idempotency-Key may lapse early", "campaign", def.ID, "err", kerr)
			}
		} else {
			idem.release(ctx, s.store.Redis())
		}
	}
	if err != nil {
		s.fail(w, r, s.submitError(ctx, def, err))
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		s.metrics.created.WithLabelValues(req.source).Inc()
		w.Header().Set("Location", "/v1/campaigns/"+res.Campaign.ID)
	}
	s.log.Info("campaign submitted", "campaign", res.Campaign.ID, "created", res.Created, "owner", owner,
		"state", res.Campaign.State, "valid", plan.Valid, "bad", plan.Bad, "appended", res.Appended, "enqueued", res.Enqueued)
	pj.New = plan.New
	writeJSON(w, status, createResponse{
		Campaign: newCampaignJSON(res.Campaign), Plan: pj, Created: res.Created,
		Appended: res.Appended, Enqueued: res.Enqueued, ApprovalRequired: res.Campaign.State == jobs.StatePending,
	})
}

// createResponse is the body of a successful POST /v1/campaigns.
type createResponse struct {
	Campaign         *campaignJSON `json:"campaign,omitempty"`
	Plan             *planJSON     `json:"plan,omitempty"`
	DryRun           bool          `json:"dry_run,omitempty"`
	Created          bool          `json:"created"`
	Replayed         bool          `json:"replayed,omitempty"`
	Appended         int64         `json:"appended"`
	Enqueued         int           `json:"enqueued"`
	ApprovalRequired bool          `json:"approval_required"`
}

// planJSON summarises the rows of an upload.
type planJSON struct {
	Rows       int64    `json:"rows"`
	Valid      int64    `json:"valid"`
	Duplicates int64    `json:"duplicates"`
	Bad        int64    `json:"bad"`
	BadRows    []string `json:"bad_rows"`
	New        int64    `json:"new"`
	BatchSize  int      `json:"batch_size"`
	Batches    int      `json:"batches"`
}

func newPlanJSON(p *jobs.Plan) *planJSON {
	bad := p.BadRows
	if len(bad) > maxBadRowsShown {
		bad = bad[:maxBadRowsShown]
	}
	return &planJSON{
		Rows: p.Rows, Valid: p.Valid, Duplicates: p.Duplicates, Bad: p.Bad,
		BadRows: append([]string{}, bad...), New: p.New, BatchSize: p.BatchSize, Batches: p.Batches,
	}
}

func firstBad(p *jobs.Plan) string {
	if len(p.BadRows) == 0 {
		return "(none)"
	}
	return strings.Join(p.BadRows[:min(3, len(p.BadRows))], "; ")
}

// readCreate parses the request into parameters, a definition and a plan.
func (s *Server) readCreate(w http.ResponseWriter, r *http.Request) (*createRequest, *jobs.Campaign, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"missing Content-Type: send text/csv, multipart/form-data (field \"file\") or application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: %v", ct, err)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	req := &createRequest{params: newCreateParams(), source: "csv", owner: ownerOf(r.Context()), principal: principalOf(r.Context())}
	switch mt {
	case "text/csv", "text/plain", "text/tab-separated-values":
		if err := req.params.fromQuery(r.URL.Query()); err != nil {
			return nil, nil, err
		}
		// Refuse bad parameters before reading a large body.
		if _, err := s.buildDef(req); err != nil {
			return nil, nil, err
		}
		req.plan, req.input, err = s.readIDFile(body, "body")
	case "multipart/form-data":
		if err := req.params.fromQuery(r.URL.Query()); err != nil {
			return nil, nil, err
		}
		r.Body = body
		err = s.readMultipart(r, req)
	case "application/json":
		req.source = "json"
		if q := r.URL.Query(); len(q) > 0 {
			return nil, nil, errorf(http.StatusBadRequest, "invalid_parameter",
				"query parameter %q is not used with a JSON body: put it in the JSON object", sortedKeys(q)[0])
		}
		err = s.readJSON(body, req)
	default:
		return nil, nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type %s: send text/csv, multipart/form-data (field \"file\") or application/json", mt)
	}
	if err != nil {
		return nil, nil, err
	}
	def, err := s.buildDef(req)
	if err != nil {
		return nil, nil, err
	}
	return req, def, nil
}

// buildDef turns the parameters into a campaign definition, refusing
// invalid values with messages in API terms.
func (s *Server) buildDef(req *createRequest) (*jobs.Campaign, error) {
	p, d := req.params, s.cfg.Defaults
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_parameter", format, args...)
	}
	if p.campaignID != "" {
		if err := jobs.ValidateCampaignID(p.campaignID); err != nil {
			return nil, errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
		}
	}
	mode := jobs.Mode(p.mode)
	switch mode {
	case "":
		mode = jobs.ModeDelete
		if p.hasLabels {
			mode = jobs.ModeRemove
		}
	case jobs.ModeDelete:
		if p.labelsNull {
			p.hasLabels = false
		}
		if p.hasLabels {
			return nil, bad("labels are only used in mode remove: leave labels out to delete all labels, or set mode=remove")
		}
	case jobs.ModeRemove:
		if !p.hasLabels {
			return nil, bad("mode remove needs labels (e.g. labels=a,b)")
		}
	default:
		return nil, bad("mode %q: want delete or remove", p.mode)
	}
	if p.hasLabels && len(p.labels) == 0 {
		return nil, bad("labels is empty: give the labels to remove (e.g. labels=a,b), or leave labels out to delete all labels")
	}
	prio := d.Priority
	if p.priority != "" {
		var err error
		if prio, err = jobs.ParsePriority(p.priority); err != nil {
			return nil, bad("%v", err)
		}
	}
	if err := jobs.CheckTeamID(p.teamID); err != nil {
		return nil, bad("team_id: %v", err)
	}
	if strings.ContainsFunc(p.name, isControl) {
		return nil, bad("name: control characters are not allowed")
	}
	name := p.name
	if name == "" {
		name = req.file
	}
	now := s.now().UTC()
	id := p.campaignID
	if id == "" {
		// The random suffix keeps concurrent uploads from sharing an ID.
		id = jobs.NewCampaignID(now) + "-" + randomHex(3)
	}
	def := &jobs.Campaign{
		ID: id, Name: name, Mode: mode, Labels: p.labels, TeamID: cmp.Or(p.teamID, d.TeamID),
		Server: d.Server, Source: "api/" + req.source, Priority: prio, BatchSize: d.BatchSize, Policy: d.Policy,
		CreatedAt: now, Owner: req.owner,
	}
	if err := def.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if p := req.principal; p != nil && !p.AllowsTeam(def.TeamID) {
		team := def.TeamID
		if team == "" {
			team = "(none)"
		}
		return nil, errorf(http.StatusForbidden, "forbidden", "token %q may not create campaigns for team %s", p.Name, team)
	}
	return def, nil
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// readIDFile streams an ID file (CSV, TSV, plain, optionally gzip) into a
// plan.
func (s *Server) readIDFile(r io.Reader, name string) (*jobs.Plan, *countingInput, error) {
	src, err := s.decompress(r, name)
	if err != nil {
		return nil, nil, s.readError(err)
	}
	// Blank and comment lines count toward MaxRows (one more for a
	// header): a body of newlines is cut after MaxRows lines, not read to
	// the gzip expansion bound.
	rd := idfile.NewReader(src, name, idfile.Options{MaxLines: int(min(s.cfg.MaxRows+1, math.MaxInt32))})
	in := &countingInput{in: rd, max: s.cfg.MaxRows}
	plan, err := jobs.ReadPlanBudget(&jobs.Campaign{BatchSize: s.cfg.Defaults.BatchSize}, in, s.cfg.MaxUploadMemory)
	if err != nil {
		return nil, nil, s.readError(err)
	}
	return plan, in, nil
}

var errExpandsTooMuch = errors.New("decompressed body too large")

// decompress undoes gzip itself, with a bound on the output, so that a
// small compressed body cannot keep the server busy for long.
func (s *Server) decompress(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if !isGzip(br) {
		return br, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", name, err)
	}
	out := bufio.NewReaderSize(&boundedReader{r: gz, n: gzipExpansion * s.cfg.MaxBodyBytes}, 64<<10)
	if isGzip(out) {
		return nil, errorf(http.StatusBadRequest, "malformed_body", "%s: gzip inside gzip is not supported: compress the file once", name)
	}
	return out, nil
}

func isGzip(br *bufio.Reader) bool {
	m, _ := br.Peek(2)
	return len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b
}

type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errExpandsTooMuch
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// readError maps an error of reading the body to a client error.
func (s *Server) readError(err error) error {
	var ae *apiError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mb):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"request body exceeds %d bytes: split the IDs into several requests (append=true adds them to one campaign)", mb.Limit)
	case errors.Is(err, errExpandsTooMuch):
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large",
			"gzip-compressed body expands to more than %d bytes: split the IDs into several requests", gzipExpansion*s.cfg.MaxBodyBytes)
	case errors.Is(err, errTooManyRows), errors.Is(err, idfile.ErrTooManyLines):
		return errorf(http.StatusRequestEntityTooLarge, "too_many_rows",
			"more than %d rows in one request (blank and comment lines count): split the IDs into several requests (append=true adds them to one campaign)", s.cfg.MaxRows)
	case errors.Is(err, jobs.ErrOverMemoryBudget):
		return errorf(http.StatusRequestEntityTooLarge, "upload_over_memory_budget",
			"the asset IDs of this upload need more than the upload memory budget of %d bytes (--max-upload-memory; scattered IDs cost up to 330 bytes each, consecutive ones almost nothing): split the IDs into several campaigns",
			s.cfg.MaxUploadMemory)
	case errors.Is(err, idfile.ErrNoIDs):
		return errorf(http.StatusUnprocessableEntity, "no_ids", "%v", err)
	}
	return errorf(http.StatusBadRequest, "malformed_body", "%v", err)
}

// readMultipart reads form fields and the "file" part.
func (s *Server) readMultipart(r *http.Request, req *createRequest) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return errorf(http.StatusBadRequest, "malformed_body", "multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e := s.readError(err); e.(*apiError).status != http.StatusBadRequest {
				return e
			}
			return errorf(http.StatusBadRequest, "malformed_body", "malformed multipart body: %v", err)
		}
		name := part.FormName()
		switch {
		case name == "file":
			if req.plan != nil {
				return errorf(http.StatusBadRequest, "malformed_body", "multipart body has more than one \"file\" part: send one file per request")
			}
			req.file = safeFileName(part.FileName())
			display := req.file
			if display == "" {
				display = "file"
			}
			if req.plan, req.input, err = s.readIDFile(part, display); err != nil {
				return err
			}
		case slices.Contains(createParamNames, name):
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return s.readError(err)
			}
			if len(b) > maxFieldBytes {
				return errorf(http.StatusBadRequest, "invalid_parameter", "form field %q is longer than %d bytes", name, maxFieldBytes)
			}
			if err := req.params.set(name, string(b), "form field"); err != nil {
				return err
			}
		default:
			return errorf(http.StatusBadRequest, "unknown_field", "unknown form field %q: want \"file\" or one of %s",
				name, joinComma(createParamNames))
		}
		part.Close()
	}
	if req.plan == nil {
		return errorf(http.StatusBadRequest, "malformed_body", "multipart body has no \"file\" part: send the ID file as form field \"file\"")
	}
	return nil
}

// safeFileName keeps a client's file name printable and short; it only
// labels messages.
func safeFileName(n string) string {
	b := []byte(n)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 64)])
}

// readJSON streams a JSON create body. asset_ids are fed to the plan one
// element at a time, so a large array is never held as a Go slice.
func (s *Server) readJSON(body io.Reader, req *createRequest) error {
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err == io.EOF {
		return errorf(http.StatusBadRequest, "malformed_json", "empty body: want a JSON object")
	}
	if err != nil {
		return s.jsonError(err, "")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errorf(http.StatusBadRequest, "malformed_json", "JSON body must be an object, not %s", describeToken(tok))
	}
	p := req.params
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return s.jsonError(err, "")
		}
		key, _ := tok.(string)
		if key != "asset_ids" && !slices.Contains(createParamNames, key) {
			return errorf(http.StatusBadRequest, "unknown_field", "unknown field %q: want asset_ids or one of %s",
				key, joinComma(createParamNames))
		}
		if err := p.mark(key, "JSON field"); err != nil {
			return err
		}
		switch key {
		case "asset_ids":
			in := &countingInput{in: &jsonIDs{dec: dec}, max: s.cfg.MaxRows}
			plan, err := jobs.ReadPlanBudget(&jobs.Campaign{BatchSize: s.cfg.Defaults.BatchSize}, in, s.cfg.MaxUploadMemory)
			if err != nil {
				return s.jsonError(err, key)
			}
			req.plan, req.input = plan, in
		case "labels":
			// Present, even null: remove mode, never "all labels"
			// (unless mode is delete, which null does not contradict).
			labels, null, err := readJSONLabels(dec)
			if err != nil {
				return s.jsonError(err, key)
			}
			p.hasLabels, p.labelsNull, p.labels = true, null, labels
		case "dry_run", "strict", "append":
			var v bool
			if err := dec.Decode(&v); err != nil {
				return s.jsonError(err, key)
			}
			p.setBool(key, v)
		default:
			var v string
			if err := dec.Decode(&v); err != nil {
				return s.jsonError(err, key)
			}
			delete(p.seen, key) // set marks it again
			if err := p.set(key, v, "JSON field"); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return s.jsonError(err, "")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			if e := s.jsonError(err, ""); e.(*apiError).status != http.StatusBadRequest {
				return e
			}
		}
		return errorf(http.StatusBadRequest, "malformed_json", "unexpected data after the JSON object: send one object")
	}
	if req.plan == nil {
		return errorf(http.StatusUnprocessableEntity, "no_ids", "asset_ids is missing: give the asset IDs as an array of strings or numbers")
	}
	return nil
}

// readJSONLabels reads the "labels" value (an array of strings, or null)
// one element at a time and stops at the first label past
// jobs.MaxLabels or longer than jobs.MaxLabelLen, so that a body of
// millions of labels is refused without holding them. Blank labels are
// dropped.
func readJSONLabels(dec *json.Decoder) (labels []string, null bool, err error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, false, err
	}
	if tok == nil {
		return nil, true, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, false, errorf(http.StatusBadRequest, "malformed_json", "field \"labels\": want an array of strings, got JSON %s", describeToken(tok))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		l, ok := tok.(string)
		if !ok {
			return nil, false, errorf(http.StatusBadRequest, "malformed_json", "field \"labels\": want strings, got JSON %s", describeToken(tok))
		}
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if len(l) > jobs.MaxLabelLen {
			return nil, false, errorf(http.StatusBadRequest, "invalid_parameter", "label %.40q…: %d bytes, want at most %d",
				l, len(l), jobs.MaxLabelLen)
		}
		if len(labels) == jobs.MaxLabels {
			return nil, false, errorf(http.StatusRequestEntityTooLarge, "too_many_labels",
				"field \"labels\": more than %d labels: %v", jobs.MaxLabels, jobs.ErrTooManyLabels)
		}
		labels = append(labels, l)
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return nil, false, err
	}
	return labels, false, nil
}

// jsonError maps a JSON decoding error (of field, if named).
func (s *Server) jsonError(err error, field string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	where := ""
	if field != "" {
		where = " in field " + strconv.Quote(field)
	}
	switch {
	case errors.As(err, new(*apiError)), errors.As(err, new(*http.MaxBytesError)), errors.Is(err, errTooManyRows),
		errors.Is(err, jobs.ErrOverMemoryBudget):
		return s.readError(err)
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "malformed_json", "malformed JSON at byte %d%s: %v", se.Offset, where, err)
	case errors.As(err, &te):
		return errorf(http.StatusBadRequest, "malformed_json", "field %q: want %s, got JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed_json", "malformed JSON: the body ends inside the object%s", where)
	}
	return errorf(http.StatusBadRequest, "malformed_json", "reading JSON body%s: %v", where, err)
}

func jsonKind(k string) string {
	switch k {
	case "bool":
		return "true or false"
	case "slice":
		return "an array of strings"
	}
	return "a " + k
}

func describeToken(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		_ = v
		return "a number"
	}
}

// jsonIDs is a jobs.Input over the JSON array that the decoder is at.
// Elements may be strings or numbers; anything else is a bad row.
type jsonIDs struct {
	dec     *json.Decoder
	started bool
	done    bool
	n       int
}

func (j *jsonIDs) Next() (idfile.Row, error) {
	if j.done {
		return idfile.Row{}, io.EOF
	}
	if !j.started {
		j.started = true
		tok, err := j.dec.Token()
		if err != nil {
			return idfile.Row{}, err
		}
		if tok == nil {
			return idfile.Row{}, errorf(http.StatusUnprocessableEntity, "no_ids", "asset_ids is null: give at least one asset ID")
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return idfile.Row{}, errorf(http.StatusBadRequest, "malformed_json",
				"field \"asset_ids\": want an array of IDs (strings or numbers), got %s", describeToken(tok))
		}
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil {
			return idfile.Row{}, err
		}
		j.done = true
		if j.n == 0 {
			return idfile.Row{}, errorf(http.StatusUnprocessableEntity, "no_ids", "asset_ids is empty: give at least one asset ID")
		}
		return idfile.Row{}, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return idfile.Row{}, err
	}
	j.n++
	val, reason := string(raw), ""
	switch {
	case raw[0] == '"':
		json.Unmarshal(raw, &val)
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
	default:
		reason = "must be a string or a number"
	}
	if reason == "" {
		id, err := idfile.ParseID(val)
		if err == nil {
			return idfile.Row{Line: j.n, ID: id}, nil
		}
		reason = err.Error()
		var ie *idfile.IDError
		if errors.As(err, &ie) {
			reason = ie.Reason
		}
	}
	if len(val) > 256 {
		val = val[:256]
	}
	return idfile.Row{}, &idfile.BadRow{File: "asset_ids", Line: j.n, Value: val, Reason: reason}
}

func validIdempotencyKey(k string) bool {
	if len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < '!' || k[i] > '~' {
			return false
		}
	}
	return true
}

// idempotentCampaignID names the campaign of a request that carries an
// Idempotency-Key but no campaign_id. The ID depends only on the owner and
// the key, so the campaign itself is the idempotency record: a serve that
// stalls past its claim and then creates, and another serve that took
// over the key meanwhile, both submit the same ID, and the second finds
// "exists, same input" (a replay) instead of creating a second campaign
// over the same assets.
func idempotentCampaignID(owner, key string) string {
	return "api-" + sha256hex(owner + "\x00" + key)[:24]
}

func sha256hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// fingerprint identifies what a request asks for, so that an
// Idempotency-Key reused for another request is refused.
func fingerprint(req *createRequest) string {
	p := req.params
	var b bytes.Buffer
	fmt.Fprintf(&b, "%q|%q|%q|%v|%q|%q|%q|%v|%v|%d|%x", p.campaignID, p.name, p.mode, p.hasLabels, p.labels,
		p.teamID, p.priority, p.strict, p.append, req.input.rows, req.input.sum)
	return sha256hex(b.String())
}

// idemRecord is what an Idempotency-Key maps to in Redis: the campaign
// the request created or appended to, by ID, team and incarnation, so
// that a replay never answers with another campaign that took the same ID
// since (another team's, or the same team's created again).
type idemRecord struct {
	Campaign    string `json:"campaign"`
	Team        string `json:"team"`
	Incarnation string `json:"inc,omitempty"` // set once the request succeeded
	Request     string `json:"request"`
}

type idempotency struct {
	key  string
	rec  idemRecord
	val  string
	stop func() // ends holdClaim's renewal
}

// claimIdempotency reserves the key for this request. When another
// request holds it, it answers that request's campaign (done = true).
func (s *Server) claimIdempotency(ctx context.Context, w http.ResponseWriter, idem *idempotency, pj *planJSON) (bool, error) {
	b, _ := json.Marshal(idem.rec)
	idem.val = string(b)
	rdb := s.store.Redis()
	// A short claim: if this process dies before the campaign exists, the
	// key frees itself within IdempotencyClaimTTL instead of answering 409
	// for the whole retention. holdClaim renews it while Submit runs.
	ok, err := rdb.SetNX(ctx, idem.key, idem.val, s.cfg.IdempotencyClaimTTL).Result()
	if err != nil {
		return true, fmt.Errorf("idempotency key: %w", err)
	}
	if ok {
		return false, nil
	}
	v, err := rdb.Get(ctx, idem.key).Result()
	if errors.Is(err, redis.Nil) {
		return true, errorf(http.StatusConflict, "idempotency_in_progress",
			"a request with this Idempotency-Key has just failed or expired: send it again")
	}
	if err != nil {
		return true, fmt.Errorf("idempotency key: %w", err)
	}
	var prev idemRecord
	if err := json.Unmarshal([]byte(v), &prev); err != nil {
		return true, fmt.Errorf("idempotency key: corrupt record: %w", err)
	}
	if prev.Request != idem.rec.Request {
		return true, errorf(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used for a different request (campaign %s): use a new key for a new request", prev.Campaign)
	}
	c, err := s.store.Get(ctx, prev.Campaign)
	if errors.Is(err, jobs.ErrNotFound) && prev.Incarnation == "" {
		return true, errorf(http.StatusConflict, "idempotency_in_progress",
			"the first request with this Idempotency-Key (campaign %s) is still being processed: retry in a moment", prev.Campaign)
	}
	if err == nil && (c.TeamID != prev.Team || prev.Incarnation != "" && c.Incarnation != prev.Incarnation) {
		err = jobs.ErrNotFound // another campaign has the ID now: say nothing of it
	}
	if errors.Is(err, jobs.ErrNotFound) {
		return true, errorf(http.StatusConflict, "idempotency_key_stale",
			"the campaign that this Idempotency-Key's first request made (%s) no longer exists: use a new key", prev.Campaign)
	}
	if err != nil {
		return true, err
	}
	if _, verr := s.visibleCampaign(ctx, c.ID); verr != nil {
		return true, errorf(http.StatusConflict, "idempotency_key_stale",
			"the campaign that this Idempotency-Key's first request made (%s) is not visible to this token: use a new key", prev.Campaign)
	}
	if c.State != jobs.StatePending && !c.State.Final() {
		// Completes a first request that died while enqueueing.
		if _, err := s.store.EnsureEnqueued(ctx, c); err != nil {
			return true, err
		}
	}
	writeJSON(w, http.StatusOK, createResponse{
		Campaign: newCampaignJSON(c), Plan: pj, Replayed: true, ApprovalRequired: c.State == jobs.StatePending,
	})
	return true, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// release frees the key after a failed submit, so that the client may
// send the corrected request with the same key.
func (i *idempotency) release(ctx context.Context, rdb redis.UniversalClient) {
	releaseScript.Run(ctx, rdb, []string{i.key}, i.val)
}

// expireScript sets the key's lifetime if this request still holds it.
var expireScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// keep gives the key the long lifetime once its campaign exists.
func (i *idempotency) keep(ctx context.Context, rdb redis.UniversalClient, ttl time.Duration) error {
	if err := expireScript.Run(ctx, rdb, []string{i.key}, i.val, ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("idempotency key: set lifetime: %w", err)
	}
	return nil
}

// recordScript replaces the claim with the final record (which names the
// campaign's incarnation) and gives it its lifetime, if this request still
// holds the key. KEYS key. ARGV claim value, record, ttl (ms).
var recordScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// record stores i.rec (now with the incarnation) for ttl in place of the
// claim.
func (i *idempotency) record(ctx context.Context, rdb redis.UniversalClient, ttl time.Duration) error {
	b, _ := json.Marshal(i.rec)
	if err := recordScript.Run(ctx, rdb, []string{i.key}, i.val, string(b), ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("idempotency key: record: %w", err)
	}
	i.val = string(b)
	return nil
}

// holdClaim renews the claim while Submit runs (a large campaign takes a
// while to write), so that it outlives IdempotencyClaimTTL only while this
// process is alive. As soon as the campaign exists the key gets the long
// lifetime: a retry after a crash then finds the campaign instead of
// creating a second one. The returned stop ends the renewal and waits for
// it.
func (s *Server) holdClaim(ctx context.Context, idem *idempotency) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	every := min(s.cfg.IdempotencyClaimTTL/4, time.Second)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ttl := s.cfg.IdempotencyClaimTTL
			_, err := s.store.Get(ctx, idem.rec.Campaign)
			created := err == nil
			if created {
				ttl = s.cfg.Defaults.Policy.Retention
			}
			if err := idem.keep(ctx, s.store.Redis(), ttl); err != nil && ctx.Err() == nil {
				s.log.Warn("idempotency key: renewing the claim failed", "campaign", idem.rec.Campaign, "err", err)
			}
			if created {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// submitError maps a Submit error to a client error where it is one.
func (s *Server) submitError(ctx context.Context, def *jobs.Campaign, err error) error {
	switch {
	case errors.Is(err, jobs.ErrInputMismatch):
		msg := fmt.Sprintf("campaign %s already exists with a different input", def.ID)
		if c, gerr := s.store.Get(ctx, def.ID); gerr == nil {
			msg = fmt.Sprintf("campaign %s already exists with %d assets, mode %s and labels [%s], and this request differs",
				def.ID, c.Total, c.Mode, strings.Join(c.Labels, ","))
		}
		return errorf(http.StatusConflict, "campaign_exists",
			"%s: set append=true to add the new IDs (same mode and labels only), or choose another campaign_id", msg)
	case errors.Is(err, jobs.ErrTransition):
		return errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, jobs.ErrDeleting), errors.Is(err, jobs.ErrCampaignGone):
		return errorf(http.StatusConflict, "campaign_deleting",
			"campaign %s is being deleted (or was deleted meanwhile): send the request again in a moment", def.ID)
	case errors.Is(err, jobs.ErrInvalidCampaignID):
		return errorf(http.StatusBadRequest, "invalid_campaign_id", "%v", err)
	case errors.Is(err, jobs.ErrStrict), errors.Is(err, jobs.ErrNoValidIDs):
		return errorf(http.StatusUnprocessableEntity, "no_valid_ids", "%v", err)
	}
	return err
}
