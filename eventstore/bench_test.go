package eventstore

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// BenchmarkAppend measures acknowledged appends of one event and of an
// atomic batch of three, each on a fresh aggregate with ExpectNew, with and
// without fsync before the acknowledgement, from one goroutine and from
// GOMAXPROCS goroutines. Then, with fsync, single-event ExpectAny appends
// (such as AccessTokenCreated) from 16 and 64 goroutines, with group commit
// on (the default, adaptive), off, and forced to one batch per round; these
// also report the latency of an append.
func BenchmarkAppend(b *testing.B) {
	for _, syncAlways := range []bool{false, true} {
		for _, size := range []int{1, 3} {
			for _, parallel := range []bool{false, true} {
				name := fmt.Sprintf("sync=%v/events=%d/parallel=%v", syncAlways, size, parallel)
				b.Run(name, func(b *testing.B) {
					st := openStore(b, startServer(b, ServerOptions{SyncAlways: syncAlways}))
					ctx := testContext(b)
					var n atomic.Int64
					appendOne := func(b *testing.B) {
						i := n.Add(1)
						events := make([]domain.Envelope, size)
						for j := range events {
							events[j] = env(fmt.Sprintf("e%d-%d", i, j), "AccessTokenCreated")
						}
						if _, err := st.Append(ctx, token(fmt.Sprint(i)), domain.ExpectNew, events...); err != nil {
							b.Error(err)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					if parallel {
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								appendOne(b)
							}
						})
					} else {
						for b.Loop() {
							appendOne(b)
						}
					}
					b.ReportMetric(float64(int(n.Load())*size)/b.Elapsed().Seconds(), "events/s")
				})
			}
		}
	}
	for _, goroutines := range []int{16, 64} {
		for _, group := range []string{"on", "off", "batch-always"} {
			b.Run(fmt.Sprintf("sync=true/events=1/expect=any/goroutines=%d/group=%s", goroutines, group), func(b *testing.B) {
				benchmarkGroupCommit(b, goroutines, group)
			})
		}
	}
}

func benchmarkGroupCommit(b *testing.B, goroutines int, group string) {
	srv := startServer(b, ServerOptions{SyncAlways: true})
	st, err := Open(testContext(b), Options{InProcess: srv, DisableGroupCommit: group == "off"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if group == "batch-always" {
		combineAlways(st)
	}
	ctx := testContext(b)
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((goroutines + procs - 1) / procs)
	var n atomic.Int64
	var mu sync.Mutex
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := n.Add(1)
			start := time.Now()
			if _, err := st.Append(ctx, token(fmt.Sprint(i)), domain.ExpectAny, env(fmt.Sprint("e", i), "AccessTokenCreated")); err != nil {
				b.Error(err)
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		took = append(took, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "events/s")
	if st.commits != nil {
		b.ReportMetric(float64(commitStatsOf(st).Batched)/float64(n.Load()), "batched-share")
	}
	if len(took) > 0 {
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkReplay measures replaying a log of 100,000 events, whole and
// filtered to one event type of three.
func BenchmarkReplay(b *testing.B) {
	const total, batch = 100_000, 500
	st := openStore(b, startServer(b, ServerOptions{}))
	types := []string{"AccessTokenCreated", "RefreshTokenCreated", "AccessTokenRevoked"}
	for i := range total / batch {
		events := make([]domain.Envelope, batch)
		for j := range events {
			events[j] = env(fmt.Sprintf("e%d-%d", i, j), types[j%len(types)])
		}
		mustAppend(b, st, token(fmt.Sprint(i)), domain.ExpectAny, events...)
	}
	for _, filter := range []string{"", "stamp.*.*.RefreshTokenCreated"} {
		b.Run("filter="+filter, func(b *testing.B) {
			ctx := testContext(b)
			var n int
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := st.Replay(ctx, 0, filter, func(domain.Recorded) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkLoad measures loading one aggregate from a log of 30,000 events:
// "contiguous" aggregates were appended as one batch of five events of one
// type; "interleaved" ones, like tokens, got a created event, then 10,000
// other events later a revoked one.
func BenchmarkLoad(b *testing.B) {
	const aggs = 10_000
	st := openStore(b, startServer(b, ServerOptions{}))
	for i := range aggs / 5 {
		events := make([]domain.Envelope, 5)
		for j := range events {
			events[j] = env(fmt.Sprintf("c%d-%d", i, j), "ClientUpdated")
		}
		mustAppend(b, st, client(fmt.Sprint(i)), domain.ExpectAny, events...)
	}
	// Interleaved: each token's revocation trails its creation by 10,000
	// events.
	const lag = 10_000
	for i := range aggs + lag {
		if i < aggs {
			mustAppend(b, st, token(fmt.Sprint(i)), domain.ExpectAny, env(fmt.Sprintf("t%d-c", i), "AccessTokenCreated"))
		}
		if j := i - lag; j >= 0 {
			mustAppend(b, st, token(fmt.Sprint(j)), domain.ExpectAny, env(fmt.Sprintf("t%d-r", j), "AccessTokenRevoked"))
		}
	}
	if n, _ := st.LastSeq(testContext(b)); n < 20_000 {
		b.Fatalf("log of %d events", n)
	}
	for _, layout := range []struct {
		name string
		agg  func(int) domain.Aggregate
		n    int
		mod  int
	}{
		{"contiguous", func(i int) domain.Aggregate { return client(fmt.Sprint(i)) }, 5, aggs / 5},
		{"interleaved", func(i int) domain.Aggregate { return token(fmt.Sprint(i)) }, 2, aggs},
	} {
		b.Run(layout.name, func(b *testing.B) {
			ctx := testContext(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				recs, err := st.Load(ctx, layout.agg(i*7919%layout.mod))
				if err != nil || len(recs) != layout.n {
					b.Fatalf("Load = %d events, %v", len(recs), err)
				}
			}
		})
	}
}

// BenchmarkAppendSigning measures what the log signature costs an append:
// single-event appends on fresh aggregates from GOMAXPROCS goroutines,
// without fsync (so the signing is not hidden behind the disk), with a
// LogKey and without, in one run.
func BenchmarkAppendSigning(b *testing.B) {
	key := newLogKey(b)
	for _, signing := range []bool{false, true} {
		b.Run(fmt.Sprintf("signing=%v", signing), func(b *testing.B) {
			opts := Options{InProcess: startServer(b, ServerOptions{})}
			if signing {
				opts.LogKey = key
			}
			st := openWith(b, opts)
			ctx := testContext(b)
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if _, err := st.Append(ctx, token(fmt.Sprint(i)), domain.ExpectNew, env(fmt.Sprint("e", i), "AccessTokenCreated")); err != nil {
						b.Error(err)
					}
				}
			})
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReplayVerify measures replaying a log of 100,000 signed events
// without signature verification (verify=false: a reader trusting no key,
// the raw replay rate), verifying each event's signature (verify=true),
// and verifying by the log's checkpoints, one signature per 10,000
// events (checkpoints: ReadOptions.TrustCheckpoints, as a rebuild reads),
// in one run on the same stream. The latter two report their rate as a
// ratio of the raw one (x-raw; the rebuild's limit is 0.8): checkpoints
// against raw replays run alternately with its own (not timed), so the
// ratio holds on a machine whose load varies; each replay starts on a
// collected heap. checkpoints also reports
// how fast the checkpoint writer verified the log (writer-events/s).
//
//	go test ./eventstore/ -run '^$' -bench BenchmarkReplayVerify -benchtime 6x
func BenchmarkReplayVerify(b *testing.B) {
	const total, batch, every = 100_000, 500, 10_000
	key := newLogKey(b)
	srv := startServer(b, ServerOptions{})
	st := openWith(b, Options{InProcess: srv, LogKey: key})
	for i := range total / batch {
		events := make([]domain.Envelope, batch)
		for j := range events {
			events[j] = env(fmt.Sprintf("e%d-%d", i, j), "AccessTokenCreated")
		}
		mustAppend(b, st, token(fmt.Sprint(i)), domain.ExpectAny, events...)
	}
	// The checkpoint writer verifies the log and checkpoints it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { st.WriteCheckpoints(ctx, every) })
	for {
		chain, err := st.loadCheckpoints(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if chain.next() > total {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("checkpoints cover up to %d of %d", chain.next()-1, total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	writerRate := float64(total) / time.Since(start).Seconds()
	cancel()
	wg.Wait()

	raw := openWith(b, Options{InProcess: srv})
	trusted := []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	var rawRate float64
	for _, mode := range []string{"verify=false", "verify=true", "checkpoints"} {
		b.Run(mode, func(b *testing.B) {
			reader := raw
			if mode != "verify=false" {
				reader = openWith(b, Options{InProcess: srv, TrustedLogKeys: trusted})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			replay := func(st *Store, ro ReadOptions) (int, time.Duration) {
				// Each replay starts on a collected heap, not paying for
				// the garbage of the one before.
				b.StopTimer()
				runtime.GC()
				if st == reader {
					b.StartTimer()
				}
				n, start := 0, time.Now()
				if err := st.Read(ctx, ro, func(r domain.Recorded) error {
					n++
					if r.Refused != "" {
						return fmt.Errorf("sequence %d refused: %s", r.Seq, r.Refused)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				return n, time.Since(start)
			}
			// The checkpointed replays alternate with raw ones, so that
			// their ratio holds on a machine whose load varies.
			var n int
			var took, rawTook time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// Which of the two goes first alternates too.
				if mode == "checkpoints" && i%2 == 1 { // untimed
					_, d := replay(raw, ReadOptions{})
					rawTook += d
				}
				k, d := replay(reader, ReadOptions{TrustCheckpoints: mode == "checkpoints"})
				n, took = n+k, took+d
				if mode == "checkpoints" && i%2 == 0 { // untimed
					_, d := replay(raw, ReadOptions{})
					rawTook += d
					b.StartTimer()
				}
			}
			rate := float64(n) / took.Seconds()
			b.ReportMetric(rate, "events/s")
			switch {
			case mode == "verify=false":
				rawRate = rate
			case mode == "checkpoints":
				b.ReportMetric(rawTook.Seconds()/took.Seconds(), "x-raw")
				b.ReportMetric(writerRate, "writer-events/s")
				if h := reader.LogSigning().Hashed; h < uint64(n)*9/10 {
					b.Fatalf("%d of %d events accepted by digest; want nearly all", h, n)
				}
			case rawRate > 0:
				b.ReportMetric(rate/rawRate, "x-raw")
			}
		})
	}
}
