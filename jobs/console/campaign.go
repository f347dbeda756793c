package console

import "net/http"

// campaign is the page of one campaign (built on branch h/ui-campaign).
func (c *Console) campaign(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "The campaign page is not built yet.")
}

// action is a POST of an action form of the campaign page.
func (c *Console) action(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "Actions are not built yet.")
}

// download serves report.csv, failures.csv and snapshot.jsonl.
func (c *Console) download(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "Downloads are not built yet.")
}
