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

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// Read-model snapshots (issue 11): a server with snapshot_interval set
// writes its whole read-model store (projections.Store.WriteSnapshot) to
// the object store bucket eventstore.SnapshotBucket every so many events
// or so much time, signed with the log-signing key. stamp replay then
// rebuilds from the newest snapshot whose signature and checksum hold plus
// the events after it (cmd/stamp/internal/rebuild.FreshFrom, which says
// what it skips and why), and stamp replay --from-scratch from the first
// event, as before.

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

// snapshotSource adapts the event store's snapshot bucket to
// rebuild.Snapshots: its signature checks, its sentinel errors in the
// rebuild's terms.
type snapshotSource struct{ store *eventstore.Store }

func (s snapshotSource) OpenSnapshot(ctx context.Context, skipped func(rebuild.SnapshotInfo, string)) (io.ReadCloser, rebuild.SnapshotInfo, error) {
	r, info, err := s.store.OpenSnapshot(ctx, func(info eventstore.SnapshotInfo, reason string) {
		skipped(rebuild.SnapshotInfo{Name: info.Name, Seq: info.Seq}, reason)
	})
	if errors.Is(err, eventstore.ErrNoSnapshot) {
		return nil, rebuild.SnapshotInfo{}, fmt.Errorf("%w: %w", rebuild.ErrNoSnapshot, err)
	}
	if err != nil {
		return nil, rebuild.SnapshotInfo{}, err
	}
	return checkedReader{r}, rebuild.SnapshotInfo{Name: info.Name, Seq: info.Seq}, nil
}

// checkedReader marks a read error wrapping eventstore.ErrSnapshotInvalid
// as rebuild.ErrSnapshotInvalid too.
type checkedReader struct{ io.ReadCloser }

func (c checkedReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && errors.Is(err, eventstore.ErrSnapshotInvalid) {
		err = fmt.Errorf("%w: %w", rebuild.ErrSnapshotInvalid, err)
	}
	return n, err
}

// snapshotWarner returns a warn function that logs at warning level.
func snapshotWarner(logger *slog.Logger) func(string) {
	return func(msg string) { logger.Warn(msg) }
}
