package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/projections"
)

// Read models a server cannot trust, found at start.
//
// Damaged: Pebble cannot open the store or a block of it fails its checksum
// (Open, then VerifyIncremental, which reads the tables written since the
// last start and, in turn, a fixed budget of the others).
// Ahead: the models applied a sequence above the stream's last one, so the
// log lost events they hold (a restore of an older backup of the log, or
// writes lost with --sync interval in a power failure); new events would
// reuse those sequences, and the models would skip them.
//
// Either way the server refuses to start and names the command that
// repairs it, stamp replay --force, unless --repair-read-models is set:
// then it does the same itself, moving the old store aside to
// projections.corrupt-<time> and rebuilding from the log. The default is to
// refuse, since read models ahead of the log are the only record of what
// the log lost: an operator may rather restore a newer log.

// errReadModelsDamaged and errReadModelsAhead are wrapped by a start that
// refused read models.
var (
	errReadModelsDamaged = errors.New("the read models are damaged")
	errReadModelsAhead   = errors.New("the read models are ahead of the log")
)

// repairHint is what an operator runs to rebuild read models the server
// refused.
const repairHint = "stop every stamp on this data directory and run `stamp replay --force` (it rebuilds them from the log without opening the old ones, which it keeps in projections.corrupt-<time>), or start with --repair-read-models to have the server do so"

// openTrustedViews opens the read models in dir and checks them against the
// log whose last sequence is last (see above).
func openTrustedViews(dir string, last uint64, c Config, opts projections.Options) (*projections.Store, error) {
	logger := opts.Logger
	views, err := openViews(dir, opts)
	if err == nil {
		start := time.Now()
		// Only the tables not read before, and a share of the others
		// (see projections.Store.VerifyIncremental).
		if v, verr := views.VerifyIncremental(); verr != nil {
			err = verr
			views.Close()
		} else {
			logger.Info("read models verified", "tables", v.Tables, "bytes", v.Bytes, "trusted", v.Skipped, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	switch {
	case errors.Is(err, projections.ErrCorrupt):
		err = fmt.Errorf("%w: %w", errReadModelsDamaged, err)
	case err != nil:
		return nil, err
	case views.Highest() > last:
		err = fmt.Errorf("%w: they have applied up to sequence %d, but the log ends at sequence %d: the log lost events they hold (a restore of an older backup of the log, or writes lost with --sync interval in a power failure)", errReadModelsAhead, views.Highest(), last)
		views.Close()
	default:
		return views, nil
	}
	if !c.RepairReadModels {
		return nil, fmt.Errorf("%w; %s", err, repairHint)
	}
	aside, merr := rebuild.MoveAside(dir, time.Now())
	if merr != nil {
		return nil, fmt.Errorf("%w; moving them aside failed: %w", err, merr)
	}
	logger.Warn("rebuilding the read models from the log (--repair-read-models)", "why", err, "old", aside)
	return openViews(dir, opts)
}

// lastSeq is the stream's last sequence, for the checks at start.
func lastSeq(ctx context.Context, n *Node) (uint64, error) {
	last, err := n.store.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("the log's last sequence: %w", err)
	}
	return last, nil
}

// verifyNewTablesEvery is how often a running node reads the read models'
// tables written since it last did (projections.Store.VerifyNew).
const verifyNewTablesEvery = 10 * time.Second

// verifyNewTables reads, every verifyNewTablesEvery until ctx ends, the
// tables the read models wrote since the last pass, so that the next
// start reads only what was written after the last pass (and its share
// of the rest) instead of everything written since the last start: a
// server that ran through ten million events read 592 MB at its restart.
// A damaged table is logged at error level with the repair, as a start
// would refuse it; the reads that meet it fail on their own (Pebble
// checks each block's checksum on every read).
func (n *Node) verifyNewTables(ctx context.Context) {
	tick := time.NewTicker(verifyNewTablesEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		v, err := n.views.VerifyNew()
		switch {
		case errors.Is(err, projections.ErrCorrupt):
			n.logger.Error(errReadModelsDamaged.Error(), "err", err, "repair", repairHint)
		case err != nil && !errors.Is(err, projections.ErrClosed):
			n.logger.Warn("verifying the read models' new tables", "err", err)
		case err == nil && v.Tables > 0:
			n.logger.Debug("read models' new tables verified", "tables", v.Tables, "bytes", v.Bytes)
		}
	}
}
