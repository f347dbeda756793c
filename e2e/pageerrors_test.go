package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPageErrorsAreCaught: the listener every test relies on sees an
// inline script refused by the console's Content-Security-Policy, an
// uncaught exception, an unhandled rejection and a console.error; a test
// that missed them would pass on a broken console.
func TestPageErrorsAreCaught(t *testing.T) {
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		switch r.URL.Path {
		case "/page.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `console.error("e2e-console-error");
setTimeout(() => { throw new Error("e2e-uncaught"); }, 0);
Promise.reject(new Error("e2e-rejected"));`)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>errors</title><link rel="icon" href="data:,">
<script>document.title = "inline ran";</script><script src="/page.js"></script><p style="color:red">x</p>`)
		}
	}))
	defer srv.Close()

	tb := newTab(t)
	tb.do("open the page", navigate(srv.URL+"/"))
	want := []string{"Content Security Policy", "e2e-console-error", "e2e-uncaught", "e2e-rejected"}
	deadline := time.Now().Add(stepTimeout)
	var got []string
	for {
		tb.mu.Lock()
		got = append([]string(nil), tb.problems...)
		tb.mu.Unlock()
		missing := 0
		for _, w := range want {
			if !containsAny(got, w) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range want {
		if !containsAny(got, w) {
			t.Errorf("no page error mentions %q; the tab recorded %q", w, got)
		}
	}
	if title := eval[string](tb, "document.title"); title == "inline ran" {
		t.Error("the inline script ran despite the Content-Security-Policy")
	}
	tb.mu.Lock()
	tb.problems = nil // caused on purpose
	tb.mu.Unlock()
}

func containsAny(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
