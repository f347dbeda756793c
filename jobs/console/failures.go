package console

import "net/http"

// failures serves the failures table of a campaign as a fragment (built on
// branch h/failures).
func (c *Console) failures(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "The failures table is not built yet.")
}
