package httpapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// loadTokens builds the token set from Config.Tokens and the token file.
// A file that cannot be read or parsed leaves only the plain tokens of
// Config.Tokens in force (none of the file's tokens is accepted) and
// returns the error.
func (s *Server) loadTokens() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ts := &tokenSet{legacy: len(s.cfg.Tokens)}
	for _, t := range s.cfg.Tokens {
		ts.principals = append(ts.principals, legacyPrincipal(t))
	}
	var err error
	if s.cfg.TokenFile != "" {
		var fs *tokenSet
		var b []byte
		fs, b, err = readTokenFile(s.cfg.TokenFile)
		s.fileSum = sha256.Sum256(b)
		if err == nil {
			ts.principals = append(ts.principals, fs.principals...)
			ts.legacy += fs.legacy
		}
	}
	if s.tokens.Load() == nil && err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	s.tokens.Store(ts)
	return err
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
