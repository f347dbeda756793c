package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one browser step (a navigation, a wait for an
// element): long enough for a busy CI host, short enough that a missing
// element fails its test instead of the whole run's -timeout.
const stepTimeout = 30 * time.Second

// browser is the one headless Chromium of the run; each test opens its
// own tab in a browser context of its own (its own cookies).
type browser struct {
	ctx         context.Context // the first tab's: it owns the browser process
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
	log         *os.File
}

// startBrowser starts path with a fresh profile directory; its output goes
// to logDir/chromium.log.
func startBrowser(path, profile, logDir string) (*browser, error) {
	logf, err := os.Create(filepath.Join(logDir, "chromium.log"))
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile), // fresh: under the run's temporary directory
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(logf),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx, cancel: cancel, cancelAlloc: cancelAlloc, log: logf}
	if err := chromedp.Do(ctx); err != nil {
		b.stop()
		return nil, fmt.Errorf("start the browser %s: %w (its output: %s)", path, err, logf.Name())
	}
	return b, nil
}

func (b *browser) stop() {
	b.cancel()
	b.cancelAlloc() // waits for the browser process to exit
	b.log.Close()
}

// tab is one test's page. It records every uncaught exception, console
// error and browser log error (a Content-Security-Policy violation, a
// failed resource load) and fails the test with them when it ends.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	expected []loadError // refusals the test caused on purpose
}

// loadError is a load of url that answered status.
type loadError struct {
	status int
	url    string
}

func newTab(t *testing.T) *tab {
	t.Helper()
	logTails(t)
	tb := &tab{t: t}
	ctx, cancel := chromedp.NewContext(env.browser.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	t.Cleanup(tb.checkProblems) // runs before cancel: cleanups run last-in first-out
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb.ctx = ctx
	return tb
}

// listen runs in the tab's event loop: it only records.
func (tb *tab) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = "uncaught exception: " + d.Text
		if d.Exception != nil {
			p += " " + d.Exception.Description
		}
		p += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		p = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		p = fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, p)
	tb.mu.Unlock()
}

// expectLoadError accepts the browser's log line for a load of the
// console path that answers status: a test that makes a refused request
// on purpose (a bad token, a viewer's POST) expects it.
func (tb *tab) expectLoadError(status int, path string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.expected = append(tb.expected, loadError{status, env.serveURL + path})
}

func (tb *tab) isExpected(p string) bool {
	for _, e := range tb.expected {
		if strings.Contains(p, fmt.Sprintf("status of %d ", e.status)) && strings.HasSuffix(p, " "+e.url) {
			return true
		}
	}
	return false
}

func (tb *tab) checkProblems() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		if !tb.isExpected(p) {
			tb.t.Errorf("page error: %s", p)
		}
	}
}

// step is a context for one browser step.
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// open navigates to path of the console and returns the document's status.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(env.serveURL+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	return resp.Status
}

// show opens path of the console and fails the test at once unless it
// answers 200, instead of waiting for elements a refusal does not have.
func (tb *tab) show(path string) {
	tb.t.Helper()
	if code := tb.open(path); code != 200 {
		tb.t.Fatalf("GET %s: %d, want 200", path, code)
	}
}

// submit clicks the button sel, which submits a form, and waits for the
// page that answers (after any redirect); it returns that page's status.
func (tb *tab) submit(sel string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		if strings.Contains(err.Error(), "ERR_ABORTED") {
			// Another navigation replaced the form's: on the campaign page,
			// the live script reloading on a state change that the post
			// itself caused.
			tb.t.Fatalf("click %s: the form's navigation was aborted by another one (a script's reload?): %v", sel, err)
		}
		tb.t.Fatalf("click %s: %v", sel, err)
	}
	return statusOf(resp)
}

// submitForm submits the form sel (as pressing Enter in it would) and
// waits for the page that answers; it returns that page's status.
func (tb *tab) submitForm(sel string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("submit %s: %v", sel, err)
	}
	return statusOf(resp)
}

func statusOf(r *network.Response) int64 {
	if r == nil {
		return 0
	}
	return r.Status
}

// typeInto types s into the input sel.
func (tb *tab) typeInto(sel, s string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), s))
}

func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of the first element sel, waiting for it to exist.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s on %s: %v", sel, tb.location(), err)
	}
	return strings.TrimSpace(s)
}

// number reads the integer shown by sel ("1,234" and "1 234" read 1234).
func (tb *tab) number(sel string) int64 {
	tb.t.Helper()
	s := tb.text(sel)
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		tb.t.Fatalf("%s shows %q, want a number", sel, s)
	}
	return n
}

// attr is attribute name of the first element sel.
func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		tb.t.Fatalf("attribute %s of %s on %s: %v", name, sel, tb.location(), err)
	}
	if !r.Exists {
		tb.t.Fatalf("%s has no attribute %s on %s", sel, name, tb.location())
	}
	return r.Value
}

// count is the number of elements matching sel now, without waiting.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// wait waits until the element sel is visible.
func (tb *tab) wait(sel string) {
	tb.t.Helper()
	tb.do("wait for "+sel+" on "+tb.location(), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// waitTrue waits until the JavaScript expression is true; what says what
// the test waits for. (chromedp.Poll would build its predicate with
// new Function, which the console's Content-Security-Policy refuses.)
func (tb *tab) waitTrue(expr, what string) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := tb.step()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("waiting for %s on %s: not after %v (last error: %v)", what, tb.location(), stepTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// location is the page's URL, for messages.
func (tb *tab) location() string {
	ctx, cancel := tb.step()
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page: " + err.Error() + ")"
	}
	return u
}

// eval evaluates a JavaScript expression in the page; a promise is
// awaited.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// login signs in through the sign-in page with the token of role and
// lands on the campaigns list.
func (tb *tab) login(role string) {
	tb.t.Helper()
	if code := tb.open("/ui/login"); code != 200 {
		tb.t.Fatalf("GET /ui/login: %d", code)
	}
	tb.typeInto("#token", env.tokens[role])
	if code := tb.submit("#login-submit"); code != 200 {
		tb.t.Fatalf("sign in as %s: the answer is %d, want 200 (the campaigns list after the redirect)", role, code)
	}
	tb.wait("#campaigns")
	if who := tb.text("#whoami"); !strings.Contains(who, role) {
		tb.t.Fatalf("#whoami shows %q after signing in as %s", who, role)
	}
}

// navigate opens an absolute URL.
func navigate(u string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(u) }
