package projections

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestSwapInUnderLoad swaps a rebuilt store in under a live one while its
// Runner applies a stream of new events and readers read and wait: nobody
// sees an error, the two stores agree at the swap, and afterwards the live
// store (the same *Store) goes on and equals a rebuild of the whole log.
func TestSwapInUnderLoad(t *testing.T) {
	recs := randomHistory(t, 3000, 11, true)
	fs := vfs.NewMem()
	log := newFakeLog(recs[:1000]...)
	s := openMem(t, fs, "db")
	r := NewRunner(s, log, nil)
	startRunner(t, r)
	waitFor(t, r, 1000)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var appended atomic.Uint64
	appended.Store(1000)
	stop := make(chan struct{})
	var wg, appending sync.WaitGroup
	var reads atomic.Int64
	appending.Go(func() { // the log grows in small bursts
		for i := 1000; i < 2000; i += 10 {
			log.append(recs[i : i+10]...)
			appended.Store(uint64(i + 10))
			time.Sleep(100 * time.Microsecond)
		}
	})
	for range 3 { // readers read and wait for their writes
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cs, err := s.Clients(ctx)
				if err == nil && len(cs) == 0 {
					err = errors.New("no clients")
				}
				if err == nil {
					err = r.WaitFor(ctx, appended.Load())
				}
				if err != nil {
					t.Errorf("read during the swap: %v", err)
					return
				}
				reads.Add(1)
			}
		})
	}

	fresh, err := Rebuild(ctx, "fresh", Options{FS: fs}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SwapIn(ctx, fresh, log, Swap{Dir: "db", FreshDir: "fresh", Options: Options{FS: fs}})
	if err != nil {
		t.Fatalf("SwapIn: %v", err)
	}
	if res.Drifted() || res.LiveSum == "" || res.Seq < 1000 {
		t.Errorf("SwapIn = %+v; want equal checksums at a sequence of at least 1000", res)
	}
	atSeq := openMem(t, vfs.NewMem(), "at-seq")
	applyAll(t, atSeq, recs[:res.Seq])
	if want := checksum(t, atSeq); res.LiveSum != want {
		t.Errorf("SwapIn compared at %d with checksum %s; want %s (the log up to there)", res.Seq, res.LiveSum, want)
	}
	if _, err := fresh.Checksum(); !errors.Is(err, ErrClosed) {
		t.Errorf("fresh store after SwapIn: Checksum error %v; want ErrClosed", err)
	}

	appending.Wait()
	log.append(recs[2000:]...) // after the swap, too
	waitFor(t, r, 3000)
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Error("the readers read nothing")
	}

	want := openMem(t, vfs.NewMem(), "want")
	applyAll(t, want, recs)
	if got, want := checksum(t, s), checksum(t, want); got != want {
		t.Errorf("after the swap, checksum %s; want %s (a rebuild of the whole log)", got, want)
	}
	for _, dir := range []string{"fresh", "db.old"} {
		if _, err := fs.Stat(dir); err == nil {
			t.Errorf("%s still exists after the swap", dir)
		}
	}
	// What the swap put in place is what a restart opens.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := openMem(t, fs, "db")
	if got, want := checksum(t, again), checksum(t, want); got != want {
		t.Errorf("reopened after the swap: checksum %s; want %s", got, want)
	}
}

// TestSwapInReplacesDrift: a live store holding bytes the log does not
// explain is reported as drifted and replaced all the same.
func TestSwapInReplacesDrift(t *testing.T) {
	recs := randomHistory(t, 500, 12, true)
	fs := vfs.NewMem()
	log := newFakeLog(recs...)
	s := openMem(t, fs, "db")
	applyAll(t, s, recs)
	if err := s.db.Set(ModelClients.idKey("ghost"), []byte(`{"id":"ghost"}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	drifted := checksum(t, s)

	fresh, err := Rebuild(context.Background(), "fresh", Options{FS: fs}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SwapIn(context.Background(), fresh, log, Swap{Dir: "db", FreshDir: "fresh", Options: Options{FS: fs}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Drifted() || res.LiveSum != drifted || res.Seq != 500 {
		t.Errorf("SwapIn = %+v; want drifted from %s at 500", res, drifted)
	}
	if got := checksum(t, s); got != res.FreshSum {
		t.Errorf("after the swap, checksum %s; want the fresh %s", got, res.FreshSum)
	}
	if _, err := s.Client(context.Background(), "ghost"); err == nil {
		t.Error("the drifted client is still there after the swap")
	}
}

// TestSwapInFailureLeavesLive: when the fresh directory cannot be moved in,
// the live store stays in place, open and unchanged.
func TestSwapInFailureLeavesLive(t *testing.T) {
	recs := randomHistory(t, 300, 13, false)
	fs := vfs.NewMem()
	log := newFakeLog(recs[:200]...)
	s := openMem(t, fs, "db")
	r := NewRunner(s, log, nil)
	startRunner(t, r)
	waitFor(t, r, 200)
	before := checksum(t, s)

	fresh, err := Rebuild(context.Background(), "fresh", Options{FS: fs}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.SwapIn(context.Background(), fresh, log, Swap{Dir: "db", FreshDir: "elsewhere", Options: Options{FS: fs}})
	if err == nil {
		t.Fatal("SwapIn from a missing directory succeeded; want an error")
	}
	if got := checksum(t, s); got != before {
		t.Errorf("after a failed swap, checksum %s; want the live %s", got, before)
	}
	log.append(recs[200:]...)
	waitFor(t, r, 300)
	want := openMem(t, vfs.NewMem(), "want")
	applyAll(t, want, recs)
	if got, want := checksum(t, s), checksum(t, want); got != want {
		t.Errorf("the live store after a failed swap: checksum %s; want %s", got, want)
	}

	// A fresh store that is not a rebuild of this log is refused before
	// anything moves: it cannot be brought to the live sequence.
	fresh2, err := Rebuild(context.Background(), "fresh2", Options{FS: fs}, newFakeLog(recs[:250]...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SwapIn(context.Background(), fresh2, newFakeLog(recs[:250]...), Swap{Dir: "db", FreshDir: "fresh2", Options: Options{FS: fs}}); err == nil {
		t.Error("SwapIn of a store that cannot reach the live sequence succeeded; want an error")
	}
	if got, want := checksum(t, s), checksum(t, want); got != want {
		t.Errorf("after a refused swap, checksum %s; want %s", got, want)
	}
}

// TestChecksumOfSnapshot: the checksum SwapIn computes on snapshots is
// Checksum's.
func TestChecksumOfSnapshot(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	applyAll(t, s, randomHistory(t, 300, 14, true))
	snap := s.db.NewSnapshot()
	defer snap.Close()
	applyAll(t, s, nil)
	got, err := checksumOf(snap)
	if err != nil {
		t.Fatal(err)
	}
	if want := checksum(t, s); got != want {
		t.Errorf("checksumOf(snapshot) = %s; want Checksum() = %s", got, want)
	}
}
