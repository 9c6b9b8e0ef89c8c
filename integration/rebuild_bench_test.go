package integration

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// The rebuild's limits, printed beside the figures.
const (
	rebuildRatioLimit  = 0.8       // rebuild rate / raw JetStream rate, at least
	rebuildPeakRSSMax  = 256 << 20 // peak RSS of a rebuild of 1,000,000 events, at most
	rebuildStartupMax  = 2.0       // seconds from open to ready, at most (10M events)
	rebuildBenchEvents = 100_000   // STAMP_BENCH_EVENTS when unset
)

// BenchmarkRebuildSigned measures, in one run on one signed stream, the raw
// JetStream replay rate (a bare ordered consumer, no decoding), the rate of
// projections.Rebuild with every log signature checked (the Store has the
// log-signing key, as a server does), the rate of the same rebuild reading
// as a server's stamp replay does, trusting the log's signed checkpoints
// (eventstore.Checkpointed; the store's checkpoint writer covers the log
// first, one checkpoint per 10,000 events), each rate's ratio to the raw
// one, the process's peak RSS
// during the rebuild (it holds the embedded NATS server too), and the time
// from opening the rebuilt read models to ready (open, verify, catch up),
// as a server's start does. Each figure is printed beside its limit.
//
// The stream holds STAMP_BENCH_EVENTS events (default 100,000), appended
// as setup with asynchronous publishes in windows, signed as a Store
// signs them: access tokens, every fourth one revoked.
//
//	STAMP_BENCH_EVENTS=1000000 go test ./integration/ -run '^$' -bench BenchmarkRebuildSigned -benchtime 1x -timeout 30m
func BenchmarkRebuildSigned(b *testing.B) {
	events := benchEvents(b, rebuildBenchEvents)
	ctx := context.Background()
	dir, srv := startBenchServer(b)
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	// The setup appends the whole log within a minute or two; with the
	// default duplicate window of two minutes the server would still hold
	// every one of its message ids while the rebuild runs, which a server
	// appending at a steady rate does not (it holds its last two minutes'
	// ids, following its rate, not the history). A one-second window lets
	// the measurement see the rebuild's own memory.
	store, err := eventstore.Open(ctx, eventstore.Options{InProcess: srv, LogKey: key, DuplicateWindow: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	start := time.Now()
	last := bulkAppendSigned(b, srv, key, events)
	b.Logf("appended %d signed events in %s", events, time.Since(start).Round(time.Millisecond))

	js := benchReaderJS(b, srv)

	// The server's checkpoint writer verifies the log once and signs one
	// checkpoint per 10,000 events (log_checkpoint_interval's default),
	// so a rebuild can trust the ranges instead of checking every
	// signature; the writer's own rate is printed.
	t0 := time.Now()
	covered := writeCheckpointsUpTo(b, ctx, store, js, last, 10_000)
	b.Logf("checkpoint writer verified and covered %d of %d events at %.0f events/s", covered, last, float64(covered)/time.Since(t0).Seconds())
	// The checkpoints are events of the log too.
	if last, err = store.LastSeq(ctx); err != nil {
		b.Fatal(err)
	}

	var jsTime, rebuildTime, ckptTime, startup, firstStart time.Duration
	var snap snapshotFigures
	var peakRSS, baseRSS, ckptPeakRSS uint64
	var peak peakSample
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if n := readJetStream(b, ctx, js, last); n != last {
			b.Fatalf("JetStream delivered %d messages; want %d", n, last)
		}
		jsTime += time.Since(t0)
		// What the process holds before the rebuild, without the memory
		// the setup's garbage left mapped.
		debug.FreeOSMemory()
		resetPeakRSS()
		if rss, ok := readStatusKB("VmRSS:"); ok {
			baseRSS = max(baseRSS, rss)
		}
		sampler := startPeakSampler("rebuild")
		t1 := time.Now()
		pdir := filepath.Join(dir, fmt.Sprintf("projections-%d", i))
		fresh, err := projections.Rebuild(ctx, pdir, projections.Options{}, store, nil)
		rebuildTime += time.Since(t1)
		if p := sampler.Stop(); p.RSS > peak.RSS {
			peak = p
		}
		if rss, ok := readPeakRSS(); ok {
			peakRSS = max(peakRSS, rss)
		}
		closeRebuilt(b, "the rebuild", fresh, err, last)

		// The same rebuild trusting the log's checkpoints, as a server's
		// stamp replay reads (eventstore.Checkpointed).
		debug.FreeOSMemory()
		resetPeakRSS()
		t3 := time.Now()
		cdir := filepath.Join(dir, fmt.Sprintf("projections-ckpt-%d", i))
		byCkpt, err := projections.Rebuild(ctx, cdir, projections.Options{}, eventstore.Checkpointed{Store: store}, nil)
		ckptTime += time.Since(t3)
		if rss, ok := readPeakRSS(); ok {
			ckptPeakRSS = max(ckptPeakRSS, rss)
		}
		closeRebuilt(b, "the checkpointed rebuild", byCkpt, err, last)
		b.StopTimer()
		os.RemoveAll(cdir)
		b.StartTimer()

		// Start-up: open the up-to-date models, verify, catch up, as
		// a server does before it is ready: the first start after the
		// rebuild reads every table, a restart only its share.
		var views *projections.Store
		for start := range 2 {
			t2 := time.Now()
			var v projections.Verified
			var opened, verified time.Duration
			views, err = projections.Open(pdir, projections.Options{})
			if err == nil {
				opened = time.Since(t2)
				v, err = views.VerifyIncremental()
				verified = time.Since(t2) - opened
			}
			if err == nil {
				err = views.CatchUp(ctx, store, nil)
			}
			took := time.Since(t2)
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				b.Logf("start %d: open %s, verify %s (%d tables, %d MB read; %d trusted), catch up %s",
					start+1, opened.Round(time.Millisecond), verified.Round(time.Millisecond), v.Tables, v.Bytes>>20, v.Skipped, (took - opened - verified).Round(time.Millisecond))
			}
			if start == 0 {
				firstStart += took
				views.Close()
			} else {
				startup += took
			}
		}
		if i == 0 {
			snap = measureSnapshotRebuild(b, ctx, srv, key, store, views, dir, events)
		}
		views.Close()
		b.StopTimer()
		os.RemoveAll(pdir)
		b.StartTimer()
	}
	total := float64(last) * float64(b.N)
	jsRate, rebuildRate := total/jsTime.Seconds(), total/rebuildTime.Seconds()
	ratio := rebuildRate / jsRate
	b.ReportMetric(jsRate, "js-events/s")
	b.ReportMetric(rebuildRate, "rebuild-events/s")
	b.ReportMetric(ratio, "rebuild/js")
	b.ReportMetric(startup.Seconds()/float64(b.N), "startup-s")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	b.Logf("events %d (signed, every signature verified)", last)
	b.Logf("raw JetStream replay  %10.0f events/s", jsRate)
	b.Logf("rebuild               %10.0f events/s  %.3f× raw  (limit ≥ %.1f×: %s)", rebuildRate, ratio, rebuildRatioLimit, verdict(ratio >= rebuildRatioLimit))
	ckptRate := total / ckptTime.Seconds()
	b.ReportMetric(ckptRate/jsRate, "checkpointed-rebuild/js")
	b.Logf("rebuild by checkpoints%10.0f events/s  %.3f× raw  (limit ≥ %.1f×: %s), peak RSS %.0f MB (limit %d MB: %s)", ckptRate, ckptRate/jsRate, rebuildRatioLimit, verdict(ckptRate/jsRate >= rebuildRatioLimit), float64(ckptPeakRSS)/(1<<20), rebuildPeakRSSMax>>20, verdict(ckptPeakRSS <= rebuildPeakRSSMax))
	if peakRSS > 0 {
		b.ReportMetric(float64(peakRSS)/(1<<20), "rebuild-peak-rss-MB")
		// The limit is for 1,000,000 events; a smaller run is held to it
		// as is (it should pass with room to spare).
		b.Logf("rebuild peak RSS      %10.0f MB  (limit %d MB at 1,000,000 events: %s)", float64(peakRSS)/(1<<20), rebuildPeakRSSMax>>20, verdict(peakRSS <= rebuildPeakRSSMax))
		b.Logf("  of which before it  %10.0f MB  (the embedded NATS server's state and the test's own)", float64(baseRSS)/(1<<20))
		mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
		b.Logf("  at the sampled peak %10.0f MB RSS: Go heap objects %.0f MB, Go heap free %.0f MB, Go other %.0f MB, outside Go (Pebble's memtables and block cache) %.0f MB",
			mb(peak.RSS), mb(peak.HeapLive), mb(peak.HeapFree), mb(peak.OtherInGo), mb(peak.NotGo()))
		b.Logf("  Go heap goal        %10.0f MB  (GOGC=%s GOMEMLIMIT=%s)", mb(peak.HeapGoal), os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	}
	snapRate := float64(snap.events) / snap.took.Seconds()
	b.ReportMetric(snapRate/jsRate, "snapshot-rebuild/js")
	b.Logf("rebuild from snapshot %10.0f events/s  %.3f× raw  (limit ≥ %.1f×: %s): snapshot at %d (%d MB, put in %s) + %d events after it, in %s, peak RSS %.0f MB",
		snapRate, snapRate/jsRate, rebuildRatioLimit, verdict(snapRate/jsRate >= rebuildRatioLimit), snap.at, snap.size>>20, snap.put.Round(time.Millisecond), snap.events-snap.at, snap.took.Round(time.Millisecond), float64(snap.peakRSS)/(1<<20))
	b.Logf("  at the sampled peak %10.0f MB RSS: Go heap objects %.0f MB, Go heap free %.0f MB, Go other %.0f MB, outside Go %.0f MB",
		float64(snap.peak.RSS)/(1<<20), float64(snap.peak.HeapLive)/(1<<20), float64(snap.peak.HeapFree)/(1<<20), float64(snap.peak.OtherInGo)/(1<<20), float64(snap.peak.NotGo())/(1<<20))
	perStart := startup.Seconds() / float64(b.N)
	b.Logf("first start after it  %10.3f s  (every table verified)", firstStart.Seconds()/float64(b.N))
	// A restart reads the tables written since the last start and, in
	// turn, a fixed 64 MiB of the others (projections.VerifyIncremental),
	// whatever the store's size: what it reads does not grow with the
	// history. The embedded NATS server's own start is not in this figure.
	b.Logf("restart to ready      %10.3f s  (limit %.0f s at 10,000,000 events; the read models' open, verify and catch-up, which read a fixed budget)", perStart, rebuildStartupMax)
}

// snapshotFigures are what measureSnapshotRebuild measured.
type snapshotFigures struct {
	at, events, size uint64 // the snapshot's sequence, the log's last one after the tail, its bytes
	put, took        time.Duration
	peakRSS          uint64
	peak             peakSample
}

// measureSnapshotRebuild takes a snapshot of views (at the log's end) into
// the object store as a server does, appends a tenth of events more
// (signed), and times a rebuild from the snapshot plus that tail, as stamp
// replay does by default.
func measureSnapshotRebuild(b *testing.B, ctx context.Context, srv *eventstore.Server, key ed25519.PrivateKey, store *eventstore.Store, views *projections.Store, dir string, events int) snapshotFigures {
	b.StopTimer()
	defer b.StartTimer()
	var f snapshotFigures
	tmp, err := os.CreateTemp(dir, "snapshot-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	f.at, err = views.WriteSnapshot(tmp)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	info, err := store.PutSnapshot(ctx, f.at, tmp)
	if err != nil {
		b.Fatal(err)
	}
	f.put, f.size = time.Since(t0), info.Size
	f.events = bulkAppendSignedFrom(b, srv, key, events, max(events/10, 1))
	debug.FreeOSMemory()
	resetPeakRSS()
	sampler := startPeakSampler("snapshot")
	t1 := time.Now()
	r, got, err := store.OpenSnapshot(ctx, func(info eventstore.SnapshotInfo, reason string) {
		b.Fatalf("snapshot %s skipped: %s", info.Name, reason)
	})
	if err != nil || got.Seq != f.at {
		b.Fatalf("OpenSnapshot = %+v, %v; want the one at %d", got, err, f.at)
	}
	fresh, err := projections.RebuildFromSnapshot(ctx, filepath.Join(dir, "projections-snap"), projections.Options{}, r, store, nil)
	r.Close()
	f.took = time.Since(t1)
	f.peak = sampler.Stop()
	if rss, ok := readPeakRSS(); ok {
		f.peakRSS = rss
	}
	if err != nil {
		b.Fatal(err)
	}
	if cp := fresh.Checkpoint(); cp != f.events {
		b.Fatalf("the rebuild from the snapshot reached %d; want %d", cp, f.events)
	}
	fresh.Close()
	os.RemoveAll(filepath.Join(dir, "projections-snap"))
	return f
}

// closeRebuilt fails b unless what (a rebuild that returned fresh and
// err) reached last with no event parked, and closes fresh.
func closeRebuilt(b *testing.B, what string, fresh *projections.Store, err error, last uint64) {
	b.Helper()
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	if got := fresh.Checkpoint(); got != last {
		b.Fatalf("%s reached %d; want %d", what, got, last)
	}
	if parked, err := fresh.Parked(); err != nil || len(parked) != 0 {
		b.Fatalf("%s parked %d events (%v); want none", what, len(parked), err)
	}
	if err := fresh.Close(); err != nil {
		b.Fatal(err)
	}
}

// readStatusKB returns the value of field (a kB line of /proc/self/status,
// such as "VmRSS:") in bytes; false elsewhere than on Linux.
func readStatusKB(field string) (uint64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// bulkAppendSigned appends n events to the log as setup, quickly and the
// same way every run: one publisher, asynchronous publishes in windows of
// a few thousand, each message signed with key as a Store with LogKey
// signs it. Access tokens are issued to one client, every fourth one
// revoked. Nothing has a per-publish deadline: a loaded machine makes it
// slower, never wrong; only a window that makes no progress for a minute
// fails. It returns the stream's last sequence.
func bulkAppendSigned(tb testing.TB, srv *eventstore.Server, key ed25519.PrivateKey, n int) uint64 {
	tb.Helper()
	return bulkAppendSignedFrom(tb, srv, key, 0, n)
}

// bulkAppendSignedFrom is bulkAppendSigned of events first to first+n-1
// (token ids follow the event numbers), onto a stream that holds the
// announcement and first events already.
func bulkAppendSignedFrom(tb testing.TB, srv *eventstore.Server, key ed25519.PrivateKey, first, n int) uint64 {
	tb.Helper()
	nk, err := nats.NkeyOptionFromSeed(srv.SeedFile(eventstore.RoleWriter))
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nk, nats.CustomInboxPrefix(eventstore.RoleWriter.InboxPrefix()))
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		tb.Fatal(err)
	}
	// state returns the stream's message count and last sequence.
	state := func() (uint64, uint64) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stream, err := js.Stream(ctx, domain.StreamName)
		if err != nil {
			tb.Fatal(err)
		}
		info, err := stream.Info(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		return info.State.Msgs, info.State.LastSeq
	}
	before, _ := state()
	kid := domain.LogKeyID(key.Public().(ed25519.PublicKey))
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	actor := domain.Actor{Kind: domain.ActorSystem}
	publish := func(agg domain.Aggregate, id string, ev domain.Event) {
		env, err := domain.NewEnvelope(id, ev, issued, actor)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := json.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		m := nats.NewMsg(agg.Subject(env.Type))
		m.Data = body
		m.Header.Set("Nats-Msg-Id", env.ID)
		m.Header.Set(eventstore.HeaderAggregate, agg.String())
		m.Header.Set(eventstore.HeaderSignature, domain.SignLogEvent(key, m.Subject, env.ID, body))
		m.Header.Set(eventstore.HeaderKey, kid)
		if _, err := js.PublishMsgAsync(m); err != nil {
			tb.Fatal(err)
		}
	}
	const window = 4096
	wait := func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			tb.Fatalf("bulk append: %d publishes unacknowledged after a minute", js.PublishAsyncPending())
		}
	}
	for i, end := first, first+n; i < end; {
		jti := fmt.Sprintf("bulk-%d", i)
		agg := domain.Aggregate{Kind: domain.KindToken, ID: jti}
		publish(agg, jti+"-c", domain.AccessTokenCreated{
			TokenID: jti, ClientID: "bench-client", Scopes: []string{"read"},
			GrantType: domain.GrantClientCredentials, KeyID: "bulk",
			IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
		})
		i++
		if i%4 == 0 && i < end {
			publish(agg, jti+"-r", domain.AccessTokenRevoked{TokenID: jti, ClientID: "bench-client", Reason: domain.ReasonRevokedByClient})
			i++
		}
		if i%window < 2 {
			wait()
		}
	}
	wait()
	after, last := state()
	if after-before != uint64(n) {
		tb.Fatalf("bulk append: the stream took %d messages; want %d", after-before, n)
	}
	return last
}

// writeCheckpointsUpTo runs the store's checkpoint writer until the log's
// checkpoints cover every full range of every events up to last, and
// returns the last sequence covered.
func writeCheckpointsUpTo(b *testing.B, ctx context.Context, store *eventstore.Store, js jetstream.JetStream, last, every uint64) uint64 {
	b.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- store.WriteCheckpoints(ctx, every) }()
	defer func() { cancel(); <-done }()
	stream, err := js.Stream(ctx, "STAMP")
	if err != nil {
		b.Fatal(err)
	}
	subject := domain.LogCheckpointAggregate.Subject(domain.LogCheckpointed{}.EventType())
	want := last - last%every
	deadline := time.Now().Add(time.Hour)
	for time.Now().Before(deadline) {
		var to uint64
		if msg, err := stream.GetLastMsgForSubject(ctx, subject); err == nil {
			to = checkpointTo(b, msg.Data)
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			b.Fatal(err)
		}
		if to >= want {
			return to
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the checkpoints did not reach %d within an hour", want)
	return 0
}

// checkpointTo returns the last sequence a stored LogCheckpointed covers.
func checkpointTo(b *testing.B, body []byte) uint64 {
	var env struct {
		Data domain.LogCheckpointed `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		b.Fatalf("a checkpoint that does not decode: %v", err)
	}
	return env.Data.To
}

// benchEvents is STAMP_BENCH_EVENTS, or def when it is unset.
func benchEvents(b *testing.B, def int) int {
	b.Helper()
	v := os.Getenv("STAMP_BENCH_EVENTS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("STAMP_BENCH_EVENTS=%q: want a positive number", v)
	}
	return n
}

// startBenchServer starts an embedded NATS server on a temporary
// directory (returned), shut down when the benchmark ends.
func startBenchServer(b *testing.B) (string, *eventstore.Server) {
	b.Helper()
	dir := b.TempDir()
	srv, err := eventstore.StartServer(eventstore.ServerOptions{StoreDir: filepath.Join(dir, "jetstream"), Port: -1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	return dir, srv
}

// benchReaderJS connects to srv in-process as the reader identity, as an
// auditor's ordered consumer does, closed when the benchmark ends.
func benchReaderJS(b *testing.B, srv *eventstore.Server) jetstream.JetStream {
	b.Helper()
	nk, err := nats.NkeyOptionFromSeed(srv.SeedFile(eventstore.RoleReader))
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nk)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	return js
}
