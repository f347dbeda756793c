package console

import "net/http"

// newPage, newPlan and newCreate make a campaign from an upload or pasted
// IDs (built on branch h/ui-new).
func (c *Console) newPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "New campaigns are not built yet.")
}

func (c *Console) newPlan(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "New campaigns are not built yet.")
}

func (c *Console) newCreate(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "New campaigns are not built yet.")
}
