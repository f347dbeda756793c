package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net"
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

// An upload slot is scarce (two by default), so its holder must keep
// sending: after uploadGrace, a body that has arrived slower than
// uploadMinRate on average is cut with 408. Without this, two clients
// dripping a byte now and then held both slots for the whole 5-minute
// read timeout and every other create got 503. The bound never extends
// the server's ReadTimeout.
const (
	uploadGrace   = 10 * time.Second
	uploadMinRate = 16 << 10 // bytes per second
)

// slowBody enforces the minimum rate on a slot holder's body through the
// connection's read deadline: before each read the deadline moves to
// start + uploadGrace + received/uploadMinRate (never past start +
// readTimeout). A server without deadline support (a test recorder) leaves
// the body unbounded.
type slowBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	received int64
	cut      bool // a read ended at the deadline
}

func newSlowBody(w http.ResponseWriter, r *http.Request, now time.Time) *slowBody {
	return &slowBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: now}
}

func (b *slowBody) Read(p []byte) (int, error) {
	allowed := uploadGrace + time.Duration(float64(b.received)/uploadMinRate*float64(time.Second))
	if b.rc != nil && b.rc.SetReadDeadline(b.start.Add(min(allowed, readTimeout))) != nil {
		b.rc = nil // not supported: fall back to the server's own timeouts
	}
	n, err := b.ReadCloser.Read(p)
	b.received += int64(n)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		b.cut = true
	}
	return n, err
}

// tooSlow is the answer for a body cut by slowBody.
func (b *slowBody) tooSlow() error {
	return errorf(http.StatusRequestTimeout, "upload_too_slow",
		"the body arrived too slowly (%d bytes in %s; an upload must send at least %d KiB/s after the first %s): upload slots are few, send the body at once or split it",
		b.received, time.Since(b.start).Round(time.Second), uploadMinRate>>10, uploadGrace)
}
