package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/labelreset/labelreset/jobs/console"
)

// This file is the console's side of the server: console.Backend, so that
// the pages sign in with the API's tokens and act through the API's own
// routes.

// consolePrincipalKey carries the principal of a console request into the
// API's routes (ServeAs). Only this package can set it: a request from the
// network never carries it.
type consolePrincipalKey struct{}

// sessionRef is the reference a console session keeps to its token: the
// token's name and a digest of the token's digest under a label of its own.
// It identifies the token in the set in force without being usable as one.
func sessionRef(p *Principal) string {
	d := sha256.Sum256(append([]byte("labelreset console session\x00"), p.digest[:]...))
	return p.Name + ":" + hex.EncodeToString(d[:16])
}

func consoleIdentity(p *Principal) *console.Identity {
	return &console.Identity{Name: p.Name, Ref: sessionRef(p), Operator: p.Has(RoleOperator),
		Approver: p.Has(RoleApprover), Teams: append([]string(nil), p.teams...)}
}

type consoleBackend struct{ s *Server }

// Login implements console.Backend.
func (b consoleBackend) Login(token string) (*console.Identity, bool) {
	if b.s.cfg.InsecureNoAuth || checkToken(token) != nil {
		return nil, false
	}
	p := b.s.matchToken(token)
	if p == nil {
		return nil, false
	}
	return consoleIdentity(p), true
}

// Lookup implements console.Backend: the principal whose reference is ref
// in the token set in force now.
func (b consoleBackend) Lookup(ref string) (*console.Identity, bool) {
	p := b.s.lookupRef(ref)
	if p == nil {
		return nil, false
	}
	return consoleIdentity(p), true
}

func (s *Server) lookupRef(ref string) *Principal {
	if s.cfg.InsecureNoAuth {
		if ref == "" || ref == sessionRef(insecurePrincipal) {
			return insecurePrincipal
		}
		return nil
	}
	name, _, ok := strings.Cut(ref, ":")
	if !ok {
		return nil
	}
	var found *Principal
	for _, p := range s.tokens.Load().principals {
		if p.Name == name && subtle.ConstantTimeCompare([]byte(sessionRef(p)), []byte(ref)) == 1 {
			found = p
		}
	}
	return found
}

// ServeAs implements console.Backend: r goes through the API's routes as
// the principal of id, if its token is still in force.
func (b consoleBackend) ServeAs(id *console.Identity, w http.ResponseWriter, r *http.Request) {
	p := b.s.lookupRef(id.Ref)
	if p == nil {
		writeError(w, errorf(http.StatusUnauthorized, "unauthorized", "the session's token is no longer in force: sign in again"))
		return
	}
	b.s.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), consolePrincipalKey{}, p)))
}

// consolePrincipal returns the principal a console request acts for, or
// nil for a request from the network.
func consolePrincipal(ctx context.Context) *Principal {
	p, _ := ctx.Value(consolePrincipalKey{}).(*Principal)
	return p
}

// initConsole mounts the console under /ui/ when the configuration asks
// for it.
func (s *Server) initConsole() error {
	if s.cfg.Console == nil {
		return nil
	}
	cc := *s.cfg.Console
	cc.Store, cc.Backend, cc.NoAuth = s.store, consoleBackend{s}, s.cfg.InsecureNoAuth
	if cc.Logger == nil {
		cc.Logger = s.log
	}
	c, err := console.New(cc)
	if err != nil {
		return err
	}
	s.console = c
	s.mux.Handle("/ui/", s.instrument("/ui/", c))
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	// The server's bare address is where a person new to it goes first;
	// not permanent, since the console may be turned off later.
	s.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	return nil
}
