package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labelreset/labelreset/jobs"
)

// states are the filter choices of the campaigns list.
var states = []jobs.State{jobs.StatePending, jobs.StateRunning, jobs.StatePaused, jobs.StateBlocked,
	jobs.StateStopped, jobs.StateCancelled, jobs.StateDone}

type listData struct {
	Campaigns []*campaignView
	State     string
	Q         string
	States    []jobs.State
	// Next is the cursor of the next page; Prev is true past the first.
	Next string
	Prev bool
}

const listPageSize = 50

// list is the campaigns list: newest first, filtered by state and by a
// campaign ID or its prefix, paged by cursor. It reads the stored counters
// of one page of campaigns, never a ledger.
func (c *Console) list(w http.ResponseWriter, r *http.Request, id *Identity) {
	q := r.URL.Query()
	d := listData{State: q.Get("state"), Q: strings.TrimSpace(q.Get("q")), States: states, Prev: q.Get("after") != ""}
	if d.State != "" && !slices.Contains(states, jobs.State(d.State)) {
		c.renderError(w, r, id, http.StatusBadRequest, "Unknown state "+d.State+".")
		return
	}
	res, err := c.store.ListPage(r.Context(), jobs.PageQuery{After: q.Get("after"), Limit: listPageSize, IDPrefix: d.Q,
		Keep: func(cp *jobs.Campaign) bool {
			return id.AllowsTeam(cp.TeamID) && (d.State == "" || string(cp.State) == d.State)
		}})
	if errors.Is(err, jobs.ErrInvalidCursor) {
		c.renderError(w, r, id, http.StatusBadRequest, "That page link is not valid any more: start from the first page.")
		return
	}
	if err != nil {
		c.log.Error("console campaigns list", "err", err)
		c.renderError(w, r, id, http.StatusServiceUnavailable, "The campaigns cannot be read now; try again shortly.")
		return
	}
	for _, cp := range res.Campaigns {
		d.Campaigns = append(d.Campaigns, c.view(cp))
	}
	d.Next = res.Next
	name := "list"
	if q.Get("fragment") != "" {
		name = "list-rows"
	}
	c.render(w, r, http.StatusOK, name, &page{Title: "Campaigns", Who: id, Nav: "campaigns", Data: d})
}
