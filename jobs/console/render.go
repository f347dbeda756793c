package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var templates = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.tmpl"))

// page is what every template gets: the layout's parts and the page's own
// Data.
type page struct {
	Title string
	Who   *Identity
	// Flash is the message of an action that succeeded, Error of one that
	// did not.
	Flash, Error string
	// Nav marks the header link of the current section.
	Nav  string
	Data any
}

var funcs = template.FuncMap{
	"count":    formatCount,
	"time":     formatTime,
	"since":    func(t time.Time) string { return formatDuration(time.Since(t)) },
	"duration": formatDuration,
	"rate":     formatRate,
	"percent": func(n, total int64) string {
		if total <= 0 {
			return "0%"
		}
		return strconv.FormatFloat(math.Floor(float64(n)*1000/float64(total))/10, 'f', -1, 64) + "%"
	},
}

// formatCount writes n with thousands separators (1,234,567).
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatDuration rounds d for a person: 3h05m, 4m10s, 12s.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func formatRate(r float64) string {
	if r <= 0 {
		return "—"
	}
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
	}
	return formatCount(int64(r+0.5)) + "/s"
}

// render executes template name into a buffer first, so that an error
// never leaves half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if p.Flash == "" {
		p.Flash = c.flashOf(r)
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, p); err != nil {
		c.log.Error("console page", "template", name, "err", err)
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString("<!doctype html><title>Error</title><p>The page could not be rendered; see the server log.")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// renderError answers with the error page (or, for a fragment, the message
// alone).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, id *Identity, status int, msg string) {
	c.render(w, r, status, "error", &page{Title: http.StatusText(status), Who: id, Error: msg})
}

// flashOf is the message a redirect after an action carries (flashURL),
// cut short: it is shown as text, never as HTML, and only with its MAC,
// so that a link made elsewhere cannot put words of its choosing on a
// console page.
func (c *Console) flashOf(r *http.Request) string {
	q := r.URL.Query()
	f := q.Get("flash")
	if f == "" || !hmac.Equal([]byte(q.Get("fm")), []byte(c.flashMAC(r, f))) {
		return ""
	}
	if len(f) > 300 {
		f = f[:300]
	}
	return f
}

// flashURL is the page to, showing msg once the browser gets there.
func (c *Console) flashURL(r *http.Request, to, msg string) string {
	return to + "?flash=" + url.QueryEscape(msg) + "&fm=" + c.flashMAC(r, msg)
}

// flashMAC authenticates msg for r's browser: keyed by its session
// cookie (a secret of that browser, known to every replica), or without
// authentication by a key of this process.
func (c *Console) flashMAC(r *http.Request, msg string) string {
	key := []byte(sessionCookie(r))
	if c.cfg.NoAuth || len(key) == 0 {
		key = c.flashKey
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("labelreset console flash\x00"))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// serveStatic serves the stylesheet and the script. They change only with
// the binary, but a short max-age keeps an upgrade visible.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(staticFS, path.Join("static", name))
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}
