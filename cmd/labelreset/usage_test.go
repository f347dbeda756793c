package main

import (
	"strings"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// TestCommandHelpExamples: each command's --help ends with its own
// examples, and every command has some.
func TestCommandHelpExamples(t *testing.T) {
	for _, c := range commands {
		if c.name != "version" && commandExamples[c.name] == "" {
			t.Errorf("command %s has no examples", c.name)
		}
	}
	e := newE2E(t, pdcpfake.Options{})
	_, errs, code := e.run("run", "--help")
	if code != 0 || !strings.Contains(errs, "Examples:\n  # A whole campaign") || !strings.Contains(errs, "labelreset run --demo") {
		t.Errorf("run --help: exit %d, want run's examples:\n%s", code, errs)
	}
	if strings.Contains(errs, "labelreset retry") {
		t.Errorf("run --help shows other commands' examples:\n%s", errs)
	}
	if !strings.Contains(errs, "(env LABELRESET_RATE)") {
		t.Errorf("run --help does not name the variables:\n%s", errs)
	}
}

// TestEnvE2E: the binary takes a setting from the environment, refuses a
// bad one naming it, and never takes --yes from it.
func TestEnvE2E(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{Assets: 10})
	e.env = append(e.env, "LABELRESET_RATE=2", "LABELRESET_YES=1")
	if out, errs, code := e.run("submit", "--ids", "1,2,3,4", "--dry-run"); code != 0 || !strings.Contains(out, "about 2s") {
		t.Errorf("LABELRESET_RATE=2: exit %d, want the plan at 2/s:\n%s%s", code, out, errs)
	}
	if out, errs, code := e.run("submit", "--campaign", "big", "--ids", "1,2,3,4", "--confirm-above", "2"); code != 0 ||
		!strings.Contains(out, "waits for approval") {
		t.Errorf("LABELRESET_YES=1: exit %d, want the campaign pending:\n%s%s", code, out, errs)
	}
	e.env = append(e.env, "LABELRESET_BATCH_SIZE=ten")
	if _, errs, code := e.run("submit", "--ids", "1", "--dry-run"); code != 2 || !strings.Contains(errs, `LABELRESET_BATCH_SIZE="ten"`) {
		t.Errorf("LABELRESET_BATCH_SIZE=ten: exit %d, want 2 naming the variable: %s", code, errs)
	}
}

// TestRedisWithoutScheme: host:port given as --redis says which URL was
// meant, and never shows a password.
func TestRedisWithoutScheme(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{})
	_, errs, code := e.run("status", "x", "--redis", "127.0.0.1:6391")
	if code != 2 || !strings.Contains(errs, "did you mean redis://127.0.0.1:6391?") {
		t.Errorf("--redis 127.0.0.1:6391: exit %d, want 2 suggesting redis://127.0.0.1:6391: %s", code, errs)
	}
	_, errs, _ = e.run("status", "x", "--redis", ":pw0rd@127.0.0.1:6391")
	if strings.Contains(errs, "pw0rd") || !strings.Contains(errs, "redis://") {
		t.Errorf("--redis with a password and no scheme: %s, want a suggestion without the password", errs)
	}
}

// TestServeWithoutTokens names the flag that serves without tokens.
func TestServeWithoutTokens(t *testing.T) {
	e := newE2E(t, pdcpfake.Options{})
	var env []string
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "LABELRESET_API_TOKENS") {
			env = append(env, kv)
		}
	}
	e.env = env
	_, errs, code := e.run("serve", "--addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errs, "--insecure-no-auth") || !strings.Contains(errs, "--tokens-file") {
		t.Errorf("serve without tokens: exit %d, want 2 naming --tokens-file and --insecure-no-auth: %s", code, errs)
	}
}
