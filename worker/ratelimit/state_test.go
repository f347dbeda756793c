package ratelimit

import (
	"testing"
	"time"
)

func TestReadStateSeesTheSharedRateAndPauseWithoutTakingATokenOrWriting(t *testing.T) {
	tr := setup(t)
	cfg := Config{Rate: 100, AIMD: true}
	lim, _ := tr.limiter(t, cfg)
	reader, _ := tr.client(t)
	cfg.Key = tr.key

	st, err := ReadState(t.Context(), reader, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rate != 100 || st.EffectiveRate != 100 || !st.PausedUntil.IsZero() {
		t.Fatalf("idle limiter: %+v, want rate 100, effective 100, no pause", st)
	}
	// Reading writes nothing: an idle limiter still leaves no key.
	if ks := reader.Keys(t.Context(), "lr:rl:{"+tr.key+"}:*").Val(); len(ks) != 0 {
		t.Fatalf("keys after a read of an idle limiter: %v", ks)
	}

	lim.Throttled(t.Context())
	until := time.Now().Add(3 * time.Second)
	if err := lim.PauseUntil(t.Context(), until); err != nil {
		t.Fatal(err)
	}
	st, err = ReadState(t.Context(), reader, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One decrease by the default factor 0.85, and AIMD's climb back of
	// 2/s per second since: well below 100 for the test's duration.
	if st.EffectiveRate < 84 || st.EffectiveRate > 95 {
		t.Errorf("effective rate after a 429: %v, want about 85", st.EffectiveRate)
	}
	if d := st.PausedUntil.Sub(until); d < -time.Second || d > time.Second {
		t.Errorf("paused until %v, want about %v", st.PausedUntil, until)
	}
	if _, err := ReadState(t.Context(), reader, Config{Key: "bad{key}"}); err == nil {
		t.Error("a key with a hash tag brace was accepted")
	}
}
