package client

import (
	"strings"
	"testing"
)

// TestServerErrorsHideCredentials: a server URL holding a password, a key
// in the user info or a token in the query is refused without echoing it,
// whichever check refuses it and whether or not it parses.
func TestServerErrorsHideCredentials(t *testing.T) {
	const secret = "pw777secret"
	for _, s := range []string{
		"https://user:" + secret + "@api.example.com",
		"https://" + secret + "@api.example.com/v1",
		"ftp://user:" + secret + "@api.example.com",
		"https://api.example.com/?token=" + secret,
		"https://api.example.com/#" + secret,
		"https://user:" + secret + "@api.example.com:badport",
		"https://user:" + secret + "@api.exa%mple.com",
		"https://user:" + secret + "@",
		"user:" + secret + "@api.example.com",
		"https://user:" + secret + "@[::1",
	} {
		_, err := New(Config{APIKey: "k", Server: s})
		if err == nil {
			t.Errorf("New accepted server %q", s)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("New(%q): error shows the secret: %v", s, err)
		}
		if _, err := NormalizeServer(s); err == nil {
			t.Errorf("NormalizeServer accepted %q", s)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("NormalizeServer(%q): error shows the secret: %v", s, err)
		}
	}
}
