package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// Read-model snapshots (issue 11): a server with snapshot_interval set
// writes its whole read-model store (projections.Store.WriteSnapshot) to
// the object store bucket eventstore.SnapshotBucket every so many events
// or so much time, signed with the log-signing key. stamp replay then
// rebuilds from the newest snapshot whose signature and checksum hold plus
// the events after it, and stamp replay --from-scratch from the first
// event, as before. A snapshot that fails its checks is skipped with a
// warning; with none left, the replay starts from the first event.
//
// Trade-off: a replay from a snapshot proves the live models against the
// log only for the events after the snapshot (drift before it is carried
// over, as the snapshot holds it); --from-scratch proves all of it.

// SnapshotInterval is how often a server writes a read-model snapshot:
// every Events applied events, or every Every; zero is off. It is written
// as a whole number of events ("100000") or a duration ("1h").
type SnapshotInterval struct {
	Events uint64
	Every  time.Duration
}

// parseSnapshotInterval parses "0", "<events>" or "<duration>".
func parseSnapshotInterval(v string) (SnapshotInterval, error) {
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return SnapshotInterval{Events: n}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return SnapshotInterval{}, fmt.Errorf("want a number of events such as 100000 or a duration such as 1h (0: off), got %q", v)
	}
	return SnapshotInterval{Every: d}, nil
}

// Off reports whether snapshots are off.
func (s SnapshotInterval) Off() bool { return s.Events == 0 && s.Every == 0 }

func (s SnapshotInterval) String() string {
	if s.Every > 0 {
		return s.Every.String()
	}
	return strconv.FormatUint(s.Events, 10)
}

func (s *SnapshotInterval) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var str string
	switch v := v.(type) {
	case float64:
		str = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		str = v
	default:
		return errors.New("want a number of events or a duration")
	}
	p, err := parseSnapshotInterval(str)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

func (s SnapshotInterval) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// snapshotPoll is how often a server with an event interval checks how
// far its read models have come.
const snapshotPoll = 5 * time.Second

// takeSnapshots writes a snapshot of n's read models every interval until
// ctx ends. A failed snapshot is logged and tried again at the next turn.
func (n *Node) takeSnapshots(ctx context.Context, every SnapshotInterval) {
	tick := snapshotPoll
	if every.Every > 0 {
		tick = every.Every
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var last uint64 // of the newest snapshot; none: the first turn writes one
	if list, err := n.store.Snapshots(ctx); err == nil && len(list) > 0 {
		last = list[0].Seq
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cp := n.views.Checkpoint()
		if cp == last || (every.Events > 0 && cp < last+every.Events) {
			continue
		}
		info, err := writeSnapshot(ctx, n.views, n.store, n.cfg.DataDir)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Error("read-model snapshot failed", "err", err)
			}
			continue
		}
		last = info.Seq
		n.logger.Info("read-model snapshot written", "seq", info.Seq, "bytes", info.Size, "signed", info.Signed)
	}
}

// writeSnapshot writes a snapshot of views to a temporary file in dir
// (the data directory), removed after, and puts it into the event store's
// snapshot bucket.
func writeSnapshot(ctx context.Context, views *projections.Store, store *eventstore.Store, dir string) (eventstore.SnapshotInfo, error) {
	f, err := os.CreateTemp(dir, "snapshot-*.tmp")
	if err != nil {
		return eventstore.SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	seq, err := views.WriteSnapshot(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return eventstore.SnapshotInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	return store.PutSnapshot(ctx, seq, f)
}

// snapshotSource is the part of the event store a replay reads snapshots
// from.
type snapshotSource interface {
	OpenSnapshot(ctx context.Context, skipped func(eventstore.SnapshotInfo, string)) (io.ReadCloser, eventstore.SnapshotInfo, error)
}

// rebuildFromSnapshot rebuilds into freshDir from the newest usable
// snapshot of snaps and the events after it, and returns the store and the
// snapshot's sequence. It returns a nil store (and removes freshDir) when
// there is no usable snapshot, after warning about every one it skipped:
// the caller then rebuilds from the first event.
func rebuildFromSnapshot(ctx context.Context, snaps snapshotSource, src projections.Replayer, freshDir string, opts projections.Options, progress func(done, total uint64), warn func(string)) (*projections.Store, uint64, error) {
	last, err := src.LastSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	skip := func(info eventstore.SnapshotInfo, reason string) {
		warn(fmt.Sprintf("ignoring read-model snapshot %s (sequence %d): %s", info.Name, info.Seq, reason))
	}
	r, info, err := snaps.OpenSnapshot(ctx, skip)
	if errors.Is(err, eventstore.ErrNoSnapshot) {
		return nil, 0, nil
	}
	if err != nil {
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
	case errors.Is(err, projections.ErrSnapshotMalformed), errors.Is(err, projections.ErrLayout), errors.Is(err, eventstore.ErrSnapshotInvalid):
		os.RemoveAll(freshDir)
		skip(info, err.Error())
		return nil, 0, nil
	default:
		os.RemoveAll(freshDir)
		return nil, 0, err
	}
}

// snapshotWarner returns a warn function that logs at warning level.
func snapshotWarner(logger *slog.Logger) func(string) {
	return func(msg string) { logger.Warn(msg) }
}
