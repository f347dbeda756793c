package console

import "net/http"

// asset is the asset search page (built on branch h/asset).
func (c *Console) asset(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "Asset search is not built yet.")
}
