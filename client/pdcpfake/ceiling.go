package pdcpfake

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ListingRate is one measurement of raw listing speed.
type ListingRate struct {
	Pages        int     `json:"pages"`
	Assets       int     `json:"assets"`
	Seconds      float64 `json:"seconds"`
	PagesPerSec  float64 `json:"pages_per_sec"`
	AssetsPerSec float64 `json:"assets_per_sec"`
}

// MeasureListing pages once through GET /v1/asset/enumerate/contents of
// the fake at baseURL with the given limit, as fast as one client can:
// the listing ceiling a snapshot's speed is compared with (cmd/bench). It
// reads every body but decodes none: rows are counted by their `,"id":`
// key, which the fake writes once per item. It advances by the rows
// returned and stops on the first empty page; a non-200 answer is an
// error (measure against a fake without listing faults).
func MeasureListing(ctx context.Context, c *http.Client, baseURL, apiKey string, limit int) (ListingRate, error) {
	var r ListingRate
	if c == nil {
		c = http.DefaultClient
	}
	idKey := []byte(`,"id":`)
	var buf bytes.Buffer
	start := time.Now()
	for offset := 0; ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			baseURL+"/v1/asset/enumerate/contents?limit="+strconv.Itoa(limit)+"&offset="+strconv.Itoa(offset), nil)
		if err != nil {
			return r, fmt.Errorf("listing ceiling: %w", err)
		}
		req.Header.Set("X-Api-Key", apiKey)
		resp, err := c.Do(req)
		if err != nil {
			return r, fmt.Errorf("listing ceiling at offset %d: %w", offset, err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return r, fmt.Errorf("listing ceiling at offset %d: reading the page: %w", offset, err)
		}
		if resp.StatusCode != http.StatusOK {
			return r, fmt.Errorf("listing ceiling at offset %d: status %d", offset, resp.StatusCode)
		}
		n := bytes.Count(buf.Bytes(), idKey)
		r.Pages++
		if n == 0 {
			break
		}
		r.Assets += n
		offset += n
	}
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.PagesPerSec = float64(r.Pages) / r.Seconds
		r.AssetsPerSec = float64(r.Assets) / r.Seconds
	}
	return r, nil
}
