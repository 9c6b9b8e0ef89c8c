package memlimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestLimiter: each step acts on the limiter at a time (an offset from
// the start) and checks the wait Wait reports afterwards.
func TestLimiter(t *testing.T) {
	pair := domain.Rate{Name: "pair", Burst: 3, Every: 10 * time.Second}
	wide := domain.Rate{Name: "wide", Burst: 5, Every: time.Minute}
	type step struct {
		at   time.Duration
		op   string // "fail", "reset" or "" (only check)
		rate domain.Rate
		key  string
		want time.Duration // Wait after op
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"unknown key may go", []step{{0, "", pair, "a", 0}}},
		{"burst of failures, then a wait", []step{
			{0, "fail", pair, "a", 0},
			{0, "fail", pair, "a", 0},
			{0, "fail", pair, "a", 10 * time.Second},
			{4 * time.Second, "", pair, "a", 6 * time.Second},
			{10 * time.Second, "", pair, "a", 0},
			{10 * time.Second, "fail", pair, "a", 10 * time.Second},
		}},
		{"keys apart", []step{
			{0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 10 * time.Second},
			{0, "", pair, "b", 0},
		}},
		{"rates apart: the same key is another bucket", []step{
			{0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 10 * time.Second},
			{0, "", wide, "a", 0},
		}},
		{"reset forgets", []step{
			{0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 10 * time.Second},
			{time.Second, "reset", pair, "a", 0},
			{time.Second, "fail", pair, "a", 0},
		}},
		{"failures past empty are debt", []step{
			{0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 0}, {0, "fail", pair, "a", 10 * time.Second},
			{0, "fail", pair, "a", 20 * time.Second},
			{0, "fail", pair, "a", 30 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			l := New(func() time.Time { return now }, 100)
			ctx := context.Background()
			for i, s := range tt.steps {
				now = start.Add(s.at)
				switch s.op {
				case "fail":
					l.Fail(ctx, s.rate, s.key)
				case "reset":
					l.Reset(ctx, s.rate, s.key)
				}
				got, err := l.Wait(ctx, s.rate, s.key)
				if err != nil || got != s.want {
					t.Errorf("step %d (%s %s %s at %v): wait %v, %v; want %v", i, s.op, s.rate.Name, s.key, s.at, got, err, s.want)
				}
			}
		})
	}
}

// TestLimiterMemoryBounded: refilled buckets are swept, and the number
// of buckets never passes the maximum.
func TestLimiterMemoryBounded(t *testing.T) {
	r := domain.Rate{Name: "r", Burst: 2, Every: time.Second}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	l := New(func() time.Time { return now }, 50)
	ctx := context.Background()
	for i := range 500 {
		l.Fail(ctx, r, fmt.Sprint("key-", i))
		if l.size() > 50 {
			t.Fatalf("after %d keys: %d buckets; want at most 50", i+1, l.size())
		}
	}
	for i := range 10 {
		l.Fail(ctx, r, fmt.Sprint("spent-", i))
		l.Fail(ctx, r, fmt.Sprint("spent-", i))
	}
	if w, _ := l.Wait(ctx, r, "spent-9"); w == 0 {
		t.Fatalf("a spent key may go; want a wait")
	}
	now = start.Add(2 * sweepEvery)
	l.Fail(ctx, r, "late") // sweeps: every other bucket has refilled
	if got := l.size(); got != 1 {
		t.Errorf("after a sweep: %d buckets; want only the new one", got)
	}
}
