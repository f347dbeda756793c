// Package ratelimit enforces one requests/s budget shared exactly by every
// worker process that calls PDCP with the same account, through Redis.
//
// # Use
//
//	lim, err := ratelimit.New(rdb, ratelimit.Config{Key: accountHash, Rate: 400, AIMD: true}, reg)
//	...
//	if err := lim.Wait(ctx, teamID); err != nil { return err } // ctx ended or Close
//	resp := send(...)
//	if 429/503 with Retry-After { lim.PauseUntil(ctx, retryAt) } // every process pauses
//	if 429 { lim.Throttled(ctx) }                                // AIMD lowers the shared rate
//
// # Algorithm: GCRA on the Redis clock
//
// The budget is a GCRA (generic cell rate algorithm, the virtual-scheduling
// form of a token bucket): with emission interval T = 1/rate and tolerance
// tau = Burst*T - 30ms (at least T), Redis stores one number per limiter, the
// theoretical arrival time TAT. k requests fit at time now when max(TAT, now)
// + k*T - now <= tau; granting them moves TAT by k*T. One number, no refill
// timer, and any interval of length d holds at most Burst + rate*(d - 30ms)
// grants (at least 1 + rate*d when the burst is smaller than 30 ms of
// grants), whoever takes them. A single Lua script (one EVALSHA per round
// trip; EVAL after NOSCRIPT)
// checks the shared pause, computes the AIMD rate, applies the account GCRA
// and, for a team, the team GCRA, grants up to N tokens at once and answers
// how long to wait for the next one. Being one script, it is atomic: a team
// refusal consumes no account token.
//
// The 30 ms held back from the burst (12 requests of a 40-request burst at
// 400/s, never the last one) absorb the jitter between a grant and the
// request's arrival at PDCP, which counts arrivals: a request granted at the
// start of a second can arrive later than one granted at its end (a new
// connection, a busy host). With the exact bound, three processes at 400/s
// put 441 requests into one second of a server's log (limit 440); with 10 ms
// held back, 439 under the race detector, and with 20 ms 438 under the race
// detector with other tests running.
//
// A pause (PauseUntil) ends with one token rather than a full burst: the
// server that has just asked for a pause would answer a burst with the next
// 429. The burst refills over the following Burst*T of calm.
//
// Time comes from redis.call('TIME'), never from the callers: worker hosts'
// clocks drift, and a GCRA fed skewed clocks hands out the skew as extra
// budget. For the same reason PauseUntil stores time.Until(t) added to the
// server clock rather than t itself. Redis 7 replicates script effects, so
// writing after TIME is safe; the scripts also call redis.replicate_commands()
// for older servers.
//
// # Redis keys
//
// All keys of a limiter share the hash tag {Key}, so they live in one Redis
// Cluster slot and one script may touch them all:
//
//	lr:rl:{Key}:tat              account TAT (µs, server clock); TTL: until TAT passes, +1s
//	lr:rl:{Key}:team:<team>:tat  team TAT; same TTL
//	lr:rl:{Key}:pause            pause-until (µs, server clock); TTL: end of the pause, +1s
//	lr:rl:{Key}:aimd             hash r, ts, d of the last decrease; TTL: until the rate is back, +1min
//
// An idle limiter therefore leaves nothing behind.
//
// # AIMD
//
// With Config.AIMD, Throttled (a 429, with or without Retry-After) multiplies the
// shared effective rate by DecreaseFactor, at most once per second for all
// processes together, down to MinRate. The increase needs no writes: the
// script computes r + IncreasePerSecond*(now - ts) on every take, capped at
// Rate. The burst scales with the rate (tau stays constant), so a lowered
// rate is not undone by a full-size burst. Against a server throttling above
// 200/s with Rate 400 and the defaults, the effective rate settles in a
// saw-tooth between about 184 and 208/s (mean about 196/s, 0.1% of requests
// answered 429) and climbs back at Rate*0.02 per second once throttling stops.
//
// # Chunking without hoarding
//
// Each process runs one dispenser goroutine per team in use. Callers queue in
// Wait; the dispenser asks Redis for as many tokens as there are callers
// waiting (at most MaxChunk) and hands them out at once, so at high rates one
// round trip serves many requests. It never asks for more than the
// current waiters: tokens kept for later would be spent in a burst above the
// rate, breaking the Burst + rate*d bound. When fewer tokens come back than
// asked, the dispenser sleeps exactly until the next one is due (the script
// says when) instead of polling.
//
// # Unlimited mode
//
// With Rate 0 (and no team limit for the caller), Wait makes no Redis call:
// it only honours pauses, which this process learns at once from its own
// PauseUntil and from the other processes through a poller that reads the
// shared pause every PollInterval.
//
// # Failing safe
//
// A token exists only in Redis. When Redis fails, Wait keeps waiting: the
// dispenser retries with a jittered backoff from 50ms up to 1s (a few round
// trips per second per process, never a spin), counts errors_total, and
// callers leave only when their ctx ends. Sending without the shared budget
// would multiply the rate by the number of processes at the worst moment.
// The unlimited mode needs no token and keeps going on its last known pause.
//
// # Metrics
//
// New registers, on the given registerer only, labelreset_ratelimit_
// wait_seconds, effective_rate, configured_rate, throttled_total,
// pauses_total, paused, near_limit and errors_total. A process with several
// limiters gives each its own registerer, e.g.
// prometheus.WrapRegistererWith(prometheus.Labels{"account": name}, reg).
package ratelimit
