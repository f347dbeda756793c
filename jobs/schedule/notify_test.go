package schedule_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/labelreset/labelreset/jobs/notify"
	"github.com/labelreset/labelreset/jobs/schedule"
)

// TestScheduleNotify: a schedule's notify names reach its campaigns; a
// name the process does not know refuses the configuration, naming it.
func TestScheduleNotify(t *testing.T) {
	h := newHarness(t)
	h.file("ids.csv", "1\n2\n3\n")
	cfg := h.config(`
schedules:
  - name: hooked
    cron: "0 3 * * *"
    notify: [ops]
    source: {csv: {path: ids.csv}}
`)
	known := &notify.Config{Notifiers: []notify.Notifier{{Name: "ops", URL: "https://hooks.example.com/ops", Secret: "s"}}}
	s, _ := h.scheduler(cfg, func(o *schedule.Options) { o.Notifiers = known })
	camp, err := s.Fire(context.Background(), "hooked", fireTime)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.store.Get(context.Background(), camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Notify, []string{"ops"}) {
		t.Errorf("campaign notify %v, want [ops]", got.Notify)
	}

	_, err = schedule.New(cfg, schedule.Options{Store: h.store})
	if !errors.Is(err, notify.ErrUnknownNotifier) || !strings.Contains(err.Error(), `"hooked"`) {
		t.Errorf("New without the notifier: %v, want ErrUnknownNotifier naming the schedule", err)
	}
	_, err = schedule.ParseConfig("s.yaml", []byte("schedules:\n  - name: bad\n    cron: \"0 3 * * *\"\n    notify: [Ops]\n    source: {csv: {path: ids.csv}}\n"))
	if err == nil || !strings.Contains(err.Error(), "notify") {
		t.Errorf("ParseConfig of a bad notifier name: %v, want an error naming notify", err)
	}
}
