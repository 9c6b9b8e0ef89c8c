package rebuild

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/projections"
)

// snapshotsOf is a Snapshots source holding snapshots in memory, newest
// first; bad names the ones that fail the source's checks.
type snapshotsOf struct {
	list []heldSnapshot
	err  error // returned by OpenSnapshot when set
}

type heldSnapshot struct {
	info SnapshotInfo
	data []byte
	bad  string // why the source's checks refuse it; "": it passes
	// invalid: reading it ends with an error wrapping ErrSnapshotInvalid
	// (the contents do not match what was signed).
	invalid bool
}

func (s snapshotsOf) OpenSnapshot(_ context.Context, skipped func(SnapshotInfo, string)) (io.ReadCloser, SnapshotInfo, error) {
	if s.err != nil {
		return nil, SnapshotInfo{}, s.err
	}
	for _, h := range s.list {
		if h.bad != "" {
			skipped(h.info, h.bad)
			continue
		}
		var r io.Reader = bytes.NewReader(h.data)
		if h.invalid {
			r = io.MultiReader(r, errReader{})
		}
		return io.NopCloser(r), h.info, nil
	}
	return nil, SnapshotInfo{}, ErrNoSnapshot
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, ErrSnapshotInvalid }

// snapshotAt returns a snapshot of the read models of the first n events
// of log.
func snapshotAt(t *testing.T, log sliceLog, n int) []byte {
	t.Helper()
	s, _, err := Fresh(context.Background(), sliceLog{recs: log.recs[:n]}, filepath.Join(t.TempDir(), "p"), projections.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFreshFromSnapshot(t *testing.T) {
	log := clients(t, 6)
	snap4 := snapshotAt(t, log, 4)
	want := func() string {
		dir := filepath.Join(t.TempDir(), "projections")
		s, _, err := Fresh(context.Background(), log, dir, projections.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, sum, err := Install(s, dir, false)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}()

	for _, tc := range []struct {
		name     string
		snaps    snapshotsOf
		from     uint64
		events   uint64
		warnings []string
	}{
		{"none", snapshotsOf{}, 0, 6, nil},
		{"the newest", snapshotsOf{list: []heldSnapshot{{info: SnapshotInfo{"4", 4}, data: snap4}}}, 4, 2, nil},
		{"a bad one skipped", snapshotsOf{list: []heldSnapshot{
			{info: SnapshotInfo{"5", 5}, bad: "unsigned"},
			{info: SnapshotInfo{"4", 4}, data: snap4},
		}}, 4, 2, []string{"ignoring read-model snapshot 5 (sequence 5): unsigned"}},
		{"ahead of the log", snapshotsOf{list: []heldSnapshot{{info: SnapshotInfo{"9", 9}, data: snap4}}}, 0, 6, []string{"snapshot 9 (sequence 9): it is ahead of the log, which ends at sequence 6"}},
		{"cut short", snapshotsOf{list: []heldSnapshot{{info: SnapshotInfo{"4", 4}, data: snap4[:len(snap4)/2]}}}, 0, 6, []string{"snapshot 4 (sequence 4): projections: restore snapshot: projections: snapshot malformed"}},
		{"not what was signed", snapshotsOf{list: []heldSnapshot{{info: SnapshotInfo{"4", 4}, data: snap4[:len(snap4)-1], invalid: true}}}, 0, 6, []string{"snapshot 4 (sequence 4)", "snapshot invalid"}},
		{"an unreadable source", snapshotsOf{err: errors.New("bucket gone")}, 0, 6, []string{"cannot read the read-model snapshots (bucket gone)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "projections")
			var warnings []string
			fresh, st, err := FreshFrom(context.Background(), tc.snaps, log, dir, projections.Options{}, nil, func(s string) { warnings = append(warnings, s) })
			if err != nil {
				t.Fatalf("FreshFrom: %v", err)
			}
			if st.FromSnapshot != tc.from || st.Events != tc.events {
				t.Errorf("FreshFrom started from %d and applied %d events; want %d and %d", st.FromSnapshot, st.Events, tc.from, tc.events)
			}
			_, sum, err := Install(fresh, dir, false)
			if err != nil {
				t.Fatal(err)
			}
			if sum != want {
				t.Errorf("checksum %s; want %s, as from the first event", sum, want)
			}
			all := strings.Join(warnings, "\n")
			for _, w := range tc.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %q; want one with %q", all, w)
				}
			}
			if len(tc.warnings) == 0 && len(warnings) > 0 {
				t.Errorf("warnings %q; want none", all)
			}
		})
	}
}

// A failure of the log while replaying the tail after a snapshot ends the
// rebuild with it (and removes the partial directory) instead of falling
// back to the first event.
func TestFreshFromSnapshotLogFailure(t *testing.T) {
	log := clients(t, 6)
	snaps := snapshotsOf{list: []heldSnapshot{{info: SnapshotInfo{"4", 4}, data: snapshotAt(t, log, 4)}}}
	down := errors.New("the log went away")
	log.err = down
	dir := filepath.Join(t.TempDir(), "projections")
	if _, _, err := FreshFrom(context.Background(), snaps, log, dir, projections.Options{}, nil, func(string) {}); !errors.Is(err, down) {
		t.Fatalf("FreshFrom error %v; want the log's", err)
	}
	if exists(FreshDir(dir)) {
		t.Errorf("a failed rebuild left %s", FreshDir(dir))
	}
}
