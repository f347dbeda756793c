package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// assetData is the asset page: the ID searched for (as typed) and the
// campaigns that hold it.
type assetData struct {
	Query   string
	AssetID int64
	Hits    []jobs.AssetHit
}

// asset is the asset search page (GET /ui/assets?id=): the asset's
// outcome in every campaign of the identity's teams that holds it, newest
// first, each linking to its campaign page. It answers what
// GET /v1/assets/{id} answers, read from the store the same way
// (jobs.Store.FindAsset): a few Redis round trips whatever the number of
// campaigns.
func (c *Console) asset(w http.ResponseWriter, r *http.Request, id *Identity) {
	d := &assetData{Query: strings.TrimSpace(r.URL.Query().Get("id"))}
	p := &page{Title: "Find an asset", Who: id, Data: d}
	if d.Query == "" {
		c.render(w, r, http.StatusOK, "asset", p)
		return
	}
	aid, err := idfile.ParseID(d.Query)
	if err != nil {
		p.Error = err.Error() + ": an asset ID is a decimal number such as 1234567890."
		c.render(w, r, http.StatusBadRequest, "asset", p)
		return
	}
	d.AssetID = aid
	p.Title = "Asset " + strconv.FormatInt(aid, 10)
	d.Hits, err = c.store.FindAsset(r.Context(), aid, func(cp *jobs.Campaign) bool { return id.AllowsTeam(cp.TeamID) })
	if err != nil {
		c.log.Error("console asset search", "asset", aid, "err", err)
		c.renderError(w, r, id, http.StatusServiceUnavailable, "The campaigns cannot be searched now; try again shortly.")
		return
	}
	c.render(w, r, http.StatusOK, "asset", p)
}
