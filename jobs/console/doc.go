// Package console is the campaign console: the web pages under /ui/ of
// "labelreset serve" for the people who approve, watch and stop campaigns.
//
// The pages are rendered on the server with html/template from files
// embedded in the binary, with one stylesheet and one small script and no
// build step, so the console works without internet and without a CDN.
// Reads come from the store's counters (jobs.Store), never from the
// ledger, so a page costs the same for a campaign of ten assets or of a
// million. Every state change is a form POST that the console hands to the
// HTTP API in process (Backend.ServeAs), acting as the signed-in token:
// the API's own role, team, self-approval and state checks decide, and the
// store writes the audit event with the change. The console adds no rule
// of its own that the API lacks, so the two cannot disagree.
//
// # Sessions
//
// POST /ui/login takes an API token and answers with a session cookie
// (HttpOnly, SameSite=Strict, Path=/ui/, Secure under TLS). Redis keeps the
// session under the SHA-256 of the cookie value, with an expiry, holding the
// token's name and a reference derived from its digest (Identity.Ref), never
// the token. Every request looks the reference up in the token set in force
// (Backend.Lookup), so a token removed from the token file ends its sessions
// at once.
//
// # Safety
//
// Responses carry a strict Content-Security-Policy (no inline script or
// style), X-Frame-Options DENY and no-store caching. Unsafe methods from
// another origin are refused (http.CrossOriginProtection, which reads
// Sec-Fetch-Site and Origin), so no CSRF token is needed; state changes are
// POST only. A viewer's page shows no action buttons and its POSTs are
// refused by the API's role check anyway.
//
// # Contract
//
// The routes and element IDs below are stable: the browser tests (module
// e2e) and the handler tests rely on them.
//
//   - GET /ui/login, POST /ui/login (form field token), POST /ui/logout.
//   - GET /ui/ : the campaigns list; form#filter (state, q), table#campaigns
//     with rows tr[data-campaign][data-state]; a#page-next, a#page-prev;
//     fragment=1 answers only tbody#campaigns-body (the script refreshes it).
//   - GET /ui/campaigns/{id}: section#campaign[data-campaign][data-state],
//     #state, progress#progress, #count-<outcome> (and #count-pending),
//     #finished, #total, #rate, #eta, #limiter, #snapshot; for an express
//     campaign #express[data-express-state] (the bulk call: #express-state
//     [data-state], #express-reason, #express-listed, #express-outside,
//     #express-sent-at, #express-asset-count, #express-difference (a
//     warning, only when PDCP's asset_count differs from the listing),
//     #express-async, #express-verified, #express-fallback,
//     #express-deadline, #express-finished, each shown once known) and,
//     once its bulk call was sent, #cancel-express-note in the cancel
//     form; forms
//     #approve-form (#approve-count, #approve-team, #approve-server, input
//     #approve-confirm = the campaign ID), #pause-form, #resume-form,
//     #cancel-form (#cancel-confirm), #retry-form, #undo-form
//     (#undo-confirm), each POSTing to /ui/campaigns/{id}/<action> and
//     answered 303 with ?flash=&fm= (Console.flashURL: a flash
//     without its MAC is not shown); section#audit (table#audit-log),
//     section#failures (form#failures-filter, table#failures-table rows
//     tr[data-asset] with td.path: bulk, per_asset or —, a#failures-next),
//     a#download-report,
//     a#download-failures, a#download-snapshot.
//   - GET /ui/campaigns/{id}/failures?outcome=&reason=&asset=&after=: the
//     section#failures alone (with fragment=1, a lapsed session answers
//     401); the campaign page takes the same parameters.
//   - GET /ui/campaigns/{id}/live: server-sent events "progress" with the
//     campaign's counts, rate, ETA, limiter and snapshot state (and an
//     express campaign's express state: a new one reloads the page); the stream
//     ends after a final state ("gone" when the campaign is deleted).
//   - GET /ui/campaigns/{id}/report.csv, failures.csv, snapshot.jsonl: the
//     API's report and snapshot, streamed.
//   - GET /ui/new (operators): form#new-campaign, multipart: input#file or
//     textarea#ids (not both), select#mode, input#labels, input#team
//     (team_id), select#priority, input#snapshot; button#plan-submit POSTs
//     to /ui/new/plan (a dry run: section#plan with #plan-valid,
//     #plan-duplicates, #plan-bad, #plan-first-bad, #plan-warnings),
//     button#create-submit to /ui/new (303 to the campaign with a flash).
//     Both go to POST /v1/campaigns, the upload streamed through a pipe.
//   - GET /ui/assets?id=: an asset's outcome in every campaign
//     (table#asset-hits, td.path as in the failures table).
//   - Every page: a#nav-campaigns, a#nav-new (operators), form#asset-search
//     (input#asset-id), span#whoami, form#logout, #flash, #error.
package console
