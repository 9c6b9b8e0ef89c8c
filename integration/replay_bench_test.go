package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// BenchmarkReplay measures, on one stream in one run, how fast the read
// models are rebuilt beside how fast the log itself can be read:
//
//	js-events/s       a bare JetStream ordered consumer, no decoding
//	replay-events/s   eventstore's Replay with a no-op fn (envelopes decoded)
//	rebuild-events/s  projections.Rebuild into a fresh directory on disk
//	rebuild/js, rebuild/replay  the rebuild's share of those rates
//	rebuild-s         seconds per rebuild
//	rebuild-peak-rss-MB   the process's peak resident memory during a
//	                  rebuild (VmHWM, reset before it; Linux only). The
//	                  process holds the embedded NATS server too.
//	rebuild-peak-heap-MB  the Go heap's peak during a rebuild, sampled
//	                  every 10ms, garbage not yet collected included
//	base-heap-MB      the live Go heap just before a rebuild: mostly the
//	                  embedded NATS server's per-subject state (one subject
//	                  per token), which a running stamp serve holds too
//
// The stream holds STAMP_BENCH_EVENTS events (default 100,000): access
// tokens, every fourth one revoked. Appending them is setup, not measured.
// For the figure:
//
//	STAMP_BENCH_EVENTS=1000000 go test ./integration/ -run '^$' -bench BenchmarkReplay -benchtime 1x -timeout 30m
func BenchmarkReplay(b *testing.B) {
	events := benchEvents(b, 100_000)
	ctx := context.Background()
	dir, srv := startBenchServer(b)
	store, err := eventstore.Open(ctx, eventstore.Options{InProcess: srv})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	last := appendTokens(b, store, "bench-client", events)
	b.Logf("appended %d events in %s", events, time.Since(start).Round(time.Millisecond))

	js := benchReaderJS(b, srv)

	var jsTime, replayTime, rebuildTime time.Duration
	var peakHeap, peakRSS, baseHeap uint64
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if n := readJetStream(b, ctx, js, last); n != last {
			b.Fatalf("JetStream delivered %d messages; want %d", n, last)
		}
		t1 := time.Now()
		var n uint64
		if err := store.Replay(ctx, 0, domain.SubjectRoot+".>", func(domain.Recorded) error {
			n++
			return nil
		}); err != nil || n != last {
			b.Fatalf("Replay delivered %d events, %v; want %d", n, err, last)
		}
		replayTime += time.Since(t1)
		jsTime += t1.Sub(t0)
		resetPeakRSS()
		baseHeap = max(baseHeap, liveHeap())
		stopSampling := sampleHeap(&peakHeap)
		t2 := time.Now()
		fresh, err := projections.Rebuild(ctx, filepath.Join(dir, fmt.Sprintf("projections-%d", i)), projections.Options{}, store, nil)
		rebuildTime += time.Since(t2)
		stopSampling()
		if rss, ok := readPeakRSS(); ok {
			peakRSS = max(peakRSS, rss)
		}
		closeRebuilt(b, "the rebuild", fresh, err, last)
		b.StopTimer()
		os.RemoveAll(filepath.Join(dir, fmt.Sprintf("projections-%d", i)))
		b.StartTimer()
	}
	total := float64(last) * float64(b.N)
	rate := func(d time.Duration) float64 { return total / d.Seconds() }
	b.ReportMetric(rate(jsTime), "js-events/s")
	b.ReportMetric(rate(replayTime), "replay-events/s")
	b.ReportMetric(rate(rebuildTime), "rebuild-events/s")
	b.ReportMetric(jsTime.Seconds()/rebuildTime.Seconds(), "rebuild/js")
	b.ReportMetric(replayTime.Seconds()/rebuildTime.Seconds(), "rebuild/replay")
	b.ReportMetric(rebuildTime.Seconds()/float64(b.N), "rebuild-s")
	if peakRSS > 0 {
		b.ReportMetric(float64(peakRSS)/(1<<20), "rebuild-peak-rss-MB")
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "rebuild-peak-heap-MB")
	b.ReportMetric(float64(baseHeap)/(1<<20), "base-heap-MB")
}

// readJetStream reads the STAMP stream up to sequence last with a bare
// ordered consumer, as a plain NATS client would, and returns how many
// messages it got.
func readJetStream(tb testing.TB, ctx context.Context, js jetstream.JetStream, last uint64) uint64 {
	tb.Helper()
	cons, err := js.OrderedConsumer(ctx, domain.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Stop()
	var n uint64
	for {
		msg, err := it.Next()
		if err != nil {
			tb.Fatal(err)
		}
		n++
		meta, err := msg.Metadata()
		if err != nil {
			tb.Fatal(err)
		}
		if meta.Sequence.Stream >= last {
			return n
		}
	}
}

// sampleHeap records the Go heap's peak into *peak until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	const name = "/memory/classes/heap/objects:bytes"
	sample := []metrics.Sample{{Name: name}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value; v.Kind() == metrics.KindUint64 {
			*peak = max(*peak, v.Uint64())
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-t.C:
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		read()
	}
}

// liveHeap returns the bytes of live heap objects, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// resetPeakRSS resets the process's peak resident set size (Linux: write
// 5 to /proc/self/clear_refs); elsewhere it does nothing.
func resetPeakRSS() {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// readPeakRSS returns the process's peak resident set size since the last
// reset (Linux: VmHWM in /proc/self/status).
func readPeakRSS() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
