package domain

import (
	mathrand "math/rand/v2"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestRateBucket: the bucket arithmetic every Limiter shares, step by
// step: a burst, the wait, refill, debt.
func TestRateBucket(t *testing.T) {
	r := Rate{Name: "r", Burst: 3, Every: 10 * time.Second}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		fail bool
		want time.Duration // WaitAt after the step
	}{
		{0, false, 0},
		{0, true, 0},
		{0, true, 0},
		{0, true, 10 * time.Second},
		{4 * time.Second, false, 6 * time.Second},
		{10 * time.Second, false, 0},
		{10 * time.Second, true, 10 * time.Second},
		{10 * time.Second, true, 20 * time.Second}, // debt
		{25 * time.Second, false, 5 * time.Second},
		{time.Hour, false, 0},
		{time.Hour, true, 0}, // refilled long ago: a fresh bucket
	}
	var full time.Time
	for i, s := range steps {
		now := start.Add(s.at)
		if s.fail {
			full = r.FailAt(full, now)
		}
		if got := r.WaitAt(full, now); got != s.want {
			t.Errorf("step %d (at %v, fail %v): wait %v; want %v", i, s.at, s.fail, got, s.want)
		}
	}
	if got, want := full, start.Add(time.Hour+10*time.Second); !got.Equal(want) {
		t.Errorf("full at %v; want %v", got, want)
	}
}

// TestLongestRefill: the longest refill of the default rates is the
// account's, 100 × 36 s.
func TestLongestRefill(t *testing.T) {
	if got := (Limits{}).LongestRefill(); got != time.Hour {
		t.Errorf("got %v; want 1h", got)
	}
	l := Limits{ClientAddress: Rate{"client-address", 1000, time.Minute}}
	if got := l.LongestRefill(); got != 1000*time.Minute {
		t.Errorf("got %v; want %v", got, 1000*time.Minute)
	}
}

// TestRateBucketMatchesXTimeRate: the shared arithmetic decides as
// golang.org/x/time/rate's token bucket does. Random walks of time and
// failures drive both, a rate.Limiter of the same rate and burst
// (failures as ReserveN, which takes debt past an empty bucket) and the
// one-instant bucket; at every step the wait before the next attempt
// agrees to within a microsecond (x/time/rate counts in floating point).
func TestRateBucketMatchesXTimeRate(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for walk := range 200 {
		r := Rate{Name: "r", Burst: 1 + rng.IntN(20), Every: time.Duration(1+rng.IntN(60_000)) * time.Millisecond}
		lim := rate.NewLimiter(rate.Every(r.Every), r.Burst)
		var full time.Time
		now := start
		for step := range 100 {
			now = now.Add(time.Duration(rng.Int64N(int64(3 * r.Every))))
			if rng.IntN(3) > 0 {
				full = r.FailAt(full, now)
				lim.ReserveN(now, 1)
			}
			want := time.Duration(0)
			if tokens := lim.TokensAt(now); tokens < 1 {
				want = time.Duration((1 - tokens) * float64(r.Every))
			}
			if got := r.WaitAt(full, now); (got - want).Abs() > time.Microsecond {
				t.Fatalf("walk %d step %d (burst %d, every %v): wait %v; x/time/rate's %v", walk, step, r.Burst, r.Every, got, want)
			}
		}
	}
}
