package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// Replayer is the event log as a rebuild needs it; the eventstore
// implements it.
//
// Replay calls fn with every event whose subject matches filter (a NATS
// subject filter), from sequence from up to the stream's last sequence at
// the time of the call, in stream order; then it returns nil. It returns
// early with ctx's error when ctx ends, or with fn's error when fn fails.
// LastSeq returns the stream's last sequence (0 for an empty stream).
type Replayer interface {
	Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error
	LastSeq(ctx context.Context) (uint64, error)
}

// rebuildBatch is how many events a replay applies per Pebble batch.
const rebuildBatch = 1024

// Rebuild builds a fresh Store in dir, which must not hold a store yet, by
// replaying the whole log from sequence 1, and returns it open and durable
// (flushed to disk), opened as Open opens a store. progress, if not nil, is called after each batch
// with the last sequence applied and the stream's last sequence. Swapping
// the new directory in for the old one is SwapIn's job.
//
// On failure (dir holds a store, the log fails, ctx ends, an event cannot be
// applied) it closes the store and returns the error; dir then holds a
// partial store the caller should remove.
func Rebuild(ctx context.Context, dir string, opts Options, src Replayer, progress func(done, total uint64)) (*Store, error) {
	s, err := open(dir, opts, true)
	if err != nil {
		return nil, err
	}
	// Every key a fold can read in a fresh store is one the rebuild writes
	// (the layout key, written by open, is read by no fold), so loads can
	// skip looking up keys it has not written yet.
	s.w.written = newWrittenSet()
	err = s.CatchUp(ctx, src, progress)
	s.writeMu.Lock()
	s.w.written = nil
	s.writeMu.Unlock()
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.db.Flush(); err != nil {
		return nil, errors.Join(fmt.Errorf("projections: rebuild: flush: %w", err), s.Close())
	}
	// Reopen with a live store's options, so that the rebuild's big
	// memtable is not kept (nor refilled) by the store the caller goes on
	// with.
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("projections: rebuild: %w", err)
	}
	return open(dir, opts, false)
}

// CatchUp replays the log from the store's Checkpoint()+1 up to its last
// sequence at the time of the call, in batches, as Rebuild does; after Drop
// it rebuilds the dropped model while the others skip what they have.
// progress is as for Rebuild, called from one goroutine at a time. It
// returns the first error of the log or of ApplyBatch (then the events
// before the failing one stay applied). Beside a Runner on the same store
// it is safe (each event still applies once), only wasteful. Safe for
// concurrent use.
func (s *Store) CatchUp(ctx context.Context, src Replayer, progress func(done, total uint64)) error {
	total, err := src.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("projections: catch up: last sequence: %w", err)
	}
	from := s.Checkpoint() + 1
	report := func() {
		if progress != nil {
			done := s.Checkpoint()
			progress(done, max(done, total))
		}
	}
	if from > total {
		report()
		return nil
	}

	// The log fills the next batch while the last one is decoded and the
	// one before applied. One batch waits between stages, no more: each
	// batch in flight is about a MiB of events the collector keeps live
	// (and lets the heap grow twice that before it collects).
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type decodedBatch struct {
		recs []domain.Recorded
		evs  []domain.Event
		errs []error
	}
	batches := make(chan []domain.Recorded, 1)
	decoded := make(chan decodedBatch, 1)
	go func() {
		defer close(decoded)
		for batch := range batches {
			evs, errs := decodeAll(batch, s.Checkpoint())
			decoded <- decodedBatch{batch, evs, errs}
		}
	}()
	applied := make(chan error, 1)
	go func() {
		var err error
		for d := range decoded {
			if err != nil {
				continue // drain until Replay has stopped
			}
			if err = s.applyBatch(d.recs, d.evs, d.errs); err != nil {
				cancel(err)
				continue
			}
			report()
		}
		applied <- err
	}()
	batch := make([]domain.Recorded, 0, rebuildBatch)
	send := func() error {
		select {
		case batches <- batch:
			batch = make([]domain.Recorded, 0, rebuildBatch)
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	rerr := src.Replay(ctx, from, domain.SubjectRoot+".>", func(rec domain.Recorded) error {
		batch = append(batch, rec)
		if len(batch) < rebuildBatch {
			return nil
		}
		return send()
	})
	if rerr == nil && len(batch) > 0 {
		rerr = send()
	}
	close(batches)
	if err := <-applied; err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("projections: catch up from %d: %w", from, rerr)
	}
	return nil
}
