package jobs_test

import (
	"context"
	"slices"
	"testing"

	"github.com/labelreset/labelreset/client"
	"github.com/labelreset/labelreset/jobs"
)

// verifyRows runs a verification of c with opts over page and returns its
// rows by asset ID.
func verifyRows(t *testing.T, store *jobs.Store, c *jobs.Campaign, opts jobs.VerifyOptions, page []client.Asset) (map[int64]jobs.VerifyRow, map[string]int64) {
	t.Helper()
	v, err := store.NewVerification(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	v.Add(page)
	rows := map[int64]jobs.VerifyRow{}
	v.Each(func(r jobs.VerifyRow) error { rows[r.AssetID] = r; return nil })
	return rows, v.Counts()
}

// TestVerifyExactOfNonExactRestore: verify --exact of a restore that was
// not exact judges what the restore put back. Of a remove-mode source it
// put back only the removed labels, so the asset's untouched labels are
// not wrong; of a delete-mode source it put back the whole set, so a label
// added since is.
func TestVerifyExactOfNonExactRestore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		mode   jobs.Mode
		labels []string
		want   string
		bad    []string
	}{
		{jobs.ModeRemove, []string{"a"}, jobs.VerifyOK, []string{"a", "b"}},
		{jobs.ModeDelete, nil, jobs.VerifyWrong, []string{"+extra"}},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			store := newUndoStore(t)
			assets := map[int64]undoAsset{1: {labels: []string{"a", "b"}, listed: true, outcome: jobs.OutcomeReset, attempts: 1}}
			undoSource(t, store, undoDef("src", tc.mode, tc.labels...), assets, jobs.SubmitOptions{Approved: true})
			res, _, err := store.Undo(ctx, "src", jobs.UndoOptions{Submit: jobs.SubmitOptions{Approved: true}})
			if err != nil {
				t.Fatal(err)
			}
			rc := res.Campaign
			recordOutcomes(t, store, rc.ID, rc.BatchSize, []int64{1}, map[int64]undoAsset{1: {outcome: jobs.OutcomeRestored, attempts: 1}})
			page := []client.Asset{{ID: 1, Labels: []string{"a", "b"}}}
			if tc.mode == jobs.ModeDelete {
				page[0].Labels = append(page[0].Labels, "extra")
			}
			rows, _ := verifyRows(t, store, rc, jobs.VerifyOptions{Exact: true}, page)
			got := rows[1]
			if got.Result != tc.want || (tc.want == jobs.VerifyWrong && !slices.Equal(got.Labels, tc.bad)) {
				t.Errorf("verify --exact of the non-exact restore of a %s campaign: got %+v, want %s %q", tc.mode, got, tc.want, tc.bad)
			}
		})
	}
}

// TestVerifyResetWithoutKnownLabels: an asset a delete campaign reset but
// whose snapshot holds no label (it had none; --reset-unlisted reset it
// though the listing missed it) is "unchecked", not "ok", and counted
// apart.
func TestVerifyResetWithoutKnownLabels(t *testing.T) {
	store := newUndoStore(t)
	src := undoSource(t, store, undoDef("src", jobs.ModeDelete), outcomeFixture(), jobs.SubmitOptions{Approved: true})
	var page []client.Asset
	for id := range outcomeFixture() {
		page = append(page, client.Asset{ID: id})
	}
	rows, counts := verifyRows(t, store, src, jobs.VerifyOptions{}, page)
	for id, want := range map[int64]string{1: jobs.VerifyOK, 2: jobs.VerifyUnchecked, 11: jobs.VerifyUnchecked, 8: jobs.VerifySkipped} {
		if got := rows[id].Result; got != want {
			t.Errorf("asset %d: got %s, want %s", id, got, want)
		}
	}
	if counts[jobs.VerifyUnchecked] != 2 || counts[jobs.VerifyOK] != 3 {
		t.Errorf("counts %v, want unchecked 2, ok 3 (assets 1, 9, 12)", counts)
	}
}

// TestUndoPlanNotRestorable: an asset the source reset although its
// snapshot did not find it (--reset-unlisted) has no recorded labels, and
// the undo plan counts it as not restorable; an unlisted asset never
// called is not counted.
func TestUndoPlanNotRestorable(t *testing.T) {
	store := newUndoStore(t)
	def := undoDef("src", jobs.ModeDelete)
	def.ResetUnlisted = true
	undoSource(t, store, def, outcomeFixture(), jobs.SubmitOptions{Approved: true})
	plan, err := store.PlanUndo(context.Background(), "src", false)
	if err != nil {
		t.Fatal(err)
	}
	if plan.NotRestorable != 1 {
		t.Errorf("plan %+v: not restorable %d, want 1 (asset 11)", plan, plan.NotRestorable)
	}
}
