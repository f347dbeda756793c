package client

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"+5", 5 * time.Second, true},
		{"-5", 0, true},
		{"3600", time.Hour, true},
		{"3601", MaxRetryAfter, true},
		{"99999999999999999999999", MaxRetryAfter, true},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"-", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second, true},
		{"Mon, 32 Jun 2026 12:00:00 GMT", 0, false},
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q): got %v,%v, want %v,%v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Sub-second "now" rounds the pause up, never down.
	got, _ := ParseRetryAfter(now.Add(10*time.Second).Format(http.TimeFormat), now.Add(300*time.Millisecond))
	if got != 10*time.Second {
		t.Errorf("got %v, want 10s (rounded up from 9.7s)", got)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "7", "-1", "+3", "3601", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", " 12 ", "1e3", "0x10", "\x00"} {
		f.Add(s, int64(0))
		f.Add(s, time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC).UnixNano())
	}
	f.Fuzz(func(t *testing.T, v string, nowNanos int64) {
		d, ok := ParseRetryAfter(v, time.Unix(0, nowNanos))
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, %v]", v, d, MaxRetryAfter)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v with ok=false, want 0", v, d)
		}
	})
}
