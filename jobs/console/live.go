package console

import (
	"context"
	"net/http"
)

// hub reads each watched campaign once per interval and fans the result
// out to every stream watching it (built on branch h/ui-campaign).
type hub struct{ c *Console }

func newHub(c *Console) *hub { return &hub{c: c} }

func (h *hub) run(ctx context.Context) { <-ctx.Done() }

// live streams a campaign's progress as server-sent events.
func (c *Console) live(w http.ResponseWriter, r *http.Request, id *Identity) {
	c.renderError(w, r, id, http.StatusNotImplemented, "Live updates are not built yet.")
}
