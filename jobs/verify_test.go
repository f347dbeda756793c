package jobs

import (
	"slices"
	"testing"
	"time"

	"github.com/labelreset/labelreset/client"
)

// newTestVerification builds a Verification as NewVerification does,
// from per-asset (check, labels), without Redis.
func newTestVerification(assets map[int64]struct {
	check   uint8
	outcome string
	labels  []string
}) *Verification {
	v := &Verification{wrong: map[int64][]string{}}
	for id, a := range assets { // map order: sortByID must order them
		v.ids = append(v.ids, id)
		v.outcome = append(v.outcome, uint8(slices.Index(outcomeNames, a.outcome)))
		v.check = append(v.check, a.check)
		v.set = append(v.set, uint32(len(v.sets)))
		v.sets = append(v.sets, a.labels)
	}
	v.sortByID()
	v.seen = make([]uint8, len(v.ids))
	return v
}

// TestVerification: each check judges the labels listed last; checked
// assets never listed are missing, unchecked ones skipped; the labels at
// fault are named.
func TestVerification(t *testing.T) {
	type a = struct {
		check   uint8
		outcome string
		labels  []string
	}
	v := newTestVerification(map[int64]a{
		9: {checkAbsent, OutcomeReset, []string{"a,b", "env: prod"}},
		3: {checkAbsent, OutcomeReset, []string{"x"}},
		5: {checkPresent, OutcomeRestored, []string{"Zoë", "p/q"}},
		7: {checkExact, OutcomeRestored, []string{"k"}},
		8: {checkExact, OutcomeRestored, []string{"k"}},
		4: {checkNone, OutcomeNotInInventory, nil},
		6: {checkPresent, OutcomeRestored, []string{"gone"}},
	})
	if n := v.Add([]client.Asset{
		{ID: 9, Labels: []string{"edited-later", "env: prod"}}, // a removed label remains
		{ID: 3, Labels: []string{"x"}},                         // first sighting wrong...
		{ID: 5, Labels: []string{"p/q", "Zoë", "new"}},         // all back, extra allowed
		{ID: 7, Labels: []string{"k", "extra"}},                // exact: extra label
		{ID: 8, Labels: []string{"k"}},
		{ID: 4, Labels: []string{"anything"}},
		{ID: 100, Labels: []string{"x"}}, // not the campaign's
	}); n != 6 {
		t.Errorf("Add: %d of the campaign's assets, want 6", n)
	}
	v.Add([]client.Asset{{ID: 3, Labels: nil}}) // ...the overlap's later sighting wins
	want := []VerifyRow{
		{3, OutcomeReset, VerifyOK, []string{"x"}},
		{4, OutcomeNotInInventory, VerifySkipped, []string{}},
		{5, OutcomeRestored, VerifyOK, []string{"Zoë", "p/q"}},
		{6, OutcomeRestored, VerifyMissing, []string{"gone"}},
		{7, OutcomeRestored, VerifyWrong, []string{"+extra"}},
		{8, OutcomeRestored, VerifyOK, []string{"k"}},
		{9, OutcomeReset, VerifyWrong, []string{"env: prod"}},
	}
	var got []VerifyRow
	v.Each(func(r VerifyRow) error { got = append(got, r); return nil })
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].AssetID != want[i].AssetID || got[i].Outcome != want[i].Outcome || got[i].Result != want[i].Result ||
			!slices.Equal(got[i].Labels, want[i].Labels) {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	counts := v.Counts()
	if counts[VerifyOK] != 3 || counts[VerifyWrong] != 2 || counts[VerifyMissing] != 1 || counts[VerifySkipped] != 1 {
		t.Errorf("counts %v, want ok 3 wrong 2 missing 1 skipped 1", counts)
	}
	// A restored asset missing a label names it with "-".
	if bad := v.judge(checkPresent, []string{"a", "b"}, []string{"b"}); !slices.Equal(bad, []string{"-a"}) {
		t.Errorf("judge present: %q, want [-a]", bad)
	}
}

// TestSnapshotPreview: the preview counts the plan's assets found with
// and without labels once each, the ones not listed, and the top labels.
func TestSnapshotPreview(t *testing.T) {
	plan, err := ReadPlan(&Campaign{Mode: ModeDelete, BatchSize: 10}, IDList("--ids", []string{"1", "2", "3", "4"}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(100, 0)
	p := NewSnapshotPreview(plan, start)
	p.Add([]client.Asset{{ID: 1, Labels: []string{"a", "b", "a"}}, {ID: 2}, {ID: 50, Labels: []string{"z"}}})
	p.Add([]client.Asset{{ID: 2, Labels: []string{"late"}}, {ID: 3, Labels: []string{"a"}}}) // 2 again: counted once
	info := p.Info(3, start.Add(2*time.Second))
	if info.Found != 3 || info.WithLabels != 2 || info.WithoutLabels != 1 || info.NotInInventory != 1 ||
		info.Listed != 5 || info.Pages != 3 || info.Elapsed != 2*time.Second {
		t.Errorf("preview %+v, want found 3, with 2, without 1, not in inventory 1, listed 5, 3 pages, 2s", info)
	}
	if want := []LabelCount{{"a", 2}, {"b", 1}}; !slices.Equal(info.TopLabels, want) {
		t.Errorf("top labels %v, want %v", info.TopLabels, want)
	}
}
