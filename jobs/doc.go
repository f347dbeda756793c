// Package jobs holds the campaign model, the batch task type and the
// producers that turn a list of asset IDs into queued work.
//
// A campaign is stored in Redis under keys that share one hash tag
// ("{campaign-id}") so that every multi-key script touching it stays in one
// Redis Cluster slot:
//
//	<ns>:{<id>}:meta     hash: definition, state, policy, outcome counts; x_* fields: an express
//	                     campaign's bulk call (express.go)
//	<ns>:{<id>}:s:<k>    string: roaring bitmap of the IDs of submit segment k
//	<ns>:{<id>}:l:<b>    hash: ledger of batch b, asset ID -> packed record
//	<ns>:{<id>}:errors   hash: asset ID -> error_id and error text of a failed
//	                     or invalid asset whose error does not fit its record
//	<ns>:{<id>}:fail:<outcome>  sorted set: the assets of one failure
//	                     outcome, by asset ID, for the failures table
//	<ns>:campaigns       sorted set: campaign IDs by creation time
//
// keys.go holds the whole layout, with the keys of the HTTP API and the
// scheduler.
//
// The asset IDs of a segment are kept once, as a compressed bitmap; batch b
// is a fixed slice of the segment's sorted IDs, so the ledger, the report and
// re-drives can all recompute which assets a batch holds without storing the
// lists a second time. While a batch is queued its IDs also live in the asynq
// task payload (delta-varint encoded, a few bytes per asset).
package jobs
