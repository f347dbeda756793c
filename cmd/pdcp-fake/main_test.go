package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestRunServesAndShutsDown(t *testing.T) {
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte("# extra\n500\n\n501\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--assets", "3", "--api-key", "k", "--ids-file", ids}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the banner: %v", err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`^pdcp-fake listening on (http://127\.0\.0\.1:\d+) \(5 assets\)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("banner %q, want the real address and 5 assets", line)
	}
	req, _ := http.NewRequest("DELETE", m[1]+"/v1/asset/501/labels", nil)
	req.Header.Set("X-Api-Key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("DELETE seeded ID from --ids-file: got %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown 10s after cancellation")
	}
}

func TestRunRejectsBadIDsFile(t *testing.T) {
	ids := filepath.Join(t.TempDir(), "ids.txt")
	os.WriteFile(ids, []byte("12\nnope\n"), 0o600)
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--ids-file", ids}, io.Discard)
	if err == nil || !regexp.MustCompile(`ids.txt:2`).MatchString(err.Error()) {
		t.Errorf("got %v, want an error naming line 2", err)
	}
}
