package httpapi

import (
	"net/http"

	"github.com/labelreset/labelreset/jobs"
	"github.com/labelreset/labelreset/jobs/idfile"
)

// findAsset serves GET /v1/assets/{id}: the asset's outcome in every
// campaign that holds it, newest first, among the campaigns of the
// token's teams only (those of other teams are left out, as if they did
// not exist).
func (s *Server) findAsset(w http.ResponseWriter, r *http.Request) {
	id, err := idfile.ParseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "invalid_asset_id", "%v", err))
		return
	}
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, errorf(http.StatusBadRequest, "unknown_parameter", "GET /v1/assets/{id} takes no query parameters"))
		return
	}
	p := principalOf(r.Context())
	hits, err := s.store.FindAsset(r.Context(), id, func(c *jobs.Campaign) bool { return p != nil && p.AllowsTeam(c.TeamID) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if hits == nil {
		hits = []jobs.AssetHit{}
	}
	writeJSON(w, http.StatusOK, assetJSON{AssetID: id, Campaigns: hits})
}

// assetJSON is the answer of GET /v1/assets/{id}.
type assetJSON struct {
	AssetID   int64           `json:"asset_id"`
	Campaigns []jobs.AssetHit `json:"campaigns"`
}
