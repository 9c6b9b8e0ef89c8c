// Package freshness makes a stamp node's strong reads fresh: before an
// answer that depends on everything acknowledged before the request, the
// node asks the stream for its last sequence and waits until its read
// models have applied it (domain.Freshness). Concurrent callers share
// last-sequence queries (see Coalescer), so a burst of requests costs
// about one round trip to the stream, not one each.
//
// It knows the stream and the read models only through two one-method
// interfaces (LastSeqer, Waiter): it imports no storage.
package freshness

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultTimeout bounds a catch-up when New is given none.
const DefaultTimeout = 2 * time.Second

// LastSeqer tells the stream's last sequence (eventstore.Store).
type LastSeqer interface {
	LastSeq(ctx context.Context) (uint64, error)
}

// Waiter waits for the read models to apply a sequence
// (projections.Runner).
type Waiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// Coalescer is the domain.Freshness of a node: CatchUp asks the stream for
// its last sequence and waits until the read models have applied it.
//
// Queries are coalesced: a caller is served by the first last-sequence
// query sent after it arrived (an earlier one's answer could predate
// writes acknowledged before the caller arrived). While one query is in
// flight, the callers arriving meanwhile wait together for the next one,
// sent as soon as the first returns; so a burst costs about one round trip
// to the stream per round-trip time, not one per request. Safe for
// concurrent use.
type Coalescer struct {
	log     LastSeqer
	wait    Waiter
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
	callers int // how many callers it serves (under Coalescer.mu)
	done    chan struct{}
	seq     uint64
	err     error
}

// New returns a Coalescer asking log and waiting on wait, bounding each
// catch-up by timeout (DefaultTimeout when timeout <= 0), and logging a
// failed query to logger.
func New(log LastSeqer, wait Waiter, timeout time.Duration, logger *slog.Logger) *Coalescer {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Coalescer{log: log, wait: wait, timeout: timeout, logger: logger}
}

// CatchUp returns once the read models have applied the stream's last
// sequence as of a moment after CatchUp was called. It fails when ctx
// ends (ctx's error), when the query fails, or when the whole catch-up
// takes longer than the timeout.
func (f *Coalescer) CatchUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("freshness: catch up with the log: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	q := f.join()
	select {
	case <-q.done:
	case <-ctx.Done():
		return fmt.Errorf("freshness: catch up with the log: %w", ctx.Err())
	}
	if q.err != nil {
		return q.err
	}
	if err := f.wait.WaitFor(ctx, q.seq); err != nil {
		return fmt.Errorf("freshness: catch up with the log to sequence %d: %w", q.seq, err)
	}
	return nil
}

// join returns the query that will serve a caller arriving now: a new one
// sent at once when none is in flight, otherwise the next one.
func (f *Coalescer) join() *seqQuery {
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
func (f *Coalescer) sendLocked(q *seqQuery) {
	f.sent++
	f.inFlight = q
	go f.run(q)
}

// run asks the stream for its last sequence, with the timeout and without
// any one caller's context (many share the answer), then sends the next
// query if callers arrived meanwhile.
func (f *Coalescer) run(q *seqQuery) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	q.seq, q.err = f.log.LastSeq(ctx)
	cancel()
	if q.err != nil {
		f.logger.Warn("cannot catch up with the log; answering 503", "err", q.err)
		q.err = fmt.Errorf("freshness: catch up with the log: %w", q.err)
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
func (f *Coalescer) queries() (sent uint64, inFlight, next int) {
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
