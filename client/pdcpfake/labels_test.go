package pdcpfake

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVariedLabels(t *testing.T) {
	s := NewServer(Options{Assets: 600, Seed: 3, Labels: LabelsVaried})
	defer s.Close()
	f := s.Fake()
	all := f.AllLabels()
	counts := map[int]int{}
	seen := map[string]bool{}
	for id, ls := range all {
		counts[len(ls)]++
		for _, l := range ls {
			if !slices.Contains(VariedVocabulary, l) {
				t.Fatalf("asset %d: label %q outside VariedVocabulary", id, l)
			}
			seen[l] = true
		}
	}
	for n := 0; n <= 5; n++ {
		if counts[n] == 0 {
			t.Errorf("no asset with %d labels: %v", n, counts)
		}
	}
	if len(counts) != 6 {
		t.Errorf("label counts %v, want 0..5 only", counts)
	}
	for _, l := range []string{"owner: Zoë", "a,b", "path/to/x", `say "hi"`, "Ünïcødé 标签", "env:prod"} {
		if !seen[l] {
			t.Errorf("label %q never seeded", l)
		}
	}
	// Deterministic by seed; another seed draws differently.
	if diff := cmp.Diff(all, New(Options{Assets: 600, Seed: 3, Labels: LabelsVaried}).AllLabels()); diff != "" {
		t.Errorf("same seed, other labels (-first +second):\n%s", diff)
	}
	if len(f.Snapshot().Diff(New(Options{Assets: 600, Seed: 4, Labels: LabelsVaried}).Snapshot())) == 0 {
		t.Error("seeds 3 and 4 seed the same labels")
	}
	// The listing carries them byte for byte, and a label filter finds the
	// ones without a comma.
	_, p := list(t, s, "limit=1000")
	for _, it := range p.Data {
		if want := all[it.ID]; !slices.Equal(it.Labels, want) {
			t.Fatalf("asset %d listed %q, state %q", it.ID, it.Labels, want)
		}
	}
	_, p = list(t, s, "labels="+strings.ReplaceAll("owner: Zoë", " ", "%20")+"&limit=1000")
	if len(p.Data) == 0 {
		t.Error(`labels="owner: Zoë" matches nothing`)
	}
	for _, it := range p.Data {
		if !slices.Contains(it.Labels, "owner: Zoë") {
			t.Errorf("asset %d matched without the label: %q", it.ID, it.Labels)
		}
	}
	// Restoring a varied set sets it exactly.
	call(t, s, "DELETE", "/v1/asset/1/labels", "")
	body, _ := json.Marshal(map[string][]string{"labels": {"a,b", "Ünïcødé 标签", "new one"}})
	if st, b, _ := call(t, s, "PATCH", "/v1/asset/1/labels?update_type=replace", string(body)); st != 200 {
		t.Fatalf("replace: %d %s", st, b)
	}
	if got, _ := f.Labels(1); !sameSet(got, []string{"a,b", "Ünïcødé 标签", "new one"}) {
		t.Errorf("after replace: %q", got)
	}
}

func TestDefaultLabelsUnchanged(t *testing.T) {
	// The default seeding is what older tests computed their expectations
	// from: 3 labels of Vocabulary per asset, in Vocabulary order.
	f := New(Options{Assets: 50, Seed: 9})
	for id, ls := range f.AllLabels() {
		if len(ls) != 3 {
			t.Fatalf("asset %d: %q, want 3 labels", id, ls)
		}
		idx := make([]int, len(ls))
		for i, l := range ls {
			idx[i] = slices.Index(Vocabulary, l)
		}
		if !slices.IsSorted(idx) || idx[0] < 0 {
			t.Fatalf("asset %d: %q not in Vocabulary order", id, ls)
		}
	}
}

func TestBenchLabels(t *testing.T) {
	const n = 20000
	f := New(Options{Assets: n, Seed: 1, Labels: LabelsBench})
	none := 0
	freq := map[string]int{}
	for id, ls := range f.AllLabels() {
		if len(ls) == 0 {
			none++
			continue
		}
		if len(ls) > 4 {
			t.Fatalf("asset %d: %d labels, want 1-4", id, len(ls))
		}
		for _, l := range ls {
			if !slices.Contains(BenchVocabulary, l) {
				t.Fatalf("asset %d: label %q outside BenchVocabulary", id, l)
			}
			freq[l]++
		}
	}
	if share := float64(none) / n; share < 0.18 || share > 0.22 {
		t.Errorf("%.3f of assets unlabelled, want about 0.2", share)
	}
	if len(freq) < 45 {
		t.Errorf("%d distinct labels drawn, want nearly 50", len(freq))
	}
	top, tail := freq[BenchVocabulary[0]], freq[BenchVocabulary[49]]
	if top < 10*tail {
		t.Errorf("rank 1 drawn %d times, rank 50 %d: not Zipf-like", top, tail)
	}
	if diff := cmp.Diff(f.AllLabels(), New(Options{Assets: n, Seed: 1, Labels: LabelsBench}).AllLabels()); diff != "" {
		t.Errorf("not deterministic by seed:\n%s", diff)
	}
}

func TestListLimitCap(t *testing.T) {
	s := NewServer(Options{Assets: 50, ListLimitCap: 7})
	defer s.Close()
	if _, p := list(t, s, "limit=100"); len(p.Data) != 7 {
		t.Fatalf("limit=100 under a cap of 7: %d rows", len(p.Data))
	}
	if _, p := list(t, s, "limit=3"); len(p.Data) != 3 {
		t.Fatalf("limit=3 under a cap of 7: %d rows", len(p.Data))
	}
	// Paging by rows returned reaches every asset exactly once.
	var got []int64
	for off := 0; ; {
		_, p := list(t, s, "limit=100&offset="+strconv.Itoa(off))
		if len(p.Data) == 0 {
			break
		}
		for _, it := range p.Data {
			got = append(got, it.ID)
		}
		off += len(p.Data)
	}
	if diff := cmp.Diff(s.Fake().AssetIDs(), got); diff != "" {
		t.Errorf("paged IDs (-want +got):\n%s", diff)
	}
}

func TestListFailFraction(t *testing.T) {
	statuses := func(o Options) (out []int, retryAfter []string) {
		s := NewServer(o)
		defer s.Close()
		for range 60 {
			st, _, hdr := call(t, s, "GET", "/v1/asset/enumerate/contents?limit=5", "")
			out = append(out, st)
			retryAfter = append(retryAfter, hdr.Get("Retry-After"))
		}
		return out, retryAfter
	}
	o := Options{Assets: 20, Seed: 11, ListFailFraction: 0.3}
	a, _ := statuses(o)
	b, _ := statuses(o)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, other answers:\n%v\n%v", a, b)
	}
	n500 := 0
	for _, st := range a {
		switch st {
		case 500:
			n500++
		case 200:
		default:
			t.Fatalf("status %d", st)
		}
	}
	if n500 < 6 || n500 > 30 {
		t.Errorf("%d of 60 pages failed, want about 18", n500)
	}
	o.ListThrottle, o.RetryAfter = true, "2"
	c, ra := statuses(o)
	for i, st := range c {
		if (a[i] == 500) != (st == 429) || (st == 429 && ra[i] != "2") {
			t.Fatalf("request %d: %d Retry-After %q, want 429 with 2 where 500 was", i, st, ra[i])
		}
	}
	if _, ra := statuses(Options{Assets: 20, Seed: 11, ListFailFraction: 1, ListThrottle: true}); ra[0] != "1" {
		t.Errorf("default Retry-After %q, want 1", ra[0])
	}
}

func TestListSort(t *testing.T) {
	s := NewServer(Options{Assets: 500, Seed: 2})
	defer s.Close()
	page := func(q string) (ids []int64, created []string) {
		var all []item
		for off := 0; ; {
			st, p := list(t, s, q+"&limit=70&offset="+strconv.Itoa(off))
			if st != 200 {
				t.Fatalf("%s: %d", q, st)
			}
			if len(p.Data) == 0 {
				break
			}
			all = append(all, p.Data...)
			off += len(p.Data)
		}
		for _, it := range all {
			ids = append(ids, it.ID)
			created = append(created, it.CreatedAt)
		}
		return ids, created
	}
	asc, created := page("sort_asc=created_at")
	if !slices.IsSorted(created) {
		t.Error("sort_asc=created_at: created_at not ascending")
	}
	for i := 1; i < len(asc); i++ {
		if created[i] == created[i-1] && asc[i] < asc[i-1] {
			t.Fatalf("equal created_at %s: ID %d before %d", created[i], asc[i-1], asc[i])
		}
	}
	if x := slices.Sorted(slices.Values(asc)); !slices.Equal(x, s.Fake().AssetIDs()) {
		t.Error("sort_asc=created_at does not list every asset once")
	}
	if slices.Equal(asc, s.Fake().AssetIDs()) {
		t.Error("sort_asc=created_at lists in ID order")
	}
	desc, _ := page("sort_desc=created_at")
	slices.Reverse(desc)
	if !slices.Equal(asc, desc) {
		t.Error("sort_desc=created_at is not the reverse of sort_asc")
	}
	idDesc, _ := page("sort_desc=id")
	wantDesc := s.Fake().AssetIDs()
	slices.Reverse(wantDesc)
	if !slices.Equal(idDesc, wantDesc) {
		t.Error("sort_desc=id is not descending ID order")
	}
	// Filters apply within the sorted order.
	_, p := list(t, s, "sort_asc=created_at&labels=pci&limit=1000")
	var want []int64
	for _, id := range asc {
		if l, _ := s.Fake().Labels(id); slices.Contains(l, "pci") {
			want = append(want, id)
		}
	}
	var got []int64
	for _, it := range p.Data {
		got = append(got, it.ID)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted and filtered (-want +got):\n%s", diff)
	}
	for _, q := range []string{"sort_asc=created_at&sort_desc=created_at", "sort_asc=colour", "sort_desc=created_at,nope"} {
		if st, _ := list(t, s, q); st != 400 {
			t.Errorf("%s: got %d, want 400", q, st)
		}
	}
}

func TestEditAfterReset(t *testing.T) {
	s := NewServer(Options{Assets: 10, EditAfterReset: 1, EditLabel: "relabelled"})
	defer s.Close()
	f := s.Fake()
	call(t, s, "DELETE", "/v1/asset/1/labels", "")
	if got, _ := f.Labels(1); !slices.Equal(got, []string{"relabelled"}) {
		t.Errorf("after DELETE: %q, want [relabelled]", got)
	}
	before, _ := f.Labels(2)
	call(t, s, "PATCH", "/v1/asset/2/labels?update_type=delete", `{"labels":["`+before[0]+`"]}`)
	if got, _ := f.Labels(2); !sameSet(got, append(slices.Clone(before[1:]), "relabelled")) {
		t.Errorf("after PATCH delete of %q from %q: %q", before[0], before, got)
	}
	// Appends and replaces are not resets.
	call(t, s, "POST", "/v1/asset/3/labels", `{"labels":["x"]}`)
	call(t, s, "PATCH", "/v1/asset/4/labels?update_type=replace", `{"labels":["y"]}`)
	for _, id := range []int64{3, 4} {
		if got, _ := f.Labels(id); slices.Contains(got, "relabelled") {
			t.Errorf("asset %d edited after a non-reset: %q", id, got)
		}
	}
	// A fraction edits some; the default label.
	s2 := NewServer(Options{Assets: 200, Seed: 5, EditAfterReset: 0.25})
	defer s2.Close()
	edited := 0
	for id := 1; id <= 200; id++ {
		call(t, s2, "DELETE", "/v1/asset/"+strconv.Itoa(id)+"/labels", "")
		got, _ := s2.Fake().Labels(int64(id))
		switch {
		case len(got) == 0:
		case slices.Equal(got, []string{"edited-later"}):
			edited++
		default:
			t.Fatalf("asset %d after DELETE: %q", id, got)
		}
	}
	if edited < 25 || edited > 80 {
		t.Errorf("%d of 200 resets edited, want about 50", edited)
	}
}

func TestAdminLabels(t *testing.T) {
	s := NewServer(Options{Assets: 30, Labels: LabelsVaried, Seed: 8})
	defer s.Close()
	f := s.Fake()
	before := f.Snapshot()
	get := func(q string) (int, LabelSets) {
		resp, err := http.Get(s.URL() + "/_fake/labels" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out LabelSets
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
		return resp.StatusCode, out
	}
	_, all := get("")
	if diff := cmp.Diff(map[int64][]string(before), map[int64][]string(all)); diff != "" {
		t.Errorf("/_fake/labels vs Snapshot (-snapshot +admin):\n%s", diff)
	}
	call(t, s, "DELETE", "/v1/asset/4/labels", "")
	call(t, s, "POST", "/v1/asset/9/labels", `{"labels":["owner: Zoë","zz"]}`)
	_, some := get("?ids=4,9,999")
	if len(some) != 2 || len(some[4]) != 0 || some[4] == nil || !slices.Contains(some[9], "zz") {
		t.Errorf("?ids=4,9,999: %v", some)
	}
	if st, _ := get("?ids=4,x"); st != 400 {
		t.Errorf("?ids=4,x: got %d, want 400", st)
	}
	after := f.Snapshot()
	want := []int64{9}
	if len(before[4]) > 0 {
		want = []int64{4, 9}
	}
	if diff := before.Diff(after); !slices.Equal(diff, want) {
		t.Errorf("Diff: %v, want %v", diff, want)
	}
}
