// The JSON body of a create request, read as a stream so that a large
// asset_ids array is never held as a []any.

package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

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
		case "notify":
			// An array of names; a string is the comma list of the
			// other forms.
			var v any
			if err := dec.Decode(&v); err != nil {
				return s.jsonError(err, key)
			}
			names, err := jsonNotify(v)
			if err != nil {
				return err
			}
			p.notify = names
		case "dry_run", "strict", "append", "snapshot", "reset_unlisted", "express", "select_all":
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
	switch {
	case req.plan != nil && p.query != "":
		return errorf(http.StatusBadRequest, "invalid_parameter", "asset_ids and query are two sources: give one of them")
	case req.plan == nil && p.query == "":
		return errorf(http.StatusUnprocessableEntity, "no_ids", "asset_ids is missing: give the asset IDs as an array of strings or numbers (or a query)")
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

// jsonNotify reads the "notify" value: an array of notifier names (or a
// string, their comma list).
func jsonNotify(v any) ([]string, error) {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_parameter", "field \"notify\": "+format, args...)
	}
	var names []string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		n, err := jobs.ParseNotifyList(v)
		if err != nil {
			return nil, bad("%v", err)
		}
		return n, nil
	case []any:
		if len(v) > jobs.MaxNotifiers {
			return nil, bad("%d notifiers: want at most %d", len(v), jobs.MaxNotifiers)
		}
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, bad("want an array of notifier names (strings)")
			}
			names = append(names, s)
		}
	default:
		return nil, bad("want an array of notifier names")
	}
	if err := jobs.ValidateNotify(names); err != nil {
		return nil, bad("%v", err)
	}
	return names, nil
}
