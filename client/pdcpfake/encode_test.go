package pdcpfake

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAppendPageMatchesEncodingJSON: the hand-written listing encoder
// writes what encoding/json writes (HTML escaping aside), for every seeded
// label and for labels a client may send.
func TestAppendPageMatchesEncodingJSON(t *testing.T) {
	f := New(Options{Assets: 30, Labels: LabelsVaried, Seed: 2})
	var items []item
	for _, id := range f.order {
		a := f.lookup(id)
		items = append(items, f.item(id, a))
	}
	items[0].Labels = []string{"tab\there", "nl\n", `back\slash`, `"quoted"`, "\x01ctl\x1f", "bad\xffutf8", "<html>&", "Ünïcødé 标签", ""}
	items[1].Labels = nil
	items[2].CName = nil
	items[3].IsNew = true
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Message string `json:"message"`
		Data    []item `json:"data"`
	}{"Enumeration contents", items}); err != nil {
		t.Fatal(err)
	}
	got := appendPage(nil, items)
	if diff := cmp.Diff(string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))), string(got)); diff != "" {
		t.Errorf("appendPage differs from encoding/json (-json +appendPage):\n%s", diff)
	}
}

// BenchmarkEncodePage compares the listing encoder with encoding/json on
// one 1000-item page.
func BenchmarkEncodePage(b *testing.B) {
	f := New(Options{Assets: 1000, Labels: LabelsBench})
	items := make([]item, 0, 1000)
	for _, id := range f.order {
		items = append(items, f.item(id, f.lookup(id)))
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(struct {
				Message string `json:"message"`
				Data    []item `json:"data"`
			}{"Enumeration contents", items})
		}
	})
	b.Run("appendPage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendPage(make([]byte, 0, 64+512*len(items)), items)
		}
	})
}
