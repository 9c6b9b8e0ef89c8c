package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// seedViews builds the read models of a node whose data directory holds
// none (a new instance on an existing log, a replacement host, read models
// removed by hand) the way stamp replay builds them: from the newest
// read-model snapshot whose signature and checksum hold, when there is
// one, then the events after it, one signature per range of the log's
// signed checkpoints and each event after the last one (checkedLog). The
// projection runner then follows from where the seed ended, so the first
// start no longer checks the whole history event by event.
//
// A seed that fails (a gap, a refused record, a checkpoint that does not
// match its range, half of a start's deadline passed) leaves nothing
// behind and is logged: the runner then applies the log from the first
// event as it always did, refusing what fails its checks one event at a
// time, so a damaged log never stops a start that would have gone
// through without the seed.
func seedViews(ctx context.Context, dir string, last uint64, c Config, store *eventstore.Store, keys projections.UserKeys, logger *slog.Logger) {
	if last == 0 {
		return
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	start := time.Now()
	// A start with a deadline gives the seed half of what is left, so
	// that a seed that fails late (a cluster slow to answer) leaves the
	// runner time to catch up.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(time.Until(deadline)/2))
		defer cancel()
	}
	src, note, err := checkedLog(ctx, store, c.StreamMaxAge)
	if err == nil {
		if note != "" {
			logger.Warn("seeding the read models: " + note)
		}
		var fresh *projections.Store
		var res replayctl.Result
		fresh, res, err = rebuildFresh(ctx, store, src, dir, c.viewOptions(logger, keys), seedProgress(logger, start), snapshotSource{store}, snapshotWarner(logger))
		if err == nil {
			res.Seq, _, err = rebuild.Install(fresh, dir, false)
		}
		if err == nil {
			logger.Info("read models seeded", "sequence", res.Seq, "from_snapshot", res.FromSnapshot,
				"events", res.Events, "by_checkpoint", res.ByCheckpoint, "took", time.Since(start).Round(time.Millisecond))
			return
		}
	}
	// Fresh and Install remove what they built when they fail.
	logger.Warn("seeding the read models failed; applying the log from the first event", "err", err)
}

// seedProgress logs a seed's progress every ten seconds.
func seedProgress(logger *slog.Logger, start time.Time) func(done, total uint64) {
	next := start.Add(10 * time.Second)
	return func(done, total uint64) {
		if now := time.Now(); now.After(next) {
			next = now.Add(10 * time.Second)
			logger.Info("seeding the read models", "done", done, "total", total)
		}
	}
}
