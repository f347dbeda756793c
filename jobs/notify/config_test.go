package notify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/notify"
)

// TestLoadFile: secrets come from a file or the environment, never the
// notifiers file itself; errors name the file and line and never hold a
// secret.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "ops.secret")
	if err := os.WriteFile(secretPath, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LR_TEST_HOOK_SECRET", "s3cret-from-env")
	write := func(body string) string {
		p := filepath.Join(dir, "notifiers.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := notify.LoadFile(write(`notifiers:
  - name: ops
    url: https://hooks.example.com/a
    secret_file: ` + secretPath + `
  - name: audit
    url: http://127.0.0.1:9999/hook
    secret_env: LR_TEST_HOOK_SECRET
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Notifiers) != 2 || cfg.Notifiers[0].Secret != "s3cret-from-file" || cfg.Notifiers[1].Secret != "s3cret-from-env" {
		t.Errorf("got %+v, want ops with the file's secret and audit with the environment's", cfg.Notifiers)
	}
	if err := cfg.Check([]string{"ops", "audit"}); err != nil {
		t.Errorf("Check of known names: %v", err)
	}
	err = cfg.Check([]string{"ops", "pager"})
	if !errors.Is(err, notify.ErrUnknownNotifier) || !strings.Contains(err.Error(), `"pager"`) || !strings.Contains(err.Error(), "audit, ops") {
		t.Errorf("Check of an unknown name: %v, want ErrUnknownNotifier naming pager and the known audit, ops", err)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"inline secret", "notifiers:\n  - name: ops\n    url: https://x.example\n    secret: hunter2\n", "line 2"},
		{"no secret", "notifiers:\n  - name: ops\n    url: https://x.example\n", "no secret"},
		{"bad name", "notifiers:\n  - name: Ops\n    url: https://x.example\n    secret_env: LR_TEST_HOOK_SECRET\n", "line 2"},
		{"bad scheme", "notifiers:\n  - name: ops\n    url: ftp://x.example\n    secret_env: LR_TEST_HOOK_SECRET\n", "http or https"},
		{"credentials in url", "notifiers:\n  - name: ops\n    url: https://u:hunter2@x.example\n    secret_env: LR_TEST_HOOK_SECRET\n", "credentials"},
		{"twice", "notifiers:\n  - name: ops\n    url: https://x.example\n    secret_env: LR_TEST_HOOK_SECRET\n  - name: ops\n    url: https://y.example\n    secret_env: LR_TEST_HOOK_SECRET\n", "twice"},
		{"unset env", "notifiers:\n  - name: ops\n    url: https://x.example\n    secret_env: LR_TEST_NO_SUCH_VAR\n", "LR_TEST_NO_SUCH_VAR"},
		{"unknown field", "notifiers:\n  - name: ops\n    urls: https://x.example\n", "urls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.body)
			_, err := notify.LoadFile(p)
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, p) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want the file name and %q", msg, tc.want)
			}
			for _, secret := range []string{"hunter2", "s3cret-from-env", "s3cret-from-file"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q holds a secret", msg)
				}
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"c-1"}`)
	sig := notify.Sign("k", body)
	// echo -n '{"id":"c-1"}' | openssl dgst -sha256 -hmac k
	if want := "sha256=83bbee6d4ef05f59427b2d28ee05899d5a7721613a386ec36f60f5a150437f93"; sig != want {
		t.Errorf("signature %q, want %q (openssl's)", sig, want)
	}
	if !notify.Verify("k", body, sig) || notify.Verify("other", body, sig) || notify.Verify("k", []byte(`{}`), sig) {
		t.Error("Verify accepts only the body's signature under its secret")
	}
}
