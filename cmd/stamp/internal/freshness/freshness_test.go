package freshness

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldLog is a stream whose last-sequence queries answer only when the
// test releases them. A query answers the sequence the stream had when it
// was sent: the oldest answer a real stream could give, so a caller
// served by a query sent before it arrived would see a stale sequence.
type heldLog struct {
	last    atomic.Uint64 // the stream's last sequence
	release chan error    // one value releases one query (with that error)
}

func newHeldLog(last uint64) *heldLog {
	l := &heldLog{release: make(chan error)}
	l.last.Store(last)
	return l
}

func (l *heldLog) LastSeq(ctx context.Context) (uint64, error) {
	seq := l.last.Load()
	select {
	case err := <-l.release:
		return seq, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// seqs records the sequences waited for; block makes WaitFor wait for
// its context.
type seqs struct {
	mu    sync.Mutex
	got   []uint64
	block bool
}

func (s *seqs) WaitFor(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	s.got = append(s.got, seq)
	s.mu.Unlock()
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (s *seqs) all() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.got...)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitCallers polls until the query in flight and the next one serve
// inFlight and next callers.
func waitCallers(t *testing.T, f *Coalescer, inFlight, next int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, i, n := f.queries()
		if i == inFlight && n == next {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("callers: in flight %d, next %d; want %d, %d", i, n, inFlight, next)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFreshnessCoalesces: a burst of callers arriving while a query is in
// flight shares the one next query: 2 queries for 51 callers.
func TestFreshnessCoalesces(t *testing.T) {
	log := newHeldLog(10)
	w := &seqs{}
	f := New(log, w, time.Minute, discard())
	const n = 50
	errs := make(chan error, n+1)
	go func() { errs <- f.CatchUp(context.Background()) }()
	waitCallers(t, f, 1, 0)
	for range n {
		go func() { errs <- f.CatchUp(context.Background()) }()
	}
	waitCallers(t, f, 1, n)
	log.release <- nil // the first query
	log.release <- nil // the one the burst shares
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
	}
	if sent, _, _ := f.queries(); sent != 2 {
		t.Errorf("%d callers sent %d queries; want 2", n+1, sent)
	}
	if got := len(w.all()); got != n+1 {
		t.Errorf("%d waits; want %d", got, n+1)
	}
}

// TestFreshnessServesOnlyLaterQueries: a caller arriving after a query was
// sent is not served by it, so it waits for a sequence acknowledged
// before it arrived.
func TestFreshnessServesOnlyLaterQueries(t *testing.T) {
	log := newHeldLog(5)
	w := &seqs{}
	f := New(log, w, time.Minute, discard())
	first := make(chan error, 1)
	go func() { first <- f.CatchUp(context.Background()) }()
	waitCallers(t, f, 1, 0) // the first query is sent: it answers 5

	log.last.Store(7) // another instance's write is acknowledged
	second := make(chan error, 1)
	go func() { second <- f.CatchUp(context.Background()) }()
	waitCallers(t, f, 1, 1)

	log.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-second:
		t.Fatalf("the second caller returned (%v) on the answer of a query sent before it arrived", err)
	default:
	}
	log.release <- nil
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := w.all(); len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Errorf("waited for %v; want [5 7]", got)
	}
}

// TestFreshnessBounded: a query that never answers, a read model that
// never catches up and a failing query all end in an error, and a failed
// query does not stop the next caller from sending a new one.
func TestFreshnessBounded(t *testing.T) {
	t.Run("query never answers", func(t *testing.T) {
		f := New(newHeldLog(1), &seqs{}, 20*time.Millisecond, discard())
		if err := f.CatchUp(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v; want a deadline error", err)
		}
	})
	t.Run("read models never catch up", func(t *testing.T) {
		log := newHeldLog(1)
		f := New(log, &seqs{block: true}, 20*time.Millisecond, discard())
		go func() { log.release <- nil }()
		if err := f.CatchUp(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v; want a deadline error", err)
		}
	})
	t.Run("query fails, the next succeeds", func(t *testing.T) {
		log := newHeldLog(3)
		w := &seqs{}
		f := New(log, w, time.Minute, discard())
		down := errors.New("no responders")
		go func() { log.release <- down }()
		if err := f.CatchUp(context.Background()); !errors.Is(err, down) {
			t.Errorf("got %v; want %v", err, down)
		}
		go func() { log.release <- nil }()
		if err := f.CatchUp(context.Background()); err != nil {
			t.Errorf("after a failed query: %v", err)
		}
		if got := w.all(); len(got) != 1 || got[0] != 3 {
			t.Errorf("waited for %v; want [3]", got)
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		f := New(newHeldLog(1), &seqs{}, time.Minute, discard())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := f.CatchUp(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v; want context.Canceled", err)
		}
	})
}
