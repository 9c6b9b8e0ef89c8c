// Package memlimit is domain.Limiter in one process's memory: token
// buckets per (rate, key) in the arithmetic of domain.Rate, which the
// cluster-wide limiter (eventstore.Limits) shares. A node uses it when the
// limits bucket cannot be reached, and as that limiter's fallback.
//
// It imports only domain: no storage, no network.
package memlimit

import (
	"context"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// DefaultMaxBuckets bounds a limiter's buckets: ~100 bytes each, so about
// 10 MB at most.
const DefaultMaxBuckets = 100_000

// sweepEvery is how often a limiter drops the buckets that have refilled.
const sweepEvery = time.Minute

// Limiter is domain.Limiter in this process's memory: one token bucket
// per (rate, key), holding the failures still counted against the key,
// in the arithmetic of domain.Rate (WaitAt, FailAt) that the cluster-wide
// limiter shares (eventstore.Limits). A bucket that has refilled
// completely is the same as no bucket, so buckets are dropped once full
// again (swept every minute and before the limit is reached), and at most
// max are kept: past that, arbitrary ones are dropped, forgetting some
// failures rather than growing. It is safe for concurrent use and never
// returns an error.
type Limiter struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	buckets map[bucketKey]time.Time // when each bucket is full again
	swept   time.Time
}

type bucketKey struct{ rate, key string }

// New returns an empty limiter keeping at most max buckets
// (DefaultMaxBuckets when max <= 0), on the clock now.
func New(now func() time.Time, max int) *Limiter {
	if max <= 0 {
		max = DefaultMaxBuckets
	}
	return &Limiter{now: now, max: max, buckets: map[bucketKey]time.Time{}}
}

var _ domain.Limiter = (*Limiter)(nil)

// Wait returns how long until key's bucket under r holds a whole token
// again: 0 when it does (or there is none).
func (l *Limiter) Wait(_ context.Context, r domain.Rate, key string) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return r.WaitAt(l.buckets[bucketKey{r.Name, key}], now), nil
}

// Fail takes a token from key's bucket under r, creating it full. A
// bucket already empty goes into debt (concurrent failures that all
// passed Wait), which the refill pays back first.
func (l *Limiter) Fail(_ context.Context, r domain.Rate, key string) error {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := bucketKey{r.Name, key}
	full, ok := l.buckets[k]
	if !ok {
		l.makeRoom(now)
	}
	l.buckets[k] = r.FailAt(full, now)
	if now.Sub(l.swept) >= sweepEvery {
		l.sweep(now)
	}
	return nil
}

// Reset drops key's bucket under r.
func (l *Limiter) Reset(_ context.Context, r domain.Rate, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, bucketKey{r.Name, key})
	return nil
}

// makeRoom makes sure one more bucket fits: it sweeps at the limit, and
// drops arbitrary buckets when that is not enough. l.mu is held.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.max {
		return
	}
	l.sweep(now)
	for k := range l.buckets {
		if len(l.buckets) < l.max {
			break
		}
		delete(l.buckets, k)
	}
}

// sweep drops the buckets that have refilled. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for k, full := range l.buckets {
		if !full.After(now) {
			delete(l.buckets, k)
		}
	}
	l.swept = now
}

// size returns the number of buckets kept.
func (l *Limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
