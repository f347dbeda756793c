package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TypeBatch is the asynq task type of a batch of assets.
const TypeBatch = "labelreset:batch"

// MaxBatchSize bounds the IDs of one task: large enough for any sensible
// batch, small enough that a corrupt payload cannot make a worker allocate
// without bound.
const MaxBatchSize = 10000

// DefaultBatchSize is the number of asset IDs per task.
const DefaultBatchSize = 100

// Payload versions: 1 has no incarnation (campaigns stored by earlier
// versions, and readable by earlier workers); 2 carries one.
const (
	payloadVersion            = 1
	payloadVersionIncarnation = 2
)

// Batch is the payload of a TypeBatch task: some asset IDs of one campaign.
// Batch is the ledger batch number (the IDs' records live in that batch's
// ledger hash); Gen is 0 for the original submit and n for the n-th
// re-drive. Incarnation is the campaign's (Campaign.Incarnation): a task
// can outlive its campaign's data, and must never run against a campaign
// created again under the same ID.
type Batch struct {
	Campaign    string
	Incarnation string
	Batch       int
	Gen         int
	IDs         []int64 // strictly increasing
}

// TaskID is the deterministic asynq task ID of the batch: enqueueing the
// same batch twice conflicts instead of duplicating work.
// The incarnation is part of it: a task of an earlier campaign with the
// same ID, still queued, must not stand in for the new campaign's batch.
func (b *Batch) TaskID() string {
	id := b.Campaign
	if b.Incarnation != "" {
		id += ":i" + b.Incarnation
	}
	if b.Gen == 0 {
		return id + ":b" + strconv.Itoa(b.Batch)
	}
	return id + ":g" + strconv.Itoa(b.Gen) + ":b" + strconv.Itoa(b.Batch)
}

// TaskCampaign is the campaign of a batch task ID (see TaskID; campaign
// IDs hold no ':'), or "" for an ID that no batch has.
func TaskCampaign(taskID string) string {
	c, _, ok := strings.Cut(taskID, ":")
	if !ok {
		return ""
	}
	return c
}

// EncodeBatch renders the payload: a version byte, the campaign ID, (in
// version 2) the incarnation, batch and generation numbers, the ID count,
// then the first ID and the gaps between sorted IDs as uvarints. 100
// consecutive IDs take ~130 bytes. A batch without an incarnation is
// written as version 1, which workers of earlier versions read.
// The payload carries no secret: API keys stay in the worker's config.
func EncodeBatch(b *Batch) ([]byte, error) {
	if err := ValidateCampaignID(b.Campaign); err != nil {
		return nil, err
	}
	if len(b.IDs) == 0 || len(b.IDs) > MaxBatchSize {
		return nil, fmt.Errorf("batch of %d IDs: want 1..%d", len(b.IDs), MaxBatchSize)
	}
	if b.Incarnation != "" && !validIncarnation(b.Incarnation) {
		return nil, fmt.Errorf("incarnation %q: want 1..32 characters of [0-9a-z]", b.Incarnation)
	}
	buf := make([]byte, 0, 9+len(b.Campaign)+len(b.Incarnation)+2*binary.MaxVarintLen64+len(b.IDs)*2)
	if b.Incarnation == "" {
		buf = append(buf, payloadVersion)
	} else {
		buf = append(buf, payloadVersionIncarnation)
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.Campaign)))
	buf = append(buf, b.Campaign...)
	if b.Incarnation != "" {
		buf = binary.AppendUvarint(buf, uint64(len(b.Incarnation)))
		buf = append(buf, b.Incarnation...)
	}
	buf = binary.AppendUvarint(buf, uint64(b.Batch))
	buf = binary.AppendUvarint(buf, uint64(b.Gen))
	buf = binary.AppendUvarint(buf, uint64(len(b.IDs)))
	var prev int64
	for i, id := range b.IDs {
		if id <= prev {
			if i == 0 {
				return nil, fmt.Errorf("asset ID %d: want > 0", id)
			}
			return nil, fmt.Errorf("asset IDs not strictly increasing at %d", id)
		}
		buf = binary.AppendUvarint(buf, uint64(id-prev))
		prev = id
	}
	return buf, nil
}

// ErrBadPayload marks a payload that can never be processed; the worker
// archives such tasks instead of retrying them.
var ErrBadPayload = errors.New("bad batch payload")

// DecodeBatch parses a payload written by EncodeBatch. It rejects anything
// else (wrong version, truncation, trailing bytes, zero or overflowing IDs)
// with an error wrapping ErrBadPayload.
func DecodeBatch(p []byte) (*Batch, error) {
	bad := func(what string) (*Batch, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadPayload, what)
	}
	if len(p) == 0 || (p[0] != payloadVersion && p[0] != payloadVersionIncarnation) {
		return bad("unknown version")
	}
	version := p[0]
	p = p[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		// Reject overlong encodings too: one batch has one encoding.
		if n <= 0 || n != uvarintLen(v) {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	l, ok := next()
	if !ok || l == 0 || l > 64 || uint64(len(p)) < l {
		return bad("campaign ID length")
	}
	b := &Batch{Campaign: string(p[:l])}
	p = p[l:]
	if ValidateCampaignID(b.Campaign) != nil {
		return bad("campaign ID")
	}
	if version == payloadVersionIncarnation {
		l, ok := next()
		if !ok || l == 0 || l > 32 || uint64(len(p)) < l {
			return bad("incarnation length")
		}
		b.Incarnation = string(p[:l])
		p = p[l:]
		if !validIncarnation(b.Incarnation) {
			return bad("incarnation")
		}
	}
	bn, ok1 := next()
	gen, ok2 := next()
	cnt, ok3 := next()
	if !ok1 || !ok2 || !ok3 || bn > math.MaxInt32 || gen > math.MaxInt32 {
		return bad("header")
	}
	if cnt == 0 || cnt > MaxBatchSize || cnt > uint64(len(p)) {
		return bad("ID count")
	}
	b.Batch, b.Gen = int(bn), int(gen)
	b.IDs = make([]int64, cnt)
	var prev uint64
	for i := range b.IDs {
		d, ok := next()
		if !ok || d == 0 || d > math.MaxInt64-prev {
			return bad("asset ID")
		}
		prev += d
		b.IDs[i] = int64(prev)
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return b, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
