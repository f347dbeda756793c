package client

import (
	"context"
	"slices"
	"testing"

	"github.com/labelreset/labelreset/client/pdcpfake"
)

// sorted returns a sorted copy, to compare label sets.
func sorted(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}

func TestAddLabelsAppends(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 5, Seed: 1})
	defer srv.Close()
	f := srv.Fake()
	c := newTestClient(t, srv.URL())
	ctx := context.Background()
	before, _ := f.Labels(2)
	add := []string{"owner: Zoë", "a,b", before[0], `say "hi"`, "Ünïcødé 标签"}
	if res := c.AddLabels(ctx, 2, add); res.Outcome != OutcomeReset || res.Status != 200 {
		t.Fatalf("AddLabels: %v", res)
	}
	got, _ := f.Labels(2)
	want := append(slices.Clone(before), "owner: Zoë", "a,b", `say "hi"`, "Ünïcødé 标签")
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("after AddLabels: %q, want the old %q plus the new ones once", got, before)
	}
	// Repeating it is harmless; an empty list changes nothing.
	c.AddLabels(ctx, 2, add)
	c.AddLabels(ctx, 2, nil)
	if again, _ := f.Labels(2); !slices.Equal(sorted(again), sorted(want)) {
		t.Errorf("after repeating AddLabels: %q", again)
	}
	if other, _ := f.Labels(3); len(other) != 3 {
		t.Errorf("asset 3 touched: %q", other)
	}
	if res := c.AddLabels(ctx, 99, []string{"x"}); res.Outcome != OutcomeNotFound {
		t.Errorf("AddLabels of an unknown asset: %v, want not found", res)
	}
}

func TestReplaceLabelsSetsExactly(t *testing.T) {
	srv := pdcpfake.NewServer(pdcpfake.Options{APIKey: testKey, Assets: 5, Seed: 1, Labels: pdcpfake.LabelsVaried})
	defer srv.Close()
	f := srv.Fake()
	c := newTestClient(t, srv.URL())
	ctx := context.Background()
	// Someone labelled the asset after the reset; replace drops that.
	c.DeleteLabels(ctx, 1)
	c.AddLabels(ctx, 1, []string{"edited-later"})
	want := []string{"path/to/x", "owner: Zoë", "env:prod", "a,b"}
	if res := c.ReplaceLabels(ctx, 1, want); res.Outcome != OutcomeReset || res.Status != 200 {
		t.Fatalf("ReplaceLabels: %v", res)
	}
	if got, _ := f.Labels(1); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("after ReplaceLabels: %q, want exactly %q", got, want)
	}
	// nil replaces with the empty set: the asset had no labels.
	if res := c.ReplaceLabels(ctx, 1, nil); res.Outcome != OutcomeReset {
		t.Fatalf("ReplaceLabels(nil): %v", res)
	}
	if got, _ := f.Labels(1); len(got) != 0 {
		t.Errorf("after ReplaceLabels(nil): %q, want none", got)
	}
	if res := c.ReplaceLabels(ctx, 99, want); res.Outcome != OutcomeNotFound {
		t.Errorf("ReplaceLabels of an unknown asset: %v, want not found", res)
	}
}
