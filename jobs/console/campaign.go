package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// campaignData is what the template "campaign" gets.
type campaignData struct {
	V *campaignView
	// Server is the PDCP API server the campaign runs against.
	Server string
	// Limiter is the shared rate limiter's state, nil when not known.
	Limiter *LimiterState
	// Snapshot is the snapshot's progress (nil: none, or not readable:
	// SnapshotErr says which).
	Snapshot    *jobs.SnapshotInfo
	SnapshotErr bool
	// Express is an express campaign's bulk call (nil: not express, or
	// not readable: ExpressErr says which).
	Express    *jobs.ExpressInfo
	ExpressErr bool
	// ExpressDeadline is how long verification may take (the campaign's
	// own, or the default), for the panel before the bulk call is sent.
	ExpressDeadline time.Duration
	// RestoredBy is the restore campaign that undid this one.
	RestoredBy string
	// Events is the audit log, newest first.
	Events []jobs.Event
	Can    buttons
	// RetryOutcomes are the outcomes "retry failed" re-drives: those of
	// retryOutcomes the campaign has.
	RetryOutcomes []string
	Failures      any
}

// buttons are the actions the page offers: those the state allows and
// the role holds. The API decides again when one is used.
type buttons struct {
	Approve, Pause, Resume, Cancel, Retry, Undo bool
}

// Any reports whether the page shows an action.
func (b buttons) Any() bool { return b.Approve || b.Pause || b.Resume || b.Cancel || b.Retry || b.Undo }

// retryOutcomes are what "retry failed" re-drives: the outcomes of assets
// that were not called to the end. not_found and not_in_inventory are
// answers, not failures: retrying them asks PDCP the same question again.
var retryOutcomes = []string{jobs.OutcomeFailed, jobs.OutcomeInvalid, jobs.OutcomeCancelled}

// failureOutcomes are the rows of failures.csv: every outcome but the
// successes (reset, and a restore's restored and unchanged).
var failureOutcomes = []string{jobs.OutcomeNotFound, jobs.OutcomeInvalid, jobs.OutcomeFailed, jobs.OutcomeCancelled,
	jobs.OutcomeNotInInventory}

// visible reads campaign cid for id: jobs.ErrNotFound also for another
// team's campaign, as the API answers.
func (c *Console) visible(ctx context.Context, id *Identity, cid string) (*jobs.Campaign, error) {
	if jobs.ValidateCampaignID(cid) != nil {
		return nil, jobs.ErrNotFound
	}
	cp, err := c.store.Get(ctx, cid)
	if err != nil {
		return nil, err
	}
	if !id.AllowsTeam(cp.TeamID) {
		return nil, jobs.ErrNotFound
	}
	return cp, nil
}

// campaignError answers an error of visible.
func (c *Console) campaignError(w http.ResponseWriter, r *http.Request, id *Identity, err error) {
	if errors.Is(err, jobs.ErrNotFound) || errors.Is(err, jobs.ErrCampaignGone) {
		c.renderError(w, r, id, http.StatusNotFound, "No campaign "+r.PathValue("id")+".")
		return
	}
	c.log.Error("console campaign page", "campaign", r.PathValue("id"), "err", err)
	c.renderError(w, r, id, http.StatusServiceUnavailable, "The campaign cannot be read now; try again shortly.")
}

// campaign is the page of one campaign. It reads the campaign's stored
// counters, its snapshot summary, the limiter and the audit log: never
// the ledger, so it costs the same for ten assets or a million.
func (c *Console) campaign(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderCampaign(w, r, id, http.StatusOK, "")
}

// renderCampaign renders the campaign page with status and an error
// message (a refused action) or none.
func (c *Console) renderCampaign(w http.ResponseWriter, r *http.Request, id *Identity, status int, errMsg string) {
	ctx := r.Context()
	cp, err := c.visible(ctx, id, r.PathValue("id"))
	if err != nil {
		c.campaignError(w, r, id, err)
		return
	}
	d, err := c.campaignData(ctx, r, id, cp)
	if err != nil {
		c.campaignError(w, r, id, err)
		return
	}
	title := cp.ID
	if cp.Name != "" {
		title = cp.Name + " (" + cp.ID + ")"
	}
	c.render(w, r, status, "campaign", &page{Title: title, Who: id, Nav: "campaigns", Error: errMsg, Data: d})
}

func (c *Console) campaignData(ctx context.Context, r *http.Request, id *Identity, cp *jobs.Campaign) (*campaignData, error) {
	d := &campaignData{V: c.view(cp), Server: cp.Server}
	if d.Server == "" {
		d.Server = c.cfg.APIServer
	}
	d.Limiter = c.limiter(ctx, cp)
	if cp.Snapshot {
		info, err := c.store.Snapshot(ctx, cp)
		if err != nil {
			c.log.Warn("console campaign page without its snapshot", "campaign", cp.ID, "err", err)
			d.SnapshotErr = true
		}
		d.Snapshot = info
	}
	if cp.Express {
		x, err := c.store.Express(ctx, cp)
		if err != nil {
			c.log.Warn("console campaign page without its express state", "campaign", cp.ID, "err", err)
			d.ExpressErr = true
		}
		d.Express = x
		d.ExpressDeadline = cp.ExpressDeadline
		if d.ExpressDeadline == 0 {
			d.ExpressDeadline = jobs.DefaultExpressDeadline
		}
	}
	if cp.Mode != jobs.ModeRestore {
		rc, err := c.store.RestoreOf(ctx, cp.ID)
		if err != nil {
			return nil, err
		}
		d.RestoredBy = rc
	}
	evs, err := c.store.Events(ctx, cp.ID)
	if err != nil {
		return nil, err
	}
	slices.Reverse(evs)
	d.Events = evs
	for _, o := range retryOutcomes {
		if cp.Counts[o] > 0 {
			d.RetryOutcomes = append(d.RetryOutcomes, o)
		}
	}
	st := cp.State
	d.Can = buttons{
		Approve: id.Approver && st == jobs.StatePending,
		Pause:   id.Operator && st == jobs.StateRunning,
		Resume:  id.Operator && (st == jobs.StatePaused || st == jobs.StateBlocked || st == jobs.StateStopped),
		Cancel:  id.Operator && !st.Final(),
		// A cancelled campaign stays cancelled (the store re-drives
		// nothing of it), and an undone one is never called again.
		Retry: id.Operator && len(d.RetryOutcomes) > 0 && st != jobs.StatePending && st != jobs.StateCancelled &&
			d.RestoredBy == "",
		// As the API's undo: a campaign of its own snapshot with at least
		// one complete segment, not a restore, not undone already.
		Undo: id.Operator && cp.Mode != jobs.ModeRestore && cp.Snapshot && d.Snapshot != nil &&
			d.Snapshot.SegmentsDone > 0 && d.RestoredBy == "",
	}
	d.Failures = c.failuresData(r, cp)
	return d, nil
}

// limiter reads the limiter's state for cp; nil when not known (no
// limiter configured, another API server, or an error, which is logged).
func (c *Console) limiter(ctx context.Context, cp *jobs.Campaign) *LimiterState {
	if c.cfg.Limiter == nil {
		return nil
	}
	st, err := c.cfg.Limiter(ctx, cp)
	if err != nil {
		c.log.Warn("console: rate limiter state not readable", "campaign", cp.ID, "err", err)
		return nil
	}
	return st
}
