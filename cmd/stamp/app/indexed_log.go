package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// indexedLog is the server's domain.EventLog: the event store, except that
// it loads an aggregate of a sharded kind (tokens, refresh families, codes,
// device codes; see domain.Aggregate) through the read models' event index
// and direct gets, since such an aggregate has no subject of its own and
// the store alone would scan its whole shard.
type indexedLog struct {
	*eventstore.Store
	views  *projections.Store
	runner *projections.Runner
	// wait bounds the catch-up before an indexed load
	// (projection_wait_timeout).
	wait time.Duration
}

// Load returns every event of agg in stream order, as eventstore.Store.Load
// documents. For a sharded kind it first waits until the read models have
// applied the stream as it ends now, so the index holds every event of agg
// up to there (a decision reloading after a conflict sees the event it
// conflicted with), then reads the index and gets those sequences.
func (l indexedLog) Load(ctx context.Context, agg domain.Aggregate) ([]domain.Recorded, error) {
	if !agg.Sharded() {
		return l.Store.Load(ctx, agg)
	}
	last, err := l.Store.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", agg, err)
	}
	if err := domain.WaitApplied(ctx, l.runner, last, l.wait); err != nil {
		return nil, fmt.Errorf("load %s: %w", agg, err)
	}
	return loadIndexed(ctx, l.Store, l.views, agg)
}

// loadIndexed reads the events of agg, a sharded kind, through views'
// event index and store's direct gets, as far as views has applied the log.
func loadIndexed(ctx context.Context, store *eventstore.Store, views *projections.Store, agg domain.Aggregate) ([]domain.Recorded, error) {
	seqs, err := views.EventSeqs(ctx, agg)
	if errors.Is(err, projections.ErrNotIndexed) {
		return store.Load(ctx, agg)
	}
	if err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		return []domain.Recorded{}, nil
	}
	return store.Get(ctx, seqs)
}
