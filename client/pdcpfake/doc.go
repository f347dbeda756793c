// Package pdcpfake is an in-process fake of the PDCP asset-label API for
// tests, benchmarks and demos. It serves the three paths of
// the official PDCP OpenAPI excerpt (a copy in client/testdata) with the documented bodies, keeps
// real label state, and injects failures (400/5xx/429, resets, truncated
// bodies, latency, 401 after N calls) deterministically from a seed, so a
// test can compute its expectations with [Fake.Kind].
//
// Every random decision derives from hash(Seed, assetID, attempt), where
// attempt counts the label calls made for that asset so far; the same
// sequence of calls against the same Options gives the same answers.
//
// Listing filter semantics (GET /v1/asset/enumerate/contents):
//   - labels=a,b matches assets carrying ANY of the labels;
//   - search is a case-insensitive substring of the name;
//   - host and domain are comma lists matched against the host name
//     (host exactly, domain as suffix);
//   - not_seen_for_days=N matches assets whose seeded last-seen age is ≥ N days;
//   - time=last_day|last_week|... matches assets created within the range;
//   - is_internal=true|false matches the seeded internal flag;
//   - is_tech, is_favicon, is_new and is_screenshot keep the assets that
//     have the attribute (true) or have not (false): every seeded asset has
//     technologies and a favicon, none is new or has a screenshot;
//     only_dns=true and only_ip=true restrict to DNS-name and bare-IP
//     records (every asset is a DNS name), false selects everything;
//   - ip, port, cname, technologies, title, status_code, content_length and
//     favicon are comma lists: an asset matches when one of its values
//     equals one item, ignoring case. The values derive from the asset ID
//     (ip 198.18.x.y, 10.0.x.y if internal; port 443; a CNAME
//     cdn-N.example.net for IDs divisible by 3; technologies nginx for even
//     IDs, Apache and PHP for odd ones; title "Asset ID"; status 404 for
//     IDs ending in 9, else 200; content_length 512+ID%100; favicon
//     (ID%4)*1000003) and are returned in each item;
//   - custom_filter, whose syntax the spec does not give, is ignored, which
//     is why client.Narrowing never counts it as narrowing.
//
// Listing is evaluated against the current state on every request. Without
// a filter a page costs O(limit) (it is a slice of a fixed order); with one,
// O(offset+limit). sort_asc/sort_desc accept created_at and id (created_at
// orders by creation, then ID; sort_desc is the exact reverse); other
// fields answer 400. Options.ListLimitCap caps limit silently and
// Options.ListFailFraction fails whole pages (500, or 429 with ListThrottle),
// so paging code must advance by rows returned and retry.
//
// The bulk call (PATCH /v1/asset/labels) checks its body as the spec types
// UpdateAssetLabelsRequest: AssetFilters allows no other property (so
// is_internal, favicon and sorting answer 400), each property must have
// its JSON type (strings, domain and enumeration_ids arrays of strings,
// booleans, not_seen_for_days an integer >= 1, time in its enum, dates
// YYYY-MM-DD). Its filters are applied as the listing applies them;
// start_date and end_date bound the creation date (both days included)
// and enumeration_ids match the items' enumeration_id. Empty filters match
// every asset, as PDCP's do; update_type defaults to append. The answer is
// {message, asset_count, async}. Options.BulkAsyncAbove makes large calls
// async (applied after BulkAsyncDelay), BulkLateDelay applies a
// synchronous answer's change late, BulkSkipFraction leaves a
// deterministic share of the matching assets unchanged ([Fake.BulkSkipped])
// and BulkFailStatus fails every bulk call. A deferred change is applied
// by a goroutine of the Fake to the assets matching when it runs;
// [Fake.Close] (called by [Server.Close]) drops the ones still waiting.
// Bulk calls are counted in [Stats] (BulkCalls, BulkPending) and logged
// with Call.Bulk set.
//
// Options.Labels picks the seeded labels: the default (LabelsPerAsset of
// Vocabulary), LabelsVaried (labels with spaces, commas, quotes, non-ASCII)
// or LabelsBench (the benchmark distribution). Options.EditAfterReset adds
// EditLabel right after a share of successful resets, as a person would.
//
// Admin endpoints need no API key: GET /_fake/stats (JSON [Stats]), GET
// /_fake/calls (JSON lines of [Call], optional ?asset_id=N), GET
// /_fake/asset?id=N (labels and kind), GET /_fake/labels (JSON {"id":
// [labels]} of every asset, or ?ids=1,2; compare with [Fake.Snapshot]) and
// POST /_fake/config (JSON patch, see
// [ConfigPatch]).
package pdcpfake
