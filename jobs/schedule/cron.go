// When a schedule fires and what its firings are called.

package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parseCron parses a 5-field cron expression or a descriptor.
func parseCron(spec string) (next func(time.Time) time.Time, err error) {
	defer func() {
		if r := recover(); r != nil { // robfig/cron panics on some malformed specs
			next, err = nil, fmt.Errorf("cron %q: invalid expression", spec)
		}
	}()
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("missing cron expression (e.g. \"0 3 * * *\")")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, fmt.Errorf("cron %q: set the zone with the timezone field, not in the expression", spec)
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", spec, err)
	}
	switch sc := sched.(type) {
	case cron.ConstantDelaySchedule:
		if d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every"))); err != nil || d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("cron %q: want an interval of whole seconds, at least 1s", spec)
		}
		// Align to multiples of the interval: robfig counts from the time
		// given, which differs between replicas started at different times.
		d := sc.Delay
		return func(t time.Time) time.Time { return t.Truncate(d).Add(d) }, nil
	case *cron.SpecSchedule:
		// The location comes from Schedule.Timezone (see nextAfter).
		return sc.Next, nil
	}
	return sched.Next, nil
}

// nextAfter returns the first fire time after t, in the schedule's zone,
// or the zero time if it never fires again.
func (s *Schedule) nextAfter(t time.Time) time.Time {
	return s.next(t.In(s.loc))
}

// Slug reduces a schedule name to the campaign ID alphabet [A-Za-z0-9._-]
// (other characters become '_') and at most 47 characters, so that
// "<slug>-<fire time>" is a valid campaign ID.
func Slug(name string) string {
	b := make([]byte, 0, min(len(name), maxSlug))
	for _, r := range name {
		if len(b) == maxSlug {
			break
		}
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "schedule"
	}
	return string(b)
}

// CampaignID returns the ID of the campaign a schedule creates for the fire
// time at: "<slug>-20060102T150405Z".
func CampaignID(name string, at time.Time) string {
	return Slug(name) + "-" + at.UTC().Format("20060102T150405Z")
}
