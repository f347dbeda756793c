package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// The kinds of failure Preflight tells apart, for errors.Is. Each calls for
// a different fix: the address, the certificate, the key or team, or
// waiting for PDCP.
var (
	// ErrUnreachable: no connection to the API server (DNS, refused,
	// timeout, reset).
	ErrUnreachable = errors.New("API server unreachable")
	// ErrTLS: a connection, but TLS failed (certificate, handshake).
	ErrTLS = errors.New("TLS with the API server failed")
	// ErrUnauthorized: 401 or 403: the API key or the team ID is wrong.
	ErrUnauthorized = errors.New("API key or team refused")
	// ErrServerError: the server answered 5xx; it may recover.
	ErrServerError = errors.New("API server error")
	// ErrUnexpected: any other answer that is not a listing, e.g. a 404
	// from a server that is not PDCP's API.
	ErrUnexpected = errors.New("unexpected answer from the API server")
)

// PreflightError is a failed Preflight. It wraps one of the Err* kinds
// above and, for a transport failure, the cause.
type PreflightError struct {
	// Server is scheme://host[/path] of the configured API server.
	Server string
	// Kind is ErrUnreachable, ErrTLS, ErrUnauthorized, ErrServerError or
	// ErrUnexpected.
	Kind error
	// Result is the classified answer (Status 0 when none arrived).
	Result Result
}

// Error names the server, the kind and the cause, without the API key.
func (e *PreflightError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Kind, e.Server, e.Result.Error())
}

// Unwrap exposes the kind and the transport error.
func (e *PreflightError) Unwrap() []error {
	if e.Result.Err != nil {
		return []error{e.Kind, e.Result.Err}
	}
	return []error{e.Kind}
}

// Preflight checks, with one read-only request, that the API server can be
// reached and accepts the key and team: GET /v1/asset/enumerate/contents
// with limit=1. It changes nothing, so a campaign can call it before
// enqueueing anything and fail in a second with the reason instead of
// after every asset's retries. A 429 (or 503 with Retry-After) is a
// reachable server that accepts the key: nil. Every other failure is a
// *PreflightError.
func (c *Client) Preflight(ctx context.Context) error {
	_, err := c.listPage(ctx, nil, 0, 1)
	var se *StatusError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	res := se.Result
	pe := &PreflightError{Server: c.prefix, Result: res}
	switch {
	case res.Status == 0 && ctx.Err() != nil:
		return fmt.Errorf("preflight of %s: %w", c.prefix, ctx.Err())
	case res.Status == 0 && isTLSError(res.Err):
		pe.Kind = ErrTLS
	case res.Status == 0:
		pe.Kind = ErrUnreachable
	case res.Outcome == OutcomeThrottled:
		return nil
	case res.Outcome == OutcomeUnauthorized:
		pe.Kind = ErrUnauthorized
	case res.Status >= 500:
		pe.Kind = ErrServerError
	case res.Status >= 200 && res.Status <= 299:
		// A 2xx whose body is not a listing: reached, and the key
		// was accepted; the label calls will tell the rest.
		return nil
	default:
		pe.Kind = ErrUnexpected
	}
	return pe
}

// isTLSError reports whether err is a failed TLS handshake or certificate
// check rather than a failed connection.
func isTLSError(err error) bool {
	var (
		rec   tls.RecordHeaderError
		cv    *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
		alert tls.AlertError
	)
	return errors.As(err, &rec) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		errors.As(err, &ci) || errors.As(err, &alert)
}
