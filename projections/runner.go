package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/stamp-oauth/stamp/domain"
)

// Source is the event log as a Runner needs it; the eventstore implements
// it.
//
// Follow calls fn with every event of the stream from sequence from on, in
// stream order and without gaps, then with each new one as it is appended.
// It returns when ctx ends (with ctx's error) or when fn returns an error
// (with that error). It never calls fn after it has returned, nor calls it
// concurrently.
type Source interface {
	Follow(ctx context.Context, from uint64, fn func(domain.Recorded) error) error
}

// runnerBatch bounds how many waiting events the Runner applies in one
// batch, and how far Follow may run ahead of the applying.
const runnerBatch = 256

// Runner keeps a Store up to date with the log: it follows the Source from
// the store's checkpoint + 1 and applies each event; an event it cannot
// apply is parked (see Store.Parked), not a reason to stop.
//
// Its methods are safe for concurrent use; Run runs at most once at a time.
type Runner struct {
	store  *Store
	src    Source
	logger *slog.Logger

	mu      sync.Mutex
	running bool
	last    *runState // the current or last Run
}

// runState tells whether a Run stopped at an event it cannot apply: err is
// set before failed is closed, so whoever sees failed closed may read err.
type runState struct {
	failed chan struct{}
	err    error
}

// NewRunner returns a Runner applying src's events to store. A nil logger
// discards.
func NewRunner(store *Store, src Source, logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{store: store, src: src, logger: logger, last: &runState{failed: make(chan struct{})}}
}

// Run follows the log from the store's checkpoint + 1 and applies every
// event, until ctx ends (it returns ctx's error) or something fails: a
// storage error, an event at sequence 0, or the Source itself. (Events of
// a newer schema version, malformed or refused ones are parked, see
// Store.ApplyBatch.) Then it logs the failure once and
// returns it; the projection stops there, skipping nothing, until Run is
// called again (after an upgrade that knows the event).
//
// Events are applied as they come: a single event at once, a burst in
// batches of whatever is already waiting (up to 256), never waiting to fill
// a batch. Run returns an error wrapping ErrRunning if the Runner is
// already running.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	select {
	case <-r.last.failed:
		r.last = &runState{failed: make(chan struct{})}
	default: // waiters hold this one already
	}
	st := r.last
	r.mu.Unlock()

	applyFailed, err := r.run(ctx)

	r.mu.Lock()
	r.running = false
	if applyFailed {
		st.err = err
		close(st.failed)
	}
	r.mu.Unlock()
	return err
}

// run is Run's work. applyFailed reports a failure to apply, which will
// recur at the same event however often Run is called.
func (r *Runner) run(parent context.Context) (applyFailed bool, err error) {
	from := r.store.Checkpoint() + 1
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	// Follow hands events to the applier over queue, so the next events
	// can arrive while a batch commits, and the applier takes whatever is
	// waiting as one batch.
	queue := make(chan domain.Recorded, runnerBatch)
	applied := make(chan error, 1)
	go func() {
		err := r.applyLoop(queue)
		if err != nil {
			cancel(err) // stop Follow, which may be blocked waiting for news
		}
		applied <- err
	}()
	ferr := r.src.Follow(ctx, from, func(rec domain.Recorded) error {
		select {
		case queue <- rec:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(queue)
	if err := <-applied; err != nil {
		if errors.Is(err, ErrClosed) {
			return false, err // shutting down, not a failure of the event
		}
		r.logger.Error("projections: apply failed; projection stopped", "err", err, "checkpoint", r.store.Checkpoint())
		return true, err
	}
	if err := parent.Err(); err != nil {
		return false, err
	}
	err = fmt.Errorf("projections: follow from %d: %w", from, ferr)
	if ferr == nil {
		err = fmt.Errorf("projections: follow from %d returned early", from)
	}
	r.logger.Error("projections: event source failed; projection stopped", "err", err, "checkpoint", r.store.Checkpoint())
	return false, err
}

// applyLoop applies what arrives on queue until it is closed or an event
// fails. After a failure it returns without draining the queue: Follow is
// being cancelled.
func (r *Runner) applyLoop(queue <-chan domain.Recorded) error {
	batch := make([]domain.Recorded, 0, runnerBatch)
	for rec := range queue {
		batch = append(batch[:0], rec)
	gather:
		for len(batch) < runnerBatch {
			select {
			case rec, ok := <-queue:
				if !ok {
					break gather
				}
				batch = append(batch, rec)
			default:
				break gather
			}
		}
		if err := r.store.ApplyBatch(batch); err != nil {
			return err
		}
	}
	return nil
}

// Applied returns the highest sequence the store has applied (its
// Checkpoint).
func (r *Runner) Applied() uint64 { return r.store.Checkpoint() }

// WaitFor blocks until the store has applied sequence seq, and returns nil.
// It returns ctx's error if ctx ends first; ErrClosed if the store is
// closed; and, at once, an error wrapping ErrStopped and the failure if the
// last Run stopped at an event it cannot apply, below seq (every Run would
// stop there again, so waiting is pointless). While the Runner is not
// running for any other reason (not started yet, cancelled, its Source
// failed) it waits, since another Run may come. It is cheap: a lock-free
// check when seq is applied, else a channel closed at the next commit,
// never a poll.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	s := r.store
	for {
		if s.Checkpoint() >= seq {
			return nil
		}
		next := s.changed()
		if s.Checkpoint() >= seq {
			return nil
		}
		r.mu.Lock()
		st := r.last
		r.mu.Unlock()
		select {
		case <-next:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		case <-st.failed:
			if cp := s.Checkpoint(); cp < seq {
				return fmt.Errorf("%w at sequence %d: %w", ErrStopped, cp, st.err)
			}
			return nil
		}
	}
}
