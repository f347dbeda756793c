package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// This file holds the campaign page's actions and downloads: each is a
// request to the HTTP API served in process as the signed-in token
// (Backend.ServeAs), so the API's role, team, self-approval and state
// checks decide and its audit log records the token as the actor.

// confirmed are the actions whose form needs the campaign ID typed again.
var confirmed = map[string]bool{"approve": true, "cancel": true, "undo": true}

// action is a POST of an action form of the campaign page: approve,
// pause, resume, cancel, retry or undo.
func (c *Console) action(w http.ResponseWriter, r *http.Request, id *Identity) {
	name, cid := r.PathValue("action"), r.PathValue("id")
	var body string
	switch name {
	case "approve", "pause", "resume", "cancel", "retry", "undo":
	default:
		c.renderError(w, r, id, http.StatusNotFound, "No action "+name+".")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		c.renderCampaign(w, r, id, http.StatusBadRequest, "The form could not be read.")
		return
	}
	// Before anything else: a destructive action needs the ID typed.
	if confirmed[name] && strings.TrimSpace(r.PostForm.Get("confirm")) != cid {
		c.renderCampaign(w, r, id, http.StatusBadRequest,
			"Type the campaign ID "+cid+" to confirm: nothing was done.")
		return
	}
	if name == "retry" {
		// The outcomes the page showed; the API refuses any it does not
		// re-drive.
		var outs []string
		for _, o := range r.PostForm["outcome"] {
			outs = append(outs, strings.Split(o, ",")...)
		}
		if len(outs) == 0 {
			outs = retryOutcomes
		}
		b, _ := json.Marshal(map[string][]string{"outcomes": outs})
		body = string(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
		"/v1/campaigns/"+url.PathEscape(cid)+"/"+name, strings.NewReader(body))
	if err != nil {
		c.renderError(w, r, id, http.StatusBadRequest, "No campaign "+cid+".")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = r.RemoteAddr
	rec := newRecorder()
	c.backend.ServeAs(id, rec, req)
	if rec.status < 200 || rec.status > 299 {
		c.renderCampaign(w, r, id, rec.status, apiMessage(rec))
		return
	}
	var res struct {
		Campaign struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"campaign"`
		Requeued         *int64 `json:"requeued"`
		Note             string `json:"note"`
		Created          bool   `json:"created"`
		ApprovalRequired bool   `json:"approval_required"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &res)
	to, flash := cid, ""
	switch name {
	case "approve":
		flash = "Approved: the campaign is " + res.Campaign.State + "."
	case "pause":
		flash = "Paused."
	case "resume":
		flash = "Resumed: the campaign is " + res.Campaign.State + "."
	case "cancel":
		flash = "Cancelled."
		if res.Note != "" {
			// An express campaign's bulk call was sent: what it changed
			// stays changed, which the person must not read as undone.
			flash = "Cancelled: " + res.Note + "."
		}
	case "retry":
		n := int64(0)
		if res.Requeued != nil {
			n = *res.Requeued
		}
		flash = fmt.Sprintf("Retry: %s assets queued again.", formatCount(n))
	case "undo":
		if res.Campaign.ID != "" {
			to = res.Campaign.ID
		}
		flash = "Undo of " + cid + ": this restore campaign puts its labels back."
		if !res.Created {
			flash = "Campaign " + cid + " was undone already, by this restore campaign."
		}
		if res.ApprovalRequired {
			flash += " It waits for an approver."
		}
	}
	http.Redirect(w, r, c.flashURL(r, "/ui/campaigns/"+url.PathEscape(to), flash), http.StatusSeeOther)
}

// apiMessage is the error message of an API answer, as the API wrote it.
func apiMessage(rec *recorder) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(rec.status)
}

// recorder is the http.ResponseWriter an action's API request writes to:
// the answer is small, and read before the page is written.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (rr *recorder) Header() http.Header { return rr.header }

func (rr *recorder) WriteHeader(status int) {
	if rr.status == 0 {
		rr.status = status
	}
}

func (rr *recorder) Write(b []byte) (int, error) {
	rr.WriteHeader(http.StatusOK)
	if rr.body.Len()+len(b) > 1<<20 {
		return 0, fmt.Errorf("console: API answer over 1 MiB")
	}
	return rr.body.Write(b)
}

// downloads are the files of the campaign page and the API requests
// that serve them (query strings of /v1/campaigns/{id}/...).
var downloads = map[string]string{
	"report.csv":     "report?format=csv",
	"failures.csv":   "report?format=csv&only=" + strings.Join(failureOutcomes, ","),
	"snapshot.jsonl": "snapshot",
}

// download serves report.csv, failures.csv and snapshot.jsonl, streamed
// from the API straight to the response: a million-row report is never
// held in memory.
func (c *Console) download(w http.ResponseWriter, r *http.Request, id *Identity) {
	api, ok := downloads[r.PathValue("download")]
	if !ok {
		c.renderError(w, r, id, http.StatusNotFound, "No page at "+r.URL.Path+".")
		return
	}
	cid := r.PathValue("id")
	if _, err := c.visible(r.Context(), id, cid); err != nil {
		c.campaignError(w, r, id, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/campaigns/"+url.PathEscape(cid)+"/"+api, nil)
	if err != nil {
		c.renderError(w, r, id, http.StatusNotFound, "No campaign "+cid+".")
		return
	}
	req.RemoteAddr = r.RemoteAddr
	dw := &downloadWriter{w: w, header: http.Header{}}
	c.backend.ServeAs(id, dw, req)
	if dw.failed != nil {
		c.renderError(w, r, id, dw.failed.status, apiMessage(dw.failed))
	}
}

// downloadWriter passes a successful API answer through to w as it
// comes, and keeps an error answer back so that the person gets a page
// rather than the API's JSON.
type downloadWriter struct {
	w      http.ResponseWriter
	header http.Header
	wrote  bool
	failed *recorder
}

func (d *downloadWriter) Header() http.Header { return d.header }

func (d *downloadWriter) WriteHeader(status int) {
	if d.wrote || d.failed != nil {
		return
	}
	if status >= 300 {
		d.failed = newRecorder()
		d.failed.status = status
		return
	}
	d.wrote = true
	h := d.w.Header()
	for _, k := range []string{"Content-Type", "Content-Disposition", "X-Content-Type-Options"} {
		if v := d.header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	d.w.WriteHeader(status)
}

func (d *downloadWriter) Write(b []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	if d.failed != nil {
		return d.failed.Write(b)
	}
	return d.w.Write(b)
}

// Flush lets the API flush a long download.
func (d *downloadWriter) Flush() {
	if d.wrote {
		http.NewResponseController(d.w).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (the API
// clears the write deadline of long downloads).
func (d *downloadWriter) Unwrap() http.ResponseWriter { return d.w }
