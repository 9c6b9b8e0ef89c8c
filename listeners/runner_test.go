package listeners

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

// funcListener is a Listener whose Handle is a function; it records the
// sequences it was called with.
type funcListener struct {
	name   string
	handle func(ctx context.Context, rec domain.Recorded, attempt int) error

	mu    sync.Mutex
	calls map[uint64]int
	seqs  []uint64
}

func (l *funcListener) Name() string   { return l.name }
func (l *funcListener) Filter() string { return "stamp.>" }
func (l *funcListener) Handle(ctx context.Context, rec domain.Recorded, e domain.Event) error {
	l.mu.Lock()
	if l.calls == nil {
		l.calls = map[uint64]int{}
	}
	l.calls[rec.Seq]++
	n := l.calls[rec.Seq]
	l.seqs = append(l.seqs, rec.Seq)
	l.mu.Unlock()
	if l.handle == nil {
		return nil
	}
	return l.handle(ctx, rec, n)
}

func (l *funcListener) handled() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.seqs...)
}

func revoked(t *testing.T, seq uint64) domain.Recorded {
	return record(t, seq, fmt.Sprintf("e%d", seq), domain.AccessTokenRevoked{TokenID: "tok", Reason: "x"})
}

// runAll runs ls on src until the source has delivered everything.
func runAll(t *testing.T, src *fakeSource, opts RunnerOptions, ls ...Listener) {
	t.Helper()
	if err := NewRunner(src, opts).Run(context.Background(), ls...); err != nil {
		t.Fatalf("Run: got %v; want nil", err)
	}
}

func TestRunnerAcksHandledEvents(t *testing.T) {
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 1), revoked(t, 2)}}
	l := &funcListener{name: "ok"}
	runAll(t, src, RunnerOptions{}, l)
	want := []settled{{Durable: "ok", Seq: 1, Attempt: 1, Op: "ack"}, {Durable: "ok", Seq: 2, Attempt: 1, Op: "ack"}}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	if got := src.filters["ok"]; got != "stamp.>" {
		t.Errorf("filter: got %q; want %q", got, "stamp.>")
	}
}

func TestRunnerRetriesWithBackoffThenParks(t *testing.T) {
	var logs bytes.Buffer
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 7), revoked(t, 8)}}
	l := &funcListener{name: "flaky", handle: func(_ context.Context, rec domain.Recorded, _ int) error {
		if rec.Seq == 7 {
			return errors.New("receiver down")
		}
		return nil
	}}
	opts := RunnerOptions{
		MaxAttempts: 3,
		Backoff:     func(attempt int) time.Duration { return time.Duration(attempt) * time.Second },
		Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	runAll(t, src, opts, l)
	want := []settled{
		{Durable: "flaky", Seq: 7, Attempt: 1, Op: "retry", Delay: time.Second},
		{Durable: "flaky", Seq: 7, Attempt: 2, Op: "retry", Delay: 2 * time.Second},
		{Durable: "flaky", Seq: 7, Attempt: 3, Op: "park", Reason: "receiver down"},
		{Durable: "flaky", Seq: 8, Attempt: 1, Op: "ack"},
	}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
	var parked map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "listeners: parked" {
			parked = m
		}
	}
	if parked == nil {
		t.Fatalf("no parked log line in:\n%s", logs.String())
	}
	for k, v := range map[string]any{"level": "ERROR", "listener": "flaky", "seq": 7.0, "type": "AccessTokenRevoked", "attempts": 3.0} {
		if parked[k] != v {
			t.Errorf("parked log %s: got %v; want %v", k, parked[k], v)
		}
	}
}

func TestRunnerCapsBackoff(t *testing.T) {
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 1)}, maxDeliveries: 1}
	l := &funcListener{name: "slow", handle: func(context.Context, domain.Recorded, int) error { return errors.New("no") }}
	runAll(t, src, RunnerOptions{Backoff: func(int) time.Duration { return time.Hour }, MaxBackoff: time.Minute}, l)
	if got := src.settled()[0].Delay; got != time.Minute {
		t.Errorf("delay: got %v; want %v", got, time.Minute)
	}
}

func TestDefaultBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 500 * time.Millisecond}, {2, time.Second}, {3, 2 * time.Second}, {6, 16 * time.Second}, {7, 30 * time.Second}, {1000, 30 * time.Second}} {
		if got := DefaultBackoff(tc.attempt); got != tc.want {
			t.Errorf("DefaultBackoff(%d): got %v; want %v", tc.attempt, got, tc.want)
		}
	}
}

func TestRunnerAcksUnknownTypesWithoutHandling(t *testing.T) {
	rec := revoked(t, 3)
	rec.Envelope.Type = "SomethingFromTheFuture"
	src := &fakeSource{recs: []domain.Recorded{rec}}
	l := &funcListener{name: "l"}
	runAll(t, src, RunnerOptions{}, l)
	if got := l.handled(); len(got) != 0 {
		t.Errorf("handled: got %v; want none", got)
	}
	want := []settled{{Durable: "l", Seq: 3, Attempt: 1, Op: "ack"}}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
}

func TestRunnerHoldsFutureVersions(t *testing.T) {
	rec := revoked(t, 4)
	rec.Envelope.Version = 99
	src := &fakeSource{recs: []domain.Recorded{rec}, maxDeliveries: 3}
	l := &funcListener{name: "l"}
	runAll(t, src, RunnerOptions{MaxAttempts: 2, Logger: slog.New(slog.DiscardHandler)}, l)
	if got := l.handled(); len(got) != 0 {
		t.Errorf("handled: got %v; want none", got)
	}
	for _, s := range src.settled() {
		if s.Op != "retry" || s.Delay != DefaultMaxBackoff {
			t.Errorf("attempt %d: got %s after %v; want retry after %v", s.Attempt, s.Op, s.Delay, DefaultMaxBackoff)
		}
	}
	if got := len(src.settled()); got != 3 {
		t.Errorf("deliveries: got %d; want 3", got)
	}
}

func TestRunnerParksMalformedPayload(t *testing.T) {
	rec := revoked(t, 5)
	rec.Envelope.Data = json.RawMessage(`{"token_id":42}`)
	src := &fakeSource{recs: []domain.Recorded{rec}}
	l := &funcListener{name: "l"}
	runAll(t, src, RunnerOptions{Logger: slog.New(slog.DiscardHandler)}, l)
	if got := src.settled(); len(got) != 1 || got[0].Op != "park" {
		t.Errorf("settled: got %+v; want one park", got)
	}
}

func TestRunnerRecoversPanics(t *testing.T) {
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 1)}}
	l := &funcListener{name: "boom", handle: func(_ context.Context, _ domain.Recorded, n int) error {
		if n == 1 {
			panic("kaboom")
		}
		return nil
	}}
	runAll(t, src, RunnerOptions{Logger: slog.New(slog.DiscardHandler)}, l)
	want := []settled{
		{Durable: "boom", Seq: 1, Attempt: 1, Op: "retry", Delay: 500 * time.Millisecond},
		{Durable: "boom", Seq: 1, Attempt: 2, Op: "ack"},
	}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
}

func TestRunnerHandlerContextEndsWithRun(t *testing.T) {
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 1)}, block: true}
	started := make(chan struct{})
	l := &funcListener{name: "wait", handle: func(ctx context.Context, _ domain.Recorded, _ int) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewRunner(src, RunnerOptions{Logger: slog.New(slog.DiscardHandler)}).Run(ctx, l) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its ctx ended")
	}
	want := []settled{{Durable: "wait", Seq: 1, Attempt: 1, Op: "none"}}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("an interrupted delivery is left unsettled (-want +got):\n%s", diff)
	}
}

func TestRunnerStopsAllWhenOneSourceFails(t *testing.T) {
	src := &fakeSource{block: true, fail: map[string]error{"bad": errors.New("no such stream")}}
	err := NewRunner(src, RunnerOptions{}).Run(context.Background(), &funcListener{name: "good"}, &funcListener{name: "bad"})
	if err == nil || !strings.Contains(err.Error(), "bad: no such stream") {
		t.Errorf("Run: got %v; want the failure of bad", err)
	}
}

func TestRunnerRejectsDuplicateNames(t *testing.T) {
	src := &fakeSource{}
	err := NewRunner(src, RunnerOptions{}).Run(context.Background(), &funcListener{name: "x"}, &funcListener{name: "x"})
	if err == nil {
		t.Errorf("Run: got nil; want an error")
	}
	if got := src.settled(); len(got) != 0 {
		t.Errorf("settled: got %v; want nothing run", got)
	}
}

// TestRunnerBoundsHandle: a handler that would wait forever (a read model
// that never catches up) has its context ended after HandleTimeout, and
// the event is retried, then handled.
func TestRunnerBoundsHandle(t *testing.T) {
	src := &fakeSource{recs: []domain.Recorded{revoked(t, 4)}}
	l := &funcListener{name: "stuck", handle: func(ctx context.Context, _ domain.Recorded, attempt int) error {
		if attempt > 1 {
			return nil
		}
		<-ctx.Done() // the wait has no end of its own
		return ctx.Err()
	}}
	runAll(t, src, RunnerOptions{HandleTimeout: 10 * time.Millisecond, Backoff: func(int) time.Duration { return 0 }}, l)
	want := []settled{
		{Durable: "stuck", Seq: 4, Attempt: 1, Op: "retry"},
		{Durable: "stuck", Seq: 4, Attempt: 2, Op: "ack"},
	}
	if diff := cmp.Diff(want, src.settled()); diff != "" {
		t.Errorf("settled (-want +got):\n%s", diff)
	}
}
