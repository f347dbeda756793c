// Package client is the ProjectDiscovery Cloud Platform (PDCP) API client of
// labelreset: it removes labels from assets and enumerates assets by filter.
//
// Every label call returns a [Result] rather than an error: a 404 or a 429 is
// an expected answer that the caller classifies by [Outcome] and records. The
// classification is fixed and exhaustive:
//
//	2xx                                   OutcomeReset
//	404                                   OutcomeNotFound
//	400                                   OutcomeInvalid
//	401, 403                              OutcomeUnauthorized
//	429; 503 with a valid Retry-After     OutcomeThrottled
//	408; other 5xx except 501             OutcomeRetryable
//	timeouts, resets, EOF, truncated 5xx  OutcomeRetryable (Status may be 0)
//	other 4xx, 501, every 3xx             OutcomePermanent
//
// The status decides: a 2xx, 400 or 404 whose body is cut short is still
// OutcomeReset, OutcomeInvalid or OutcomeNotFound.
//
// Redirects are never followed, so the API key is only ever sent to the
// configured server. Plain http:// is refused unless the server is a
// loopback address or [Config.AllowInsecureHTTP] is set; TLS certificates are
// always verified.
//
// The client never logs and never puts the API key into an error, a Result
// or the formatted value of a [Config] or [Client].
//
// Configuration is resolved flag > environment > credentials file by
// [ResolveConfig]; the file is ProjectDiscovery's ~/.pdcp/credentials.yaml.
package client
