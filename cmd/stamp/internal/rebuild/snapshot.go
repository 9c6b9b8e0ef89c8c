package rebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stamp-oauth/stamp/projections"
)

// A rebuild from a snapshot starts from the newest read-model snapshot
// that passes its checks (projections.RebuildFromSnapshot) and replays
// only the events after it; a snapshot that fails a check, or is ahead of
// the log, is skipped with a warning, and with none left the rebuild
// starts from the first event, as Fresh. Where snapshots are kept and who
// signs them is the caller's business (app adapts the event store's
// object store bucket to Snapshots).
//
// Trade-off: a rebuild from a snapshot proves the live models against the
// log only for the events after the snapshot (drift before it is carried
// over, as the snapshot holds it); one from the first event proves all of
// it.

// Errors a Snapshots source returns.
var (
	// ErrNoSnapshot: the source holds no snapshot that passes its checks.
	ErrNoSnapshot = errors.New("rebuild: no snapshot")
	// ErrSnapshotInvalid is wrapped by an error met reading a snapshot
	// whose contents turn out not to be what was signed: the rebuild skips
	// it.
	ErrSnapshotInvalid = errors.New("rebuild: snapshot invalid")
)

// SnapshotInfo names one snapshot: its name where it is kept, and the
// stream sequence its state has applied.
type SnapshotInfo struct {
	Name string
	Seq  uint64
}

// Snapshots is where a rebuild finds read-model snapshots.
type Snapshots interface {
	// OpenSnapshot opens the newest snapshot that passes the source's
	// checks (a signature), as a reader of its contents that the caller
	// closes; every newer one it passes over goes to skipped with the
	// reason. It returns an error wrapping ErrNoSnapshot when none is left;
	// reading returns one wrapping ErrSnapshotInvalid for contents that do
	// not match what was checked.
	OpenSnapshot(ctx context.Context, skipped func(info SnapshotInfo, reason string)) (io.ReadCloser, SnapshotInfo, error)
}

// FreshFrom is Fresh starting from the newest usable snapshot of snaps and
// the events after it (Stats.FromSnapshot is its sequence), or, without
// one, from the first event. warn hears of every snapshot it skips and why
// (signature, checksum, ahead of the log, unreadable), and of a source
// that cannot be read at all. A failure of the log, the store or ctx
// during the rebuild ends it with that error, as in Fresh; only a bad
// snapshot falls back to the first event.
func FreshFrom(ctx context.Context, snaps Snapshots, src projections.Replayer, dir string, opts projections.Options, progress func(done, total uint64), warn func(string)) (*projections.Store, Stats, error) {
	freshDir := FreshDir(dir)
	if err := os.RemoveAll(freshDir); err != nil {
		return nil, Stats{}, fmt.Errorf("remove the stale %s: %w", freshDir, err)
	}
	counted := &countingReplayer{Replayer: src}
	start := time.Now()
	fresh, from, err := fromSnapshot(ctx, snaps, counted, freshDir, opts, progress, warn)
	if err == nil && fresh == nil {
		return Fresh(ctx, src, dir, opts, progress)
	}
	st := Stats{Events: counted.n.Load(), Elapsed: time.Since(start), FromSnapshot: from}
	if err != nil {
		os.RemoveAll(freshDir)
		return nil, st, err
	}
	return fresh, st, nil
}

// fromSnapshot rebuilds into freshDir from the newest usable snapshot of
// snaps and the events of src after it, and returns the store and the
// snapshot's sequence. It returns a nil store (and removes freshDir) when
// there is no usable snapshot, after warning about every one it skipped.
func fromSnapshot(ctx context.Context, snaps Snapshots, src projections.Replayer, freshDir string, opts projections.Options, progress func(done, total uint64), warn func(string)) (*projections.Store, uint64, error) {
	last, err := src.LastSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	skip := func(info SnapshotInfo, reason string) {
		warn(fmt.Sprintf("ignoring read-model snapshot %s (sequence %d): %s", info.Name, info.Seq, reason))
	}
	r, info, err := snaps.OpenSnapshot(ctx, skip)
	if errors.Is(err, ErrNoSnapshot) {
		return nil, 0, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, err
		}
		warn(fmt.Sprintf("cannot read the read-model snapshots (%v); rebuilding from the first event", err))
		return nil, 0, nil
	}
	defer r.Close()
	if info.Seq > last {
		skip(info, fmt.Sprintf("it is ahead of the log, which ends at sequence %d", last))
		return nil, 0, nil
	}
	fresh, err := projections.RebuildFromSnapshot(ctx, freshDir, opts, r, src, progress)
	switch {
	case err == nil:
		return fresh, info.Seq, nil
	case ctx.Err() != nil:
		os.RemoveAll(freshDir)
		return nil, 0, err
	case errors.Is(err, projections.ErrSnapshotMalformed), errors.Is(err, projections.ErrLayout), errors.Is(err, ErrSnapshotInvalid):
		os.RemoveAll(freshDir)
		skip(info, err.Error())
		return nil, 0, nil
	default:
		os.RemoveAll(freshDir)
		return nil, 0, err
	}
}
