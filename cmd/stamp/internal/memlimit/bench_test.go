package memlimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The per-process limiter's costs, to set beside eventstore's
// BenchmarkLimiterWait and BenchmarkLimiterFail (the cluster's).
var benchRate = domain.Rate{Name: "pair", Burst: 3, Every: time.Minute}

func BenchmarkLocalLimiterWait(b *testing.B) {
	l := New(time.Now, DefaultMaxBuckets)
	ctx := context.Background()
	for i := range 1000 {
		l.Fail(ctx, benchRate, fmt.Sprint("key-", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Wait(ctx, benchRate, fmt.Sprint("key-", i%2000))
			i++
		}
	})
}

func BenchmarkLocalLimiterFail(b *testing.B) {
	l := New(time.Now, DefaultMaxBuckets)
	ctx := context.Background()
	b.ReportAllocs()
	for i := range b.N {
		l.Fail(ctx, benchRate, fmt.Sprint("key-", i%100))
	}
}
