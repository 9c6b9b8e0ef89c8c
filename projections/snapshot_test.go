package projections

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A store restored from a snapshot taken halfway and caught up with the
// rest of the log equals the store built from the whole log, byte for
// byte; a damaged or cut snapshot is refused.
func TestSnapshotRestoreEqualsRebuild(t *testing.T) {
	recs := randomHistory(t, 3000, 7, true)
	fs := vfs.NewMem()
	live := openMem(t, fs, "live")
	applyAll(t, live, recs[:1700])
	var snap bytes.Buffer
	seq, err := live.WriteSnapshot(&snap)
	if err != nil || seq != live.Checkpoint() || seq != recs[1699].Seq {
		t.Fatalf("WriteSnapshot = %d, %v; want %d", seq, err, recs[1699].Seq)
	}
	applyAll(t, live, recs[1700:])

	log := newFakeLog(recs...)
	restored, err := RebuildFromSnapshot(t.Context(), "restored", Options{FS: fs}, bytes.NewReader(snap.Bytes()), log, nil)
	if err != nil {
		t.Fatalf("RebuildFromSnapshot: %v", err)
	}
	defer restored.Close()
	if got, want := checksum(t, restored), checksum(t, live); got != want {
		t.Errorf("restored and caught up: checksum %s; want %s (applied one by one)", got, want)
	}
	if got := restored.Checkpoint(); got != live.Checkpoint() {
		t.Errorf("restored Checkpoint = %d; want %d", got, live.Checkpoint())
	}

	data := snap.Bytes()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a snapshot", []byte("hello, world, this is not a snapshot at all")},
		{"cut short", data[:len(data)/2]},
		{"no checksum", data[:len(data)-10]},
		{"one byte flipped", flip(data, len(data)/3)},
		{"trailing bytes", append(bytes.Clone(data), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := RestoreSnapshot(t.Context(), "bad-"+tc.name, Options{FS: fs}, bytes.NewReader(tc.data))
			if !errors.Is(err, ErrSnapshotMalformed) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("RestoreSnapshot: %v; want ErrSnapshotMalformed", err)
			}
		})
	}
}

// flip returns a copy of data with the byte at i changed.
func flip(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0x55
	return out
}
