// Package e2e drives the labelreset web console in a real headless Chromium.
//
// It is a module of its own (github.com/labelreset/labelreset/e2e) so that the
// main module's `go test ./...` needs nothing but Go: only this module depends
// on chromedp, and only its tests need a browser. TestMain builds the
// labelreset and pdcp-fake binaries of the parent module, starts pdcp-fake,
// `labelreset serve` and `labelreset worker` on loopback ports against Redis
// (REDIS_ADDR, default 127.0.0.1:6379) in a namespace of their own, and one
// browser; each test signs in through the sign-in page with a token of its
// role, as a person would.
//
// Run them from this directory (see CONTRIBUTING.md):
//
//	REDIS_ADDR=127.0.0.1:6379 go test -count=1 ./...
//
// The browser is CHROME_PATH, else chromium-headless-shell, else chromium on
// PATH; without one the tests fail (apt-get install -y chromium-headless-shell).
// Screenshots of every page land in artifacts/ (gitignored).
package e2e
