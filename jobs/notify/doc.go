// Package notify delivers campaign notifications to the operator's
// notifiers: named HTTPS endpoints, each with a shared secret, configured
// by the operator (LoadFile) and referred to by campaigns by name only
// (jobs.Campaign.Notify), so that no client ever makes labelreset send a
// request to an address it chose.
//
// The notifications are written by the jobs package into each campaign's
// outbox (a Redis list) in the same atomic script as the state change
// they report, so that a change is never without its notification and a
// replayed call makes none. A Dispatcher, run by any number of serve and
// worker processes, finds campaigns with entries, takes a per-campaign
// lease so that one process delivers a campaign's entries, in order, and
// POSTs each entry to each named notifier, signed with HMAC-SHA256
// (Sign), retried with backoff, until every notifier answered 2xx; only
// then is the entry removed. Deliveries are at least once over HTTP (a
// process may die after the POST and before recording it); receivers
// dedupe on the X-Labelreset-Delivery header, the entry's id, which is
// unique per transition.
package notify
