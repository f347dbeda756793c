// Package httpapi is the trigger API of "labelreset serve": HTTP routes to
// create campaigns from uploaded asset ID lists and to watch, report on and
// control them. openapi.yaml (served at /openapi.yaml) is the reference.
//
// # Authentication, roles and teams
//
// Every /v1 route needs "Authorization: Bearer <token>". Tokens are
// compared as SHA-256 digests in constant time against every configured
// token. /healthz, /readyz, /metrics and /openapi.yaml are open.
//
// A token of Config.TokenFile is a Principal: a name, a set of roles
// (viewer reads; operator creates and controls; approver approves) and the
// teams it may act for. Each route names the role it needs (403 without
// it); a campaign of another team is answered 404, as if it did not exist,
// so that IDs do not leak. An approver never approves a campaign its own
// token created, unless the file says self_approve. Tokens of the plain
// list (Config.Tokens) keep the old meaning: operator and approver of every
// team. The token set is replaced whole when the file changes or on
// ReloadTokens, and every request is checked against the set in force, so
// a removed token is refused from the next request on.
//
// Each request carries its principal's actor ("api:NAME") in its context
// (jobs.WithActor), so every state change it makes is written to the
// campaign's audit log by the store, atomically with the change; GET
// /v1/campaigns/{id}/events reads the log.
//
// GET /v1/assets/{id} finds one asset in every campaign the token may
// see (jobs.Store.FindAsset): a few Redis round trips whatever the number
// of campaigns, so it stays fast across thousands of them.
//
// # Creating campaigns
//
// POST /v1/campaigns takes a text/csv body (parameters in the query), a
// multipart/form-data upload (field "file", parameters as form fields or in
// the query) or a JSON object. Bodies are streamed: CSV through
// idfile.Reader, JSON asset_ids element by element, within MaxBodyBytes and
// MaxRows (blank and comment lines count). Memory is bounded too: at most
// MaxConcurrentUploads creates run at once (503 with Retry-After beyond),
// and an upload whose ID set passes MaxUploadMemory is refused with 413
// while it is read. Bad rows are reported (the first 20) and the valid rows still
// run, unless strict is set. dry_run returns the plan and writes nothing.
//
// There is no "--yes" over HTTP: a campaign with more valid assets than
// Defaults.ConfirmAbove is created pending and runs once approved with
// POST /v1/campaigns/{id}/approve. The second call is a deliberate step,
// so that an automation error cannot start a large reset by itself.
//
// Retries are safe: the same campaign_id with the same IDs answers 200 with
// the existing campaign, and an Idempotency-Key header (scoped to the
// token, kept for the policy's retention) answers 200 with the campaign the
// first request created. A key reused for a different request is refused
// with 422; a key whose request failed is released. Until its campaign
// exists a key is only claimed for Config.IdempotencyClaimTTL (renewed
// while the request is processed), so a serve that dies mid-request blocks
// it for at most that long.
//
// # Snapshot and undo
//
// Creates take snapshot (default true) and reset_unlisted; a campaign
// without snapshot cannot be undone, and the plan and the answer say so.
// GET /v1/campaigns/{id}/snapshot streams the snapshot once it is complete
// (409 before). POST /v1/campaigns/{id}/undo creates the restore campaign
// through jobs.Store.Undo, which cancels a source that can still run and is
// idempotent: the first undo answers 201, every later one 200 with the same
// restore campaign. Undo is the one create that skips the approval step
// when the token may approve its own campaigns: such a token could approve
// it at once anyway, and an undo is the way back from a mistake.
package httpapi
