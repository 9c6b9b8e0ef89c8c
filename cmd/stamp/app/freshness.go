package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Read consistency settings (read_consistency).
const (
	// consistencyStrong: before an answer that depends on everything
	// acknowledged before the request (introspection, bearer and
	// forward-auth validation, listings, "unknown" answers), the
	// instance catches up with the stream's last sequence.
	consistencyStrong = "strong"
	// consistencyLocal answers from the local read models as they are:
	// eventually consistent across instances.
	consistencyLocal = "local"
)

// defaultFreshnessTimeout bounds a catch-up (freshness_timeout).
const defaultFreshnessTimeout = 2 * time.Second

// lastSeqer tells the stream's last sequence (eventstore.Store).
type lastSeqer interface {
	LastSeq(ctx context.Context) (uint64, error)
}

// seqWaiter waits for the read models to apply a sequence
// (projections.Runner).
type seqWaiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// freshness is the domain.Freshness of a node: CatchUp asks the stream for
// its last sequence and waits until the read models have applied it.
//
// Queries are coalesced: a caller is served by the first last-sequence
// query sent after it arrived (an earlier one's answer could predate
// writes acknowledged before the caller arrived). While one query is in
// flight, the callers arriving meanwhile wait together for the next one,
// sent as soon as the first returns; so a burst costs about one round trip
// to the stream per round-trip time, not one per request. Safe for
// concurrent use.
type freshness struct {
	log     lastSeqer
	wait    seqWaiter
	timeout time.Duration
	logger  *slog.Logger

	mu       sync.Mutex
	inFlight *seqQuery // sent, not yet answered; nil when none
	next     *seqQuery // to be sent when inFlight returns; nil when nobody waits
	sent     uint64    // queries sent so far
}

// seqQuery is one last-sequence query; done closes once seq and err are
// set.
type seqQuery struct {
	callers int // how many callers it serves (under freshness.mu)
	done    chan struct{}
	seq     uint64
	err     error
}

func newFreshness(log lastSeqer, wait seqWaiter, timeout time.Duration, logger *slog.Logger) *freshness {
	if timeout <= 0 {
		timeout = defaultFreshnessTimeout
	}
	return &freshness{log: log, wait: wait, timeout: timeout, logger: logger}
}

// CatchUp returns once the read models have applied the stream's last
// sequence as of a moment after CatchUp was called. It fails when ctx
// ends (ctx's error), when the query fails, or when the whole catch-up
// takes longer than the timeout.
func (f *freshness) CatchUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("app: catch up with the log: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	q := f.join()
	select {
	case <-q.done:
	case <-ctx.Done():
		return fmt.Errorf("app: catch up with the log: %w", ctx.Err())
	}
	if q.err != nil {
		return q.err
	}
	if err := f.wait.WaitFor(ctx, q.seq); err != nil {
		return fmt.Errorf("app: catch up with the log to sequence %d: %w", q.seq, err)
	}
	return nil
}

// join returns the query that will serve a caller arriving now: a new one
// sent at once when none is in flight, otherwise the next one.
func (f *freshness) join() *seqQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inFlight == nil {
		q := &seqQuery{done: make(chan struct{}), callers: 1}
		f.sendLocked(q)
		return q
	}
	if f.next == nil {
		f.next = &seqQuery{done: make(chan struct{})}
	}
	f.next.callers++
	return f.next
}

// sendLocked sends q; f.mu is held.
func (f *freshness) sendLocked(q *seqQuery) {
	f.sent++
	f.inFlight = q
	go f.run(q)
}

// run asks the stream for its last sequence, with the timeout and without
// any one caller's context (many share the answer), then sends the next
// query if callers arrived meanwhile.
func (f *freshness) run(q *seqQuery) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	q.seq, q.err = f.log.LastSeq(ctx)
	cancel()
	if q.err != nil {
		f.logger.Warn("cannot catch up with the log; answering 503", "err", q.err)
		q.err = fmt.Errorf("app: catch up with the log: %w", q.err)
	}
	close(q.done)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight = nil
	if n := f.next; n != nil {
		f.next = nil
		f.sendLocked(n)
	}
}

// queries returns how many last-sequence queries were sent, and how many
// callers wait for the one in flight and for the next.
func (f *freshness) queries() (sent uint64, inFlight, next int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inFlight != nil {
		inFlight = f.inFlight.callers
	}
	if f.next != nil {
		next = f.next.callers
	}
	return f.sent, inFlight, next
}
