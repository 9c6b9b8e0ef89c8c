package app

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter rate-limits password attempts per key (an account, a client
// address) with a token bucket each; buckets idle for an hour are
// dropped. It is safe for concurrent use.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	every   time.Duration
	burst   int
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newLimiter allows burst attempts at once per key, then one per every.
func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{buckets: map[string]*bucket{}, every: every, burst: burst}
}

func (l *limiter) Allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > time.Hour {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
