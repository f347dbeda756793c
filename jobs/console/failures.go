package console

import (
	"net/http"

	"github.com/labelreset/labelreset/jobs"
)

// failures serves the failures table of a campaign as a fragment (built on
// branch h/failures).
func (c *Console) failures(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "The failures table is not built yet.")
}

// failuresData is what the campaign page's template "failures-section"
// gets: the failures table of cp as r's query asks (outcome, reason,
// asset, after).
func (c *Console) failuresData(r *http.Request, cp *jobs.Campaign) any { return nil }
