package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// uploadRetryAfter is the Retry-After of a create refused because
// MaxConcurrentUploads uploads are in progress.
const uploadRetryAfter = 10 * time.Second

// uploadSlots bounds the create requests that hold an upload in memory at
// once. Each may hold up to MaxUploadMemory of IDs, so the bound on the
// server's memory is their product; beyond it a create is refused at once
// (503 with Retry-After) rather than queued, so that a client's retry
// lands on whichever replica has room.
type uploadSlots chan struct{}

func newUploadSlots(n int) uploadSlots { return make(uploadSlots, n) }

// tryAcquire takes a slot if one is free; release gives it back.
func (u uploadSlots) tryAcquire() bool {
	select {
	case u <- struct{}{}:
		return true
	default:
		return false
	}
}

func (u uploadSlots) release() { <-u }

// busy answers a create refused for want of a slot.
func (s *Server) busy(w http.ResponseWriter) {
	s.log.Warn("create refused: too many uploads in progress", "max_concurrent_uploads", cap(s.uploads))
	w.Header().Set("Retry-After", strconv.Itoa(int(uploadRetryAfter/time.Second)))
	writeError(w, errorf(http.StatusServiceUnavailable, "too_many_uploads",
		"%d uploads are in progress, the most this server takes at once (--max-concurrent-uploads): retry after %s",
		cap(s.uploads), fmt.Sprint(uploadRetryAfter)))
}
