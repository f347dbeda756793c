package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus metrics. Route labels are mux patterns
// (or "unmatched"), never raw paths, so their set is fixed.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	created  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_http_requests_total",
			Help: "HTTP requests of the trigger API by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "labelreset_http_request_duration_seconds",
			Help:    "Duration of trigger API requests by route pattern, uploads included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"route"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labelreset_campaigns_created_total",
			Help: "Campaigns created through the trigger API by input format (csv: CSV body or multipart file; json; undo: restore campaigns).",
		}, []string{"source"}),
	}
	m.created.WithLabelValues("csv")
	m.created.WithLabelValues("json")
	m.created.WithLabelValues("undo")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.created} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return m, nil
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times the requests of one route, gives each a
// request ID, logs it, and turns a panic into a JSON 500.
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, info := withReqInfo(r)
		sw := &statusWriter{ResponseWriter: w}
		id := requestID()
		sw.Header().Set("X-Request-Id", id)
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				s.log.Error("panic serving request", "request_id", id, "route", route, "panic", p)
				if sw.status == 0 {
					s.fail(sw, r, errors.New("panic"))
				}
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
			s.log.Debug("http request", "request_id", id, "route", route, "method", r.Method,
				"path", r.URL.Path, "status", code, "duration", d, "owner", info.owner)
			if p == http.ErrAbortHandler {
				panic(p)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func requestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
