package jobs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/labelreset/labelreset/jobs"
)

// TestLabelsBounded: --labels (ParseLabelList) and every campaign
// definition (Validate, used by submit, run, the API and the scheduler)
// refuse more than MaxLabels labels or a label over MaxLabelLen bytes.
func TestLabelsBounded(t *testing.T) {
	many := strings.TrimSuffix(strings.Repeat("a,", jobs.MaxLabels+1), ",")
	if _, err := jobs.ParseLabelList(many); !errors.Is(err, jobs.ErrTooManyLabels) {
		t.Errorf("ParseLabelList of %d labels: %v, want ErrTooManyLabels", jobs.MaxLabels+1, err)
	}
	if _, err := jobs.ParseLabelList(strings.Repeat(",", 1<<20) + "a"); !errors.Is(err, jobs.ErrTooManyLabels) {
		t.Errorf("ParseLabelList of 1M empty items: %v, want ErrTooManyLabels", err)
	}
	if _, err := jobs.ParseLabelList(strings.Repeat("x", jobs.MaxLabelLen+1)); err == nil || !strings.Contains(err.Error(), "at most 256") {
		t.Errorf("ParseLabelList of a %d-byte label: %v, want an error naming the limit", jobs.MaxLabelLen+1, err)
	}
	if l, err := jobs.ParseLabelList(strings.TrimSuffix(strings.Repeat("a,", jobs.MaxLabels), ",")); err != nil || len(l) != jobs.MaxLabels {
		t.Errorf("ParseLabelList of %d labels: %d, %v", jobs.MaxLabels, len(l), err)
	}
	def := func(n int) *jobs.Campaign {
		return &jobs.Campaign{ID: "lb", Mode: jobs.ModeRemove, Labels: strings.Split(many, ",")[:n],
			Priority: jobs.PriorityNormal, BatchSize: 100, CreatedAt: time.Now()}
	}
	if err := def(jobs.MaxLabels + 1).Validate(); !errors.Is(err, jobs.ErrTooManyLabels) {
		t.Errorf("Validate with %d labels: %v, want ErrTooManyLabels", jobs.MaxLabels+1, err)
	}
	if err := def(jobs.MaxLabels).Validate(); errors.Is(err, jobs.ErrTooManyLabels) {
		t.Errorf("Validate with %d labels: %v", jobs.MaxLabels, err)
	}
}
