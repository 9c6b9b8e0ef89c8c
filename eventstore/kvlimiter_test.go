package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

var testRate = domain.Rate{Name: "pair", Burst: 3, Every: time.Minute}

// fixedClock is a clock that moves only when told.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// countingLimiter is a fallback that counts what reaches it: each
// failure is a minute to wait.
type countingLimiter struct {
	mu    sync.Mutex
	fails map[string]int
}

func (c *countingLimiter) Wait(_ context.Context, _ domain.Rate, key string) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.fails[key]) * time.Minute, nil
}

func (c *countingLimiter) Fail(_ context.Context, _ domain.Rate, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fails == nil {
		c.fails = map[string]int{}
	}
	c.fails[key]++
	return nil
}

func (c *countingLimiter) Reset(_ context.Context, _ domain.Rate, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fails, key)
	return nil
}

// newLimiter opens a Limiter on its own Store on srv (another instance).
func newTestLimiter(t *testing.T, srv *Server, opts LimiterOptions) *Limiter {
	t.Helper()
	if opts.TTL == 0 {
		opts.TTL = time.Hour
	}
	l, err := openStore(t, srv).Limiter(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustWait(t *testing.T, l *Limiter, key string) time.Duration {
	t.Helper()
	w, err := l.Wait(context.Background(), testRate, key)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestLimiterSharedAcrossInstances: two instances (each its own
// connection and Limiter) on one server count one bucket: failures on A
// make B wait, a reset on B frees A, and an instance started later loads
// the counts.
func TestLimiterSharedAcrossInstances(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	clock := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newTestLimiter(t, srv, LimiterOptions{Now: clock.now})
	b := newTestLimiter(t, srv, LimiterOptions{Now: clock.now})
	for i := range 3 {
		if err := a.Fail(ctx, testRate, "ada"); err != nil {
			t.Fatalf("fail %d: %v", i, err)
		}
	}
	if got := mustWait(t, a, "ada"); got != time.Minute {
		t.Errorf("A after 3 failures: wait %v; want 1m", got)
	}
	waitFor(t, "B sees A's failures", func() bool { return mustWait(t, b, "ada") == time.Minute })
	if got := mustWait(t, b, "bob"); got != 0 {
		t.Errorf("B, another key: wait %v; want 0", got)
	}
	if err := b.Fail(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	if got := mustWait(t, b, "ada"); got != 2*time.Minute {
		t.Errorf("B after a 4th failure: wait %v; want 2m (debt)", got)
	}
	waitFor(t, "A sees B's failure", func() bool { return mustWait(t, a, "ada") == 2*time.Minute })

	c := newTestLimiter(t, srv, LimiterOptions{Now: clock.now})
	if got := mustWait(t, c, "ada"); got != 2*time.Minute {
		t.Errorf("an instance started later: wait %v; want 2m", got)
	}

	if err := b.Reset(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A sees B's reset", func() bool { return mustWait(t, a, "ada") == 0 })
	if err := a.Fail(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "C sees a failure after the reset", func() bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return c.mirror[limitKey(testRate, "ada")].full.Equal(clock.now().Add(time.Minute))
	})
}

// TestLimiterConflictRetry: an instance whose mirror is behind (its
// watcher stopped) writes with a stale revision, gets a conflict, reads
// the newer value and counts on top of it: no failure is lost.
func TestLimiterConflictRetry(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	clock := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newTestLimiter(t, srv, LimiterOptions{Now: clock.now})
	b := newTestLimiter(t, srv, LimiterOptions{Now: clock.now})
	if err := a.Fail(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B sees A's failure", func() bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return b.mirror[limitKey(testRate, "ada")].rev > 0
	})
	b.Close() // B's mirror no longer learns: its next write is stale
	a.Close()
	for range 2 {
		if err := a.Fail(ctx, testRate, "ada"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Fail(ctx, testRate, "ada"); err != nil { // Update conflicts, retries
		t.Fatal(err)
	}
	// A key A never saw: A's Create conflicts with B's key.
	if err := b.Fail(ctx, testRate, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.Fail(ctx, testRate, "bob"); err != nil {
		t.Fatal(err)
	}
	for key, n := range map[string]int{"ada": 4, "bob": 2} {
		e, err := a.kv.Get(ctx, limitKey(testRate, key))
		if err != nil {
			t.Fatal(err)
		}
		want := clock.now().Add(time.Duration(n) * time.Minute).UnixNano()
		if got, _ := strconv.ParseInt(string(e.Value()), 10, 64); got != want {
			t.Errorf("%s: bucket full at %v; want %v (%d failures)", key, time.Unix(0, got).UTC(), time.Unix(0, want).UTC(), n)
		}
	}
}

// TestLimiterConcurrentFailures: failures of one key from two instances
// at once all count.
func TestLimiterConcurrentFailures(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	clock := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fallback := &countingLimiter{}
	ls := []*Limiter{
		newTestLimiter(t, srv, LimiterOptions{Now: clock.now, Fallback: fallback}),
		newTestLimiter(t, srv, LimiterOptions{Now: clock.now, Fallback: fallback}),
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := ls[i%2].Fail(context.Background(), testRate, "ada"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e, err := ls[0].kv.Get(testContext(t), limitKey(testRate, "ada"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := strconv.ParseInt(string(e.Value()), 10, 64)
	inFallback := fallback.fails["ada"]
	if n := int(time.Unix(0, got).Sub(clock.now())/time.Minute) + inFallback; n != 10 {
		t.Errorf("counted %d failures (%d in the fallback); want 10", n, inFallback)
	}
}

// TestLimiterBucket: the bucket is STAMP_LIMITS with history 1, file
// storage and the TTL asked for, which a later instance may change; keys
// expire after it.
func TestLimiterBucket(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	newTestLimiter(t, srv, LimiterOptions{TTL: time.Hour})
	l := newTestLimiter(t, srv, LimiterOptions{TTL: time.Second})
	kv, err := st.js.KeyValue(ctx, LimitsBucket)
	if err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := status.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if status.TTL() != time.Second || status.History() != 1 || info.Config.Storage != jetstream.FileStorage || info.Config.Replicas != 1 {
		t.Errorf("bucket: TTL %v, history %d, storage %v, replicas %d; want 1s, 1, file, 1",
			status.TTL(), status.History(), info.Config.Storage, info.Config.Replicas)
	}
	if err := l.Fail(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	k := limitKey(testRate, "ada")
	if !strings.HasPrefix(k, "l.") || strings.Contains(k, "ada") || len(k) != 34 {
		t.Errorf("key %q; want l. and a hash", k)
	}
	waitFor(t, "the key expires", func() bool {
		_, err := kv.Get(ctx, k)
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
}

// TestLimiterFallback: with the server gone, failures count in the
// fallback (and Wait sees them), the outage is logged once at warn, and
// nothing returns an error.
func TestLimiterFallback(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	fallback := &countingLimiter{}
	l := newTestLimiter(t, srv, LimiterOptions{Fallback: fallback, Logger: logger})
	if err := l.Fail(ctx, testRate, "ada"); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	for i := range 3 {
		if err := l.Fail(ctx, testRate, "ada"); err != nil {
			t.Fatalf("fail %d without the server: %v", i, err)
		}
	}
	if got := mustWait(t, l, "ada"); got != 3*time.Minute {
		t.Errorf("wait %v; want 3m (the fallback's)", got)
	}
	if err := l.Reset(ctx, testRate, "ada"); err != nil {
		t.Errorf("reset without the server: %v", err)
	}
	if got := mustWait(t, l, "ada"); got != 0 {
		t.Errorf("after reset: wait %v; want 0", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), LimitsBucket) {
		t.Errorf("logged %d warnings; want 1 naming %s:\n%s", n, LimitsBucket, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestDevicePollsShared: a poll on B sees A's; of concurrent polls each
// sees another's time exactly once (compare-and-set orders them).
func TestDevicePollsShared(t *testing.T) {
	ctx := testContext(t)
	srv := startServer(t, ServerOptions{})
	open := func() *DevicePolls {
		p, err := openStore(t, srv).DevicePolls(ctx, DevicePollOptions{TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := open(), open()
	if status, err := a.kv.Status(ctx); err != nil || status.Bucket() != DevicePollBucket || status.TTL() != time.Minute || status.History() != 1 {
		t.Fatalf("bucket: %v, %v; want %s with TTL 1m and history 1", status, err, DevicePollBucket)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if prev, err := a.SwapPoll(ctx, "dev1", t0); err != nil || !prev.IsZero() {
		t.Fatalf("first poll: got %v, %v; want the zero time", prev, err)
	}
	if prev, err := b.SwapPoll(ctx, "dev1", t0.Add(time.Second)); err != nil || !prev.Equal(t0) {
		t.Fatalf("poll on B: got %v, %v; want A's %v", prev, err, t0)
	}
	if prev, err := b.SwapPoll(ctx, "dev2", t0); err != nil || !prev.IsZero() {
		t.Fatalf("another code: got %v, %v; want the zero time", prev, err)
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[time.Time]int{}
	)
	for i := range 10 {
		wg.Go(func() {
			p := []*DevicePolls{a, b}[i%2]
			prev, err := p.SwapPoll(context.Background(), "dev3", t0.Add(time.Duration(i+1)*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[prev]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 10 {
		t.Errorf("10 concurrent polls saw %d distinct previous polls; want 10 (%v)", len(seen), seen)
	}
	for prev, n := range seen {
		if n != 1 {
			t.Errorf("%v seen %d times; want once", prev, n)
		}
	}
}

// Benchmarks: the cost of Wait (every client authentication and login)
// and Fail (a failed one) on the cluster limiter, against an in-process
// embedded server.
func BenchmarkLimiterWait(b *testing.B) {
	srv := startServer(b, ServerOptions{})
	st := openStore(b, srv)
	l, err := st.Limiter(testContext(b), LimiterOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range 1000 {
		l.Fail(context.Background(), testRate, fmt.Sprint("key-", i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Wait(ctx, testRate, fmt.Sprint("key-", i%2000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkLimiterFail(b *testing.B) {
	srv := startServer(b, ServerOptions{})
	st := openStore(b, srv)
	l, err := st.Limiter(testContext(b), LimiterOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := l.Fail(ctx, testRate, fmt.Sprint("key-", i%100)); err != nil {
			b.Fatal(err)
		}
	}
}
