package client

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// testKey is the API key of every test. No formatted Result, error, Config
// or Client produced by the suite may contain it.
const testKey = "sk-TEST-7f3a9c0e-SECRET-must-not-leak"

var observed struct {
	sync.Mutex
	vals []any
}

// renderings formats v every way a caller might log it.
func renderings(v any) []string {
	out := []string{
		fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v),
		fmt.Sprintf("%s", v), fmt.Sprintf("%q", v), fmt.Sprintf("%x", v), fmt.Sprintf("%d", v),
	}
	switch x := v.(type) {
	case Result:
		out = append(out, x.Error())
		if x.Err != nil {
			out = append(out, x.Err.Error(), fmt.Sprintf("%+v", x.Err))
		}
	case error:
		out = append(out, x.Error())
	}
	return out
}

func leaks(v any) (string, bool) {
	hexKey := fmt.Sprintf("%x", testKey)
	for _, s := range renderings(v) {
		if strings.Contains(s, testKey) || strings.Contains(s, hexKey) {
			return s, true
		}
	}
	return "", false
}

// observe checks now, and again in TestMain, that v does not leak the key.
func observe(t testing.TB, v any) {
	t.Helper()
	if s, bad := leaks(v); bad {
		t.Errorf("API key leaked in %q", s)
	}
	observed.Lock()
	observed.vals = append(observed.vals, v)
	observed.Unlock()
}

// TestMain re-checks every Result and error the suite observed: the
// "no key in any output" guarantee of the package.
func TestMain(m *testing.M) {
	code := m.Run()
	observed.Lock()
	defer observed.Unlock()
	for _, v := range observed.vals {
		if s, bad := leaks(v); bad {
			fmt.Fprintf(os.Stderr, "FAIL: API key leaked in %q\n", s)
			code = 1
		}
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "key-leak check: %d observed values clean\n", len(observed.vals))
	}
	os.Exit(code)
}

func newTestClient(t testing.TB, server string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{APIKey: testKey, Server: server}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	observe(t, c)
	t.Cleanup(c.CloseIdleConnections)
	return c
}
