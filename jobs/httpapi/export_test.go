package httpapi

// Routes returns the mux patterns the server registered (tests only).
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// MatchToken exposes the token comparison (tests only).
func (s *Server) MatchToken(tok string) bool { return s.matchToken(tok) != nil }

// OwnerID exposes the owner derivation (tests only).
var OwnerID = ownerID
