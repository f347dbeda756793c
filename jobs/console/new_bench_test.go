package console_test

import (
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkUpload60MB sends a 60 MB ID file as a dry run straight to
// POST /v1/campaigns ("api") and through the console's plan ("console").
// The difference in B/op is what the console costs: the upload is
// streamed to the API through a pipe, never held.
func BenchmarkUpload60MB(b *testing.B) {
	const size = 60 << 20
	u := newUI(b, nil)
	c := u.signIn(operatorToken)
	for _, tc := range []struct {
		name, path string
		client     *http.Client
		header     map[string]string
	}{
		{"api", "/v1/campaigns?dry_run=true", &http.Client{}, map[string]string{"Authorization": "Bearer " + operatorToken}},
		{"console", "/ui/new/plan", c, map[string]string{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				body, ctype := idUpload(size)
				tc.header["Content-Type"] = ctype
				res := u.do(tc.client, http.MethodPost, tc.path, body, tc.header)
				if res.status != http.StatusOK {
					b.Fatalf("plan of 60 MB: %d %s", res.status, res.body)
				}
			}
		})
	}
}

// idUpload is a multipart form of a team and an ID file of size bytes of
// consecutive IDs, generated while it is read.
func idUpload(size int) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("team_id", "team-a")
		fw, _ := mw.CreateFormFile("file", "big.csv")
		buf := make([]byte, 0, 64<<10)
		for id, written := int64(10_000_000), 0; written < size; id++ {
			buf = strconv.AppendInt(buf, id, 10)
			buf = append(buf, '\n')
			if len(buf) > 60<<10 {
				n, err := fw.Write(buf)
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				written += n
				buf = buf[:0]
			}
		}
		mw.Close()
		pw.Close()
	}()
	return pr, mw.FormDataContentType()
}
