// GET /v1/campaigns/{id}/snapshot: the labels a campaign's assets held
// before it reset anything, as JSON lines.

package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/labelreset/labelreset/jobs"
)

// snapshotReady checks that campaign c has a complete snapshot, with an
// error that says why not: a campaign created with snapshot false, a
// restore campaign, or a snapshot still being taken. Those are conflicts
// with the campaign's state (409), not bad requests: the same request
// succeeds once the snapshot is complete.
func (s *Server) snapshotReady(ctx context.Context, c *jobs.Campaign) error {
	switch {
	case c.Mode == jobs.ModeRestore:
		return errorf(http.StatusConflict, "no_snapshot",
			"campaign %s is a restore campaign: it takes no snapshot (the snapshot it restores is its source's, %s)",
			c.ID, sourceName(c))
	case !c.Snapshot:
		return errorf(http.StatusConflict, "no_snapshot",
			"campaign %s was created with snapshot false: its labels were not recorded, so it has no snapshot and cannot be undone", c.ID)
	}
	info, err := s.store.Snapshot(ctx, c)
	if err != nil {
		return storeError(err)
	}
	if info.SegmentsDone == 0 {
		// Segments appended later whose snapshot is not complete are no
		// reason to refuse: none of their batches ever ran, and undo and
		// export work on the complete segments (jobs.Store.ExportSnapshot).
		return errorf(http.StatusConflict, "snapshot_incomplete",
			"the snapshot of campaign %s is not complete yet (%d of %d segments, %d pages listed, %d of its %d assets found so far): retry when GET /v1/campaigns/%s shows snapshot.complete",
			c.ID, info.SegmentsDone, info.Segments, info.Pages, info.Found, c.Total, c.ID)
	}
	return nil
}

// sourceName names the campaign a restore campaign undoes.
func sourceName(c *jobs.Campaign) string {
	if c.RestoreOf == "" {
		return "a snapshot file"
	}
	return "/v1/campaigns/" + c.RestoreOf + "/snapshot"
}

// snapshot streams the campaign's snapshot: a header line, then one line
// per asset found in the inventory (jobs.Store.ExportSnapshot).
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	id, err := campaignID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(r.URL.Query()) > 0 {
		s.fail(w, r, errorf(http.StatusBadRequest, "unknown_parameter", "snapshot takes no query parameters"))
		return
	}
	c, err := s.visibleCampaign(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.snapshotReady(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="`+id+`.snapshot.jsonl"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	// The status line waits for the first byte, so that an export that
	// fails before writing (the campaign deleted meanwhile) still gets an
	// error status instead of an empty 200.
	lw := &lazyWriter{w: w}
	if _, err := s.store.ExportSnapshot(r.Context(), id, lw); err != nil {
		if !lw.started {
			h.Del("Content-Disposition")
			if errors.Is(err, jobs.ErrNoSnapshot) {
				err = errorf(http.StatusConflict, "no_snapshot", "campaign %s: %v", id, err)
			}
			s.fail(w, r, storeError(err))
			return
		}
		// Too late for an error status: cut the connection so the client
		// sees a truncated transfer rather than a short snapshot, which
		// an undo --snapshot would take for the whole.
		s.log.Error("snapshot export failed midway", "campaign", id, "request_id", w.Header().Get("X-Request-Id"), "err", err)
		panic(http.ErrAbortHandler)
	}
}

// lazyWriter writes the 200 status line with its first byte.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}
