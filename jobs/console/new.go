package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/labelreset/labelreset/jobs"
)

// newForm is the new-campaign form's values, shown again after a plan or
// a refusal.
type newForm struct {
	Name, CampaignID, Mode, Labels, Team, Priority string
	// Notify is the operator's notifier names, comma-separated, checked
	// by the API against its notifiers file.
	Notify   string
	Snapshot bool
	// IDs are the pasted IDs as typed; IDsDropped is true when they were
	// too long to show again.
	IDs        string
	IDsDropped bool
	// FileName is the file chosen last time: a browser cannot be told to
	// choose it again, the person has to.
	FileName string
}

func (f *newForm) set(name, v string) {
	switch name {
	case "name":
		f.Name = v
	case "campaign_id":
		f.CampaignID = v
	case "mode":
		f.Mode = v
	case "labels":
		f.Labels = v
	case "team_id":
		f.Team = v
	case "priority":
		f.Priority = v
	case "notify":
		f.Notify = v
	}
}

type newData struct {
	Form       newForm
	Teams      []string
	Priorities []jobs.Priority
	Plan       *planView
}

// planView is the API's plan of an upload (its planJSON) and what it says
// about approval and undo.
type planView struct {
	Rows       int64    `json:"rows"`
	Valid      int64    `json:"valid"`
	Duplicates int64    `json:"duplicates"`
	Bad        int64    `json:"bad"`
	BadRows    []string `json:"bad_rows"`
	Batches    int      `json:"batches"`
	IDColumn   string   `json:"id_column"`
	// Snapshot, not the API's undo text: that names the API route, and
	// console users undo on the campaign page.
	Snapshot bool `json:"snapshot"`
	// Set from the answer around the plan.
	ApprovalRequired bool     `json:"-"`
	Warnings         []string `json:"-"`
}

// createAnswer is what the console reads of POST /v1/campaigns' answer,
// a success or an error.
type createAnswer struct {
	Campaign *struct {
		ID    string     `json:"id"`
		State jobs.State `json:"state"`
	} `json:"campaign"`
	Plan             *planView `json:"plan"`
	Created          bool      `json:"created"`
	ApprovalRequired bool      `json:"approval_required"`
	Warnings         []string  `json:"warnings"`
	Error            string    `json:"error"`
	retryAfter       string
}

var priorities = []jobs.Priority{jobs.PriorityHigh, jobs.PriorityNormal, jobs.PriorityLow}

// newPage is the empty form: delete mode, with a snapshot, for the
// token's team when it has exactly one.
func (c *Console) newPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	if !c.mayCreate(w, r, id) {
		return
	}
	f := newForm{Mode: string(jobs.ModeDelete), Snapshot: true}
	if len(id.Teams) == 1 && id.Teams[0] != AllTeams {
		f.Team = id.Teams[0]
	}
	c.renderNew(w, r, id, http.StatusOK, f, nil, "")
}

// newPlan asks the API for a dry run of the form and shows its plan with
// the form again.
func (c *Console) newPlan(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.submitNew(w, r, id, true)
}

// newCreate creates the campaign and goes to its page.
func (c *Console) newCreate(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.submitNew(w, r, id, false)
}

// mayCreate refuses a token without the operator role; the API would
// refuse its create as well, but the form is no use to it.
func (c *Console) mayCreate(w http.ResponseWriter, r *http.Request, id *Identity) bool {
	if id.Operator {
		return true
	}
	c.renderError(w, r, id, http.StatusForbidden, "Only a token with the operator role creates campaigns; yours is "+id.Role()+".")
	return false
}

func (c *Console) submitNew(w http.ResponseWriter, r *http.Request, id *Identity, dryRun bool) {
	if !c.mayCreate(w, r, id) {
		return
	}
	var f newForm
	mr, err := r.MultipartReader()
	if err != nil {
		c.renderNew(w, r, id, http.StatusBadRequest, f, nil, "The form must be sent as multipart/form-data (the console's own form does).")
		return
	}
	ans, status, err := c.createThroughAPI(w, r, id, mr, &f, dryRun)
	var fe *formError
	switch {
	case errors.As(err, &fe):
		c.renderNew(w, r, id, http.StatusBadRequest, f, nil, fe.msg)
		return
	case err != nil:
		c.log.Error("console new campaign", "err", err)
		c.renderNew(w, r, id, http.StatusBadGateway, f, nil, "The server's answer could not be read; see its log.")
		return
	}
	if ans.Plan != nil {
		ans.Plan.ApprovalRequired, ans.Plan.Warnings = ans.ApprovalRequired, ans.Warnings
	}
	if status >= 300 {
		// The API's refusal, in its words; a refused plan (all rows bad)
		// comes with the plan that says why, a busy server with when to
		// try again.
		if ra := ans.retryAfter; ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		msg := ans.Error
		if msg == "" {
			msg = fmt.Sprintf("The server refused the campaign (%d %s).", status, http.StatusText(status))
		}
		c.renderNew(w, r, id, status, f, ans.Plan, msg)
		return
	}
	if dryRun || ans.Campaign == nil {
		c.renderNew(w, r, id, http.StatusOK, f, ans.Plan, "")
		return
	}
	cp := ans.Campaign
	flash := "Campaign " + cp.ID + " created."
	switch {
	case !ans.Created:
		flash = "Campaign " + cp.ID + " already holds these assets: nothing new was created."
	case cp.State == jobs.StatePending:
		flash = "Campaign " + cp.ID + " created, waiting for approval."
	}
	http.Redirect(w, r, c.flashURL(r, "/ui/campaigns/"+url.PathEscape(cp.ID), flash), http.StatusSeeOther)
}

// createThroughAPI sends the form to POST /v1/campaigns as id, streaming
// the file (or the pasted IDs) through a pipe, and returns the API's
// answer and status. A *formError is the console's own refusal.
func (c *Console) createThroughAPI(w http.ResponseWriter, r *http.Request, id *Identity, mr *multipart.Reader,
	f *newForm, dryRun bool) (*createAnswer, int, error) {
	pr, pw := io.Pipe()
	out := &trackWriter{w: pw}
	mw := multipart.NewWriter(out)
	done := make(chan error, 1)
	go func() {
		err := forward(mr, mw, out, f)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	target := "/v1/campaigns"
	if dryRun {
		target += "?dry_run=true"
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, pr)
	if err != nil {
		pr.Close()
		<-done
		return nil, 0, fmt.Errorf("build the create request: %w", err)
	}
	req.ContentLength = -1
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rep := newAPIReply(w)
	c.backend.ServeAs(id, rep, req)
	// The API may answer before it read the whole body (a busy server, a
	// body over its limit): stop the copy.
	pr.CloseWithError(errors.New("the API has answered"))
	var fe *formError
	if ferr := <-done; errors.As(ferr, &fe) {
		return nil, 0, fe
	}
	var ans createAnswer
	if err := json.Unmarshal(rep.body.Bytes(), &ans); err != nil {
		return nil, 0, fmt.Errorf("read the answer of POST /v1/campaigns (%d): %w", rep.status, err)
	}
	ans.retryAfter = rep.header.Get("Retry-After")
	return &ans, rep.status, nil
}

func (c *Console) renderNew(w http.ResponseWriter, r *http.Request, id *Identity, status int, f newForm, plan *planView, msg string) {
	if f.Mode == "" {
		f.Mode = string(jobs.ModeDelete)
	}
	d := newData{Form: f, Priorities: priorities, Plan: plan}
	for _, t := range id.Teams {
		if t != AllTeams {
			d.Teams = append(d.Teams, t)
		}
	}
	c.render(w, r, status, "new", &page{Title: "New campaign", Who: id, Nav: "new", Error: msg, Data: d})
}
