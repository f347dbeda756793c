package httpapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"time"
)

// loadTokens builds the token set from Config.Tokens and the token file.
// A file that cannot be read or parsed leaves only the plain tokens of
// Config.Tokens in force (none of the file's tokens is accepted) and
// returns the error. A token of the file that is also in Config.Tokens is
// such an error, and that token is refused altogether until it is fixed:
// otherwise removing it from the file to revoke it would leave it acting
// with the plain list's rights (operator and approver of every team).
func (s *Server) loadTokens() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	plain := make([]*Principal, 0, len(s.cfg.Tokens))
	for _, t := range s.cfg.Tokens {
		plain = append(plain, legacyPrincipal(t))
	}
	var err error
	if s.cfg.TokenFile != "" {
		var fs *tokenSet
		var b []byte
		fs, b, err = readTokenFile(s.cfg.TokenFile)
		s.fileSum = sha256.Sum256(b)
		if err == nil {
			plain, err = refuseSharedTokens(s.cfg.TokenFile, plain, fs)
		}
		if err == nil {
			s.warnReadable(fs)
			plain = append(plain, fs.principals...)
		}
	}
	ts := &tokenSet{principals: plain}
	for _, p := range plain {
		if p.legacy {
			ts.legacy++
		}
	}
	if s.tokens.Load() == nil && err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	s.tokens.Store(ts)
	return err
}

// refuseSharedTokens returns an error naming each entry of the structured
// token file fs whose token is also in the plain list, and the plain list
// without those tokens. Names and positions only, never a token.
func refuseSharedTokens(path string, plain []*Principal, fs *tokenSet) ([]*Principal, error) {
	keep := plain[:0:0]
	var clashes []string
	for i, pp := range plain {
		shared := false
		for _, fp := range fs.principals {
			// A plain-format file grants what the plain list does.
			if !fp.legacy && fp.digest == pp.digest {
				shared = true
				clashes = append(clashes, fmt.Sprintf("entry %q has the same token as token %d of %d of the plain list (LABELRESET_API_TOKENS)",
					fp.Name, i+1, len(plain)))
			}
		}
		if !shared {
			keep = append(keep, pp)
		}
	}
	if clashes != nil {
		return keep, fmt.Errorf("API token file %s: %s: a token must be in one place only, remove it from the plain list "+
			"(that token is refused until then)", path, strings.Join(clashes, "; "))
	}
	return plain, nil
}

// warnReadable warns when group or others may read a token file that
// holds tokens themselves (token_sha256 digests are not secrets).
func (s *Server) warnReadable(fs *tokenSet) {
	if !fs.plaintext {
		return
	}
	fi, err := os.Stat(s.cfg.TokenFile)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	s.log.Warn("API token file holding plaintext tokens is readable by group or others: chmod 600 it, or give token_sha256 instead of token",
		"file", s.cfg.TokenFile, "mode", fi.Mode().Perm().String())
}

// ReloadTokens reads the token file again now (on SIGHUP). A token no
// longer in it is refused from the next request on. On an error, every
// token of the file is refused until a reload succeeds.
func (s *Server) ReloadTokens() error {
	if s.cfg.TokenFile == "" {
		return nil
	}
	err := s.loadTokens()
	if err != nil {
		s.log.Error("API token file reload failed: its tokens are refused until it is fixed", "file", s.cfg.TokenFile, "err", err)
		return err
	}
	names := make([]string, 0)
	for _, p := range s.tokens.Load().principals {
		names = append(names, p.Name)
	}
	s.log.Info("API tokens reloaded", "file", s.cfg.TokenFile, "tokens", names)
	return nil
}

// watchTokens reloads the token file whenever its content changes, until
// ctx is done. Polling the content (not inotify) also sees a Kubernetes
// secret update, which swaps a symlink.
func (s *Server) watchTokens(ctx context.Context) {
	t := time.NewTicker(s.cfg.TokenReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, _ := os.ReadFile(s.cfg.TokenFile) // a missing file reloads (and fails) below
		s.reloadMu.Lock()
		changed := sha256.Sum256(b) != s.fileSum
		s.reloadMu.Unlock()
		if changed {
			s.ReloadTokens()
		}
	}
}
