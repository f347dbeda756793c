// Decoding a stored segment straight into a segmentLookup: a segment of
// scattered IDs has a roaring container (and often a 32-bit bitmap) per
// ID, and building those objects only to flatten them into sorted IDs
// cost FindAsset most of a second for a million IDs.

package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// decodeSegment returns the lookup of a stored segment of n IDs (the
// bytes of IDSet.marshal). Encoded in more than 8 bytes per ID (scattered
// IDs), it is read directly into sorted IDs; denser ones are decoded as a
// bitmap, which newSegmentLookup keeps when it is the smaller form.
func decodeSegment(b []byte, n int64) (*segmentLookup, error) {
	if int64(len(b)) < 8*n {
		set, err := unmarshalIDSet(b)
		if err != nil {
			return nil, err
		}
		if set.Len() != n {
			return nil, fmt.Errorf("%d IDs stored, want %d", set.Len(), n)
		}
		return newSegmentLookup(set), nil
	}
	ids, err := sortedIDs(b, n)
	if err != nil {
		return nil, fmt.Errorf("decode ID set: %w", err)
	}
	return &segmentLookup{ids: ids, bytes: 8 * int64(len(ids))}, nil
}

// Cookies of the portable roaring format (github.com/RoaringBitmap/RoaringFormatSpec).
const (
	roaringCookieNoRuns = 12346
	roaringCookie       = 12347
)

var errTruncated = errors.New("truncated")

// sortedIDs reads a roaring64 bitmap (a bucket count, then per bucket the
// high 32 bits and a portable 32-bit roaring bitmap) into its values in
// ascending order, checking that there are n of them.
func sortedIDs(b []byte, n int64) ([]uint64, error) {
	if len(b) < 8 {
		return nil, errTruncated
	}
	buckets := binary.LittleEndian.Uint64(b)
	b = b[8:]
	out := make([]uint64, 0, n)
	for range buckets {
		if len(b) < 4 {
			return nil, errTruncated
		}
		high := uint64(binary.LittleEndian.Uint32(b)) << 32
		var err error
		if out, b, err = appendRoaring32(out, b[4:], high, n); err != nil {
			return nil, err
		}
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("%d IDs stored, want %d", len(out), n)
	}
	return out, nil
}

// appendRoaring32 appends the values of the portable 32-bit roaring
// bitmap at the start of b, each ORed with high, and returns the rest of
// b. It stops with an error before out would pass limit values.
func appendRoaring32(out []uint64, b []byte, high uint64, limit int64) ([]uint64, []byte, error) {
	if len(b) < 4 {
		return nil, nil, errTruncated
	}
	cookie := binary.LittleEndian.Uint32(b)
	b = b[4:]
	var size int
	var runs []byte
	switch {
	case cookie&0xFFFF == roaringCookie:
		size = int(cookie>>16) + 1
		if len(b) < (size+7)/8 {
			return nil, nil, errTruncated
		}
		runs, b = b[:(size+7)/8], b[(size+7)/8:]
	case cookie == roaringCookieNoRuns:
		if len(b) < 4 {
			return nil, nil, errTruncated
		}
		size, b = int(binary.LittleEndian.Uint32(b)), b[4:]
	default:
		return nil, nil, fmt.Errorf("unknown cookie %d", cookie)
	}
	if size > 1<<16 || len(b) < 4*size {
		return nil, nil, errTruncated
	}
	header, b := b[:4*size], b[4*size:]
	if runs == nil || size >= 4 {
		if len(b) < 4*size {
			return nil, nil, errTruncated
		}
		b = b[4*size:] // offsets: the containers follow in order anyway
	}
	for i := range size {
		key := high | uint64(binary.LittleEndian.Uint16(header[4*i:]))<<16
		card := int(binary.LittleEndian.Uint16(header[4*i+2:])) + 1
		if int64(len(out)+card) > limit {
			return nil, nil, fmt.Errorf("more than %d IDs", limit)
		}
		switch {
		case runs != nil && runs[i/8]&(1<<(i%8)) != 0:
			if len(b) < 2 {
				return nil, nil, errTruncated
			}
			nr := int(binary.LittleEndian.Uint16(b))
			if len(b) < 2+4*nr {
				return nil, nil, errTruncated
			}
			iv := b[2 : 2+4*nr]
			b = b[2+4*nr:]
			for j := range nr {
				start := uint64(binary.LittleEndian.Uint16(iv[4*j:]))
				last := start + uint64(binary.LittleEndian.Uint16(iv[4*j+2:]))
				if int64(len(out))+int64(last-start+1) > limit {
					return nil, nil, fmt.Errorf("more than %d IDs", limit)
				}
				for v := start; v <= last; v++ {
					out = append(out, key|v)
				}
			}
		case card > 4096:
			if len(b) < 8192 {
				return nil, nil, errTruncated
			}
			for w := range 1024 {
				word := binary.LittleEndian.Uint64(b[8*w:])
				for word != 0 {
					t := word & -word
					out = append(out, key|uint64(w*64+bits.TrailingZeros64(word)))
					word ^= t
				}
			}
			b = b[8192:]
		default:
			if len(b) < 2*card {
				return nil, nil, errTruncated
			}
			for j := range card {
				out = append(out, key|uint64(binary.LittleEndian.Uint16(b[2*j:])))
			}
			b = b[2*card:]
		}
	}
	return out, b, nil
}
