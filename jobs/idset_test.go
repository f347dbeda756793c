package jobs

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestReadPlanCountsAcrossMerges: the plan's valid and duplicate counts
// and its ID set match a map, for scattered and consecutive IDs spanning
// several buffer merges, duplicates far apart included.
func TestReadPlanCountsAcrossMerges(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var vals []string
	want := map[int64]bool{}
	for i := range 300_000 {
		var id int64
		switch {
		case i%3 == 0:
			id = 1 + r.Int64N(1<<50) // scattered
		case i%3 == 1:
			id = int64(i) // consecutive
		default:
			id = int64(r.IntN(i) + 1) // often a duplicate of an earlier ID
		}
		want[id] = true
		vals = append(vals, strconv.FormatInt(id, 10))
	}
	p, err := ReadPlan(&Campaign{BatchSize: 100}, IDList("ids", vals))
	if err != nil {
		t.Fatal(err)
	}
	if p.Valid != int64(len(want)) || p.Duplicates != int64(len(vals)-len(want)) || p.ids.Len() != p.Valid {
		t.Fatalf("valid %d duplicates %d set %d, want %d and %d", p.Valid, p.Duplicates, p.ids.Len(), len(want), len(vals)-len(want))
	}
	for id := range want {
		if !p.ids.Contains(id) {
			t.Fatalf("set lacks %d", id)
		}
	}
}

// TestReadPlanBudget: scattered IDs pass a small budget and are refused
// with an *OverBudgetError; as many consecutive IDs fit.
func TestReadPlanBudget(t *testing.T) {
	var sparse, dense []string
	for i := 1; i <= 200_000; i++ {
		sparse = append(sparse, strconv.FormatInt(int64(i)<<32, 10))
		dense = append(dense, strconv.Itoa(i))
	}
	_, err := ReadPlanBudget(&Campaign{BatchSize: 100}, IDList("ids", sparse), 4<<20)
	var ob *OverBudgetError
	if !errors.As(err, &ob) || !errors.Is(err, ErrOverMemoryBudget) || ob.Budget != 4<<20 {
		t.Fatalf("200,000 scattered IDs in 4 MiB: %v, want an *OverBudgetError", err)
	}
	if p, err := ReadPlanBudget(&Campaign{BatchSize: 100}, IDList("ids", dense), 4<<20); err != nil || p.Valid != 200_000 {
		t.Fatalf("200,000 consecutive IDs in 4 MiB: %v", err)
	}
}
