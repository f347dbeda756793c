package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// viewport is a screen the console must work on.
type viewport struct {
	name          string
	width, height int64
	mobile        bool // honours <meta name=viewport>, as a phone does
}

var viewports = []viewport{
	{"1280x800", 1280, 800, false},
	{"390x844", 390, 844, true},
}

var colorSchemes = []string{"light", "dark"}

// emulate sets the tab's screen and its prefers-color-scheme.
func emulate(vp viewport, scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: vp.width, Height: vp.height, DeviceScaleFactor: 1, Mobile: vp.mobile,
		}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// fullPage captures the whole page, beyond the viewport, as PNG.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	w, h := m.CSSLayoutViewport.ClientWidth, m.CSSLayoutViewport.ClientHeight
	if m.CSSContentSize != nil {
		w = max(w, int64(math.Ceil(m.CSSContentSize.Width)))
		h = max(h, int64(math.Ceil(m.CSSContentSize.Height)))
	}
	res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: float64(w), Height: float64(h), Scale: 1},
		CaptureBeyondViewport: new(true),
		FromSurface:           new(true),
	})
	return res.Data, err
}

// shoot saves the current page at every viewport in both color schemes as
// artifacts/<name>-<viewport>-<scheme>.png, and logs any page that is wider
// than a phone's screen. It leaves the tab at 1280×800, light.
func (tb *tab) shoot(name string) { tb.shootAs(name, true) }

// shootAs is shoot; reload false keeps what the page's script showed in
// place (a reload would lose it) and lets the page lay out again for each
// screen instead.
func (tb *tab) shootAs(name string, reload bool) {
	tb.t.Helper()
	for _, vp := range viewports {
		for i, scheme := range colorSchemes {
			tb.do("emulate "+vp.name+" "+scheme, emulate(vp, scheme))
			if i == 0 && reload {
				// A new viewport width: reload, so that the page lays out
				// as it would have been opened on that screen.
				tb.do("reload for "+vp.name, chromedp.Reload())
			}
			eval[bool](tb, `document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))))`)
			ctx, cancel := tb.step()
			png, err := chromedp.Run(ctx, fullPage)
			cancel()
			if err != nil {
				tb.t.Fatalf("screenshot of %s at %s, %s: %v", name, vp.name, scheme, err)
			}
			file := filepath.Join(env.artifacts, fmt.Sprintf("%s-%s-%s.png", name, vp.name, scheme))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				tb.t.Fatal(err)
			}
		}
		if over := eval[int](tb, "document.documentElement.scrollWidth - document.documentElement.clientWidth"); over > 0 {
			wide := eval[string](tb, `[...document.querySelectorAll("body *")]
				.filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
				.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).replace(/ +/g, ".") : "")).join(", ")`)
			tb.t.Logf("LAYOUT: %s at %s is %dpx wider than the screen (scrolls sideways); widest: %s", name, vp.name, over, wide)
		}
	}
	tb.do("emulate 1280x800 light", emulate(viewports[0], "light"))
}

// TestScreenshots saves every page of the console at 1280×800 and 390×844,
// light and dark, in artifacts/, for people to look at: a test cannot
// judge contrast or balance, but it can fail on what breaks them (a page
// error, a missing element).
func TestScreenshots(t *testing.T) {
	running, pending, done := campaignID("screens-running"), campaignID("screens-pending"), campaignID("screens-done")
	failing := failingAsset(t, failFirst, failCount)
	finishedCampaign(t, done, failFirst, failCount)
	createCampaign(t, pending, pendingFirst, pendingCount)
	// A campaign that runs for a minute at the worker's rate: above
	// --confirm-above, so the approver releases it.
	createCampaign(t, running, shotFirst, shotCount)
	if code, b := api(t, "approver", http.MethodPost, "/v1/campaigns/"+running+"/approve", nil); code != http.StatusOK {
		t.Fatalf("approve %s: %d %s", running, code, b)
	}
	waitCampaign(t, running, time.Minute, "a hundred assets finished", func(c campaign) bool { return c.finished() >= 100 })

	// The running campaign first, before it ends.
	op := newTab(t)
	op.login("operator")
	op.show(campaignPath(running))
	if state := op.text("#state"); !strings.Contains(state, "running") {
		t.Fatalf("campaign %s shows state %q, want running: the screenshot would not show a running campaign", running, state)
	}
	// The achieved rate shows once the page has two samples of the counters.
	op.waitTrue(`document.querySelector("#rate").textContent.includes("/s")`, "#rate to show assets/s")
	op.shoot("campaign-running")

	signedOut := newTab(t)
	signedOut.show("/ui/login")
	signedOut.wait("form#login")
	signedOut.shoot("login")

	op.show("/ui/")
	op.wait("#campaigns")
	op.shoot("campaigns")

	op.show(campaignPath(done))
	op.wait("#failures-table")
	op.shoot("campaign-done")

	op.show("/ui/new")
	op.wait("form#new-campaign")
	op.shoot("new")
	op.typeInto("#ids", pastedIDs(newFirst, newCount))
	op.plan()
	op.shootAs("new-plan", false)

	op.show("/ui/assets?id=" + strconv.FormatInt(failing, 10))
	op.wait("#asset-hits")
	op.shoot("asset")

	ap := newTab(t)
	ap.login("approver")
	ap.show(campaignPath(pending))
	ap.wait("#approve-form")
	ap.shoot("campaign-pending")

	t.Logf("screenshots in %s", env.artifacts)
}
