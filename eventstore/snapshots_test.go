package eventstore

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readSnapshot opens the newest acceptable snapshot of st and returns its
// contents, its info, and the names skipped on the way with their reasons.
func readSnapshot(t *testing.T, st *Store) ([]byte, SnapshotInfo, map[string]string, error) {
	t.Helper()
	skipped := map[string]string{}
	r, info, err := st.OpenSnapshot(testContext(t), func(i SnapshotInfo, reason string) { skipped[i.Name] = reason })
	if err != nil {
		return nil, info, skipped, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return data, info, skipped, err
}

// A signed snapshot is read back whole; a newer one that is unsigned, or
// signed by an untrusted key, or whose signature does not cover its
// contents, is skipped with its reason; only the newest two are kept.
func TestSnapshotsAreSignedAndChecked(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	key := newLogKey(t)
	st := openWith(t, Options{InProcess: srv, LogKey: key})
	if _, _, _, err := readSnapshot(t, st); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("OpenSnapshot on an empty bucket: %v; want ErrNoSnapshot", err)
	}
	for _, seq := range []uint64{5, 10, 20} {
		info, err := st.PutSnapshot(testContext(t), seq, strings.NewReader(strings.Repeat("x", int(seq))))
		if err != nil {
			t.Fatalf("PutSnapshot(%d): %v", seq, err)
		}
		if !info.Signed || info.Seq != seq {
			t.Fatalf("PutSnapshot(%d) = %+v; want it signed at %d", seq, info, seq)
		}
	}
	list, err := st.Snapshots(testContext(t))
	if err != nil || len(list) != 2 || list[0].Seq != 20 || list[1].Seq != 10 {
		t.Fatalf("Snapshots = %+v, %v; want 20 and 10 (the newest two)", list, err)
	}
	data, info, skipped, err := readSnapshot(t, st)
	if err != nil || info.Seq != 20 || string(data) != strings.Repeat("x", 20) || len(skipped) != 0 {
		t.Fatalf("OpenSnapshot = %q at %d, skipped %v, %v; want 20 x at 20", data, info.Seq, skipped, err)
	}

	// Forgeries, newer than the good one, put by someone with the
	// writer's permissions but not the log key.
	unsigned := openStore(t, srv) // no LogKey: puts unsigned
	if _, err := unsigned.PutSnapshot(testContext(t), 30, strings.NewReader("forged")); err != nil {
		t.Fatal(err)
	}
	obs, err := st.snapshots(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	// A good signature moved onto other contents.
	good, err := obs.GetInfo(testContext(t), snapshotName(20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Put(testContext(t), jetstream.ObjectMeta{Name: snapshotName(40), Headers: nats.Header(http.Header(good.Headers).Clone())}, bytes.NewReader([]byte("swapped"))); err != nil {
		t.Fatal(err)
	}
	meta := jetstream.ObjectMeta{Name: snapshotName(40), Headers: nats.Header(http.Header(good.Headers).Clone())}
	meta.Headers.Set(hdrSnapshotSeq, "40")
	if err := obs.UpdateMeta(testContext(t), snapshotName(40), meta); err != nil {
		t.Fatal(err)
	}
	data, info, skipped, err = readSnapshot(t, st)
	if err != nil || info.Seq != 20 || string(data) != strings.Repeat("x", 20) {
		t.Fatalf("OpenSnapshot = %q at %d, %v; want the good one at 20", data, info.Seq, err)
	}
	if !strings.Contains(skipped[snapshotName(30)], "unsigned") || !strings.Contains(skipped[snapshotName(40)], "bad signature") {
		t.Errorf("skipped %v; want 30 unsigned and 40 with a bad signature", skipped)
	}
	// A reader that trusts no key takes the newest.
	if _, info, _, err := readSnapshot(t, unsigned); err != nil || info.Seq != 40 {
		t.Errorf("an unverifying OpenSnapshot = %d, %v; want 40", info.Seq, err)
	}
}

// A snapshot of many chunks is read back whole, a few chunks at a time;
// one whose chunk was lost from the stream fails its read with
// ErrSnapshotInvalid instead of waiting for the chunk.
func TestSnapshotReadByChunks(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	st := openWith(t, Options{InProcess: srv, LogKey: newLogKey(t)})
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*snapshotReadAhead*128<<10/16+1000) // > 3×read-ahead chunks
	if _, err := st.PutSnapshot(testContext(t), 7, bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	data, info, _, err := readSnapshot(t, st)
	if err != nil || info.Seq != 7 || !bytes.Equal(data, want) {
		t.Fatalf("OpenSnapshot read %d bytes at %d, %v; want the %d put at 7", len(data), info.Seq, err, len(want))
	}

	// A chunk in the middle goes missing.
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(testContext(t), "OBJ_"+SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	si, err := stream.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(testContext(t), si.State.FirstSeq+5); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := readSnapshot(t, st); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("reading a snapshot with a chunk lost: %v; want ErrSnapshotInvalid", err)
	}
}
