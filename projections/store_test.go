package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

// TestRebuildEqualsIncremental: a store built event by event (with
// redeliveries) and stores built from the same events in batches of other
// sizes, by Rebuild, and by Drop and CatchUp hold the same bytes.
func TestRebuildEqualsIncremental(t *testing.T) {
	recs := randomHistory(t, 3000, 3, true)
	fs := vfs.NewMem()
	inc := openMem(t, fs, "incremental")
	for i, rec := range recs {
		if err := inc.Apply(rec); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // redeliver some
			if err := inc.Apply(recs[i/2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := checksum(t, inc)

	for _, size := range []int{1, 2, 7, 256, 1000, len(recs)} {
		s := openMem(t, vfs.NewMem(), "db")
		for i := 0; i < len(recs); i += size {
			if err := s.ApplyBatch(recs[i:min(i+size, len(recs))]); err != nil {
				t.Fatal(err)
			}
		}
		if got := checksum(t, s); got != want {
			t.Errorf("batches of %d: checksum %s; want %s", size, got, want)
		}
	}

	log := newFakeLog(recs...)
	var calls int
	var last [2]uint64
	rebuilt, err := Rebuild(context.Background(), "rebuilt", Options{FS: fs}, log, func(done, total uint64) {
		calls++
		last = [2]uint64{done, total}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rebuilt.Close() })
	if got := checksum(t, rebuilt); got != want {
		t.Errorf("Rebuild: checksum %s; want %s", got, want)
	}
	if calls < 3 || last != [2]uint64{3000, 3000} {
		t.Errorf("progress called %d times, last with %v; want several, last (3000, 3000)", calls, last)
	}
	if d := cmp.Diff([]string{"stamp.>"}, log.filters); d != "" {
		t.Errorf("Replay filters mismatch (-want +got):\n%s", d)
	}

	for _, m := range Models() {
		if err := inc.Drop(m); err != nil {
			t.Fatal(err)
		}
		if got := inc.Checkpoint(); got != 0 {
			t.Errorf("after Drop(%s), Checkpoint() = %d; want 0", m, got)
		}
		if err := inc.CatchUp(context.Background(), log, nil); err != nil {
			t.Fatal(err)
		}
		if got := checksum(t, inc); got != want {
			t.Errorf("Drop(%s) and CatchUp: checksum %s; want %s", m, got, want)
		}
	}
}

func TestRebuildRefusesExistingStore(t *testing.T) {
	fs := vfs.NewMem()
	openMem(t, fs, "db").Close()
	if s, err := Rebuild(context.Background(), "db", Options{FS: fs}, newFakeLog(), nil); err == nil {
		s.Close()
		t.Fatal("Rebuild into an existing store succeeded; want an error")
	}
}

func TestReopenKeepsState(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	s := openMem(t, fs, "db")
	recs := randomHistory(t, 500, 4, true)
	applyAll(t, s, recs)
	sum := checksum(t, s)
	clients, err := s.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openMem(t, fs, "db")
	if got := s.Checkpoint(); got != 500 {
		t.Errorf("reopened Checkpoint() = %d; want 500", got)
	}
	if got := checksum(t, s); got != sum {
		t.Errorf("reopened checksum %s; want %s", got, sum)
	}
	got, err := s.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(clients, got); d != "" {
		t.Errorf("reopened Clients mismatch (-want +got):\n%s", d)
	}
	if err := s.Apply(recs[10]); err != nil {
		t.Errorf("redelivery after reopen = %v; want nil", err)
	}
}

func TestOpenRefusesOtherLayout(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(keyLayout), []byte("0"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open("db", Options{FS: fs}); !errors.Is(err, ErrLayout) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open = %v; want ErrLayout", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v; want nil", err)
	}
	if err := (Options{CacheSize: -1}).Validate(); err == nil {
		t.Error("negative cache size: nil; want an error")
	}
	if _, err := Open("db", Options{FS: vfs.NewMem(), CacheSize: -1}); err == nil {
		t.Error("Open with a negative cache size succeeded")
	}
	if _, err := Open("", Options{FS: vfs.NewMem()}); err == nil {
		t.Error("Open without a directory succeeded")
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec := newHistory(t).add(registered("web"))
	for name, err := range map[string]error{
		"Close":      s.Close(),
		"Apply":      s.Apply(rec),
		"Drop":       s.Drop(ModelClients),
		"Client":     errOf(s.Client(ctx, "web")),
		"Clients":    errOf(s.Clients(ctx)),
		"Tokens":     errOf(s.AccessTokensByUser(ctx, "u")),
		"SigningKey": errOf(s.SigningKeys(ctx)),
		"Checksum":   errOf(s.Checksum()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

func TestViewsHonourContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := openMem(t, vfs.NewMem(), "db")
	applyAll(t, s, []domain.Recorded{newHistory(t).add(registered("web"))})
	if _, err := s.Client(ctx, "web"); !errors.Is(err, context.Canceled) {
		t.Errorf("Client with an ended ctx = %v; want context.Canceled", err)
	}
	if _, err := s.AccessTokensByClient(ctx, "web"); !errors.Is(err, context.Canceled) {
		t.Errorf("AccessTokensByClient with an ended ctx = %v; want context.Canceled", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestRebuildParksFutureVersion: a replay parks an event it cannot apply
// and goes on; the rebuilt store equals one built by applying the same
// events live.
func TestRebuildParksFutureVersion(t *testing.T) {
	recs := randomHistory(t, 3000, 7, true)
	bad := recs[1499]
	bad.Envelope.Type, bad.Envelope.Version = "ClientDeleted", 99
	bad.Subject = "stamp.client.x.ClientDeleted"
	recs[1499] = bad

	fs := vfs.NewMem()
	rebuilt, err := Rebuild(context.Background(), "db", Options{FS: fs}, newFakeLog(recs...), nil)
	if err != nil {
		t.Fatalf("Rebuild = %v; want nil", err)
	}
	t.Cleanup(func() { rebuilt.Close() })
	if got := rebuilt.Checkpoint(); got != 3000 {
		t.Errorf("Checkpoint() after the rebuild = %d; want 3000", got)
	}
	live := openMem(t, vfs.NewMem(), "live")
	applyAll(t, live, recs)
	if a, b := checksum(t, rebuilt), checksum(t, live); a != b {
		t.Errorf("rebuilt %s, live %s; want the same", a, b)
	}
	if parked, err := rebuilt.Parked(); err != nil || len(parked) == 0 || parked[0].Seq != 1500 {
		t.Errorf("Parked = %+v, %v; want sequence 1500 first", parked, err)
	}
}
