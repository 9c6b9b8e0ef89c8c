package projections

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// waitTimeout bounds every wait in these tests; they poll nothing.
const waitTimeout = 10 * time.Second

// startRunner runs r until the test ends. The function it returns waits
// for Run's result (any number of times).
func startRunner(t *testing.T, r *Runner) (result func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	result = sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() {
		cancel()
		result()
	})
	return result
}

func waitFor(t *testing.T, r *Runner, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := r.WaitFor(ctx, seq); err != nil {
		t.Fatalf("WaitFor(%d) = %v; want nil", seq, err)
	}
}

func TestRunnerAppliesAndWaits(t *testing.T) {
	recs := randomHistory(t, 600, 5, true)
	log := newFakeLog(recs[:100]...)
	s := openMem(t, vfs.NewMem(), "db")
	r := NewRunner(s, log, nil)
	startRunner(t, r)
	waitFor(t, r, 100)

	// A waiter that starts before its event is appended.
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		waited <- r.WaitFor(ctx, 101)
	}()
	log.append(recs[100])
	if err := <-waited; err != nil {
		t.Fatalf("WaitFor(101) = %v; want nil", err)
	}

	// A burst arrives at once and is applied promptly.
	log.append(recs[101:]...)
	waitFor(t, r, 600)
	if got := r.Applied(); got != 600 {
		t.Errorf("Applied() = %d; want 600", got)
	}

	want := openMem(t, vfs.NewMem(), "want")
	applyAll(t, want, recs)
	if got, want := checksum(t, s), checksum(t, want); got != want {
		t.Errorf("runner checksum %s; want %s", got, want)
	}
}

func TestWaitForTimesOut(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	r := NewRunner(s, newFakeLog(), nil)
	startRunner(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor = %v; want context.DeadlineExceeded", err)
	}
	if err := r.WaitFor(ctx, 0); err != nil {
		t.Errorf("WaitFor(0) = %v; want nil", err)
	}
}

// TestRunnerParksFutureVersion: the runner parks an event of a newer
// version, logs it once, and goes on.
func TestRunnerParksFutureVersion(t *testing.T) {
	h := newHistory(t)
	h.add(registered("web"))
	h.add(created("t1", "web", "alice", at(2)))
	h.addRaw("stamp.client.web.ClientRegistered", "ClientRegistered", 99, `{"client_id":"web"}`)
	h.add(created("t2", "web", "alice", at(4)))
	log := newFakeLog(h.recs...)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	s, err := Open("db", Options{FS: vfs.NewMem(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := NewRunner(s, log, logger)
	result := startRunner(t, r)
	waitFor(t, r, 4)
	parked, err := r.Parked()
	if err != nil || len(parked) != 1 || parked[0].Seq != 3 || !parked[0].Blocks {
		t.Errorf("Parked = %+v, %v; want sequence 3, blocking", parked, err)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("logged %d errors; want 1:\n%s", n, logs.String())
	}
	_ = result
}

func TestRunnerWaiterLearnsOfStop(t *testing.T) {
	h := newHistory(t)
	h.add(registered("web"))
	log := newFakeLog(h.recs...)
	s := openMem(t, vfs.NewMem(), "db")
	r := NewRunner(s, log, nil)
	result := startRunner(t, r)
	waitFor(t, r, 1)

	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		waited <- r.WaitFor(ctx, 2)
	}()
	zero := h.add(domain.ClientDeleted{ClientID: "web"})
	zero.Seq = 0 // the one thing that still stops a store
	log.append(zero)
	if err := <-waited; !errors.Is(err, ErrStopped) {
		t.Errorf("WaitFor(2) = %v; want ErrStopped", err)
	}
	if err := result(); err == nil {
		t.Error("Run = nil; want the malformed event error")
	}
}

func TestRunnerResumesFromCheckpoint(t *testing.T) {
	recs := randomHistory(t, 50, 6, true)
	log := newFakeLog(recs[:20]...)
	s := openMem(t, vfs.NewMem(), "db")
	r := NewRunner(s, log, nil)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, r, 20)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled", err)
	}

	log.append(recs[20:]...)
	startRunner(t, r)
	waitFor(t, r, 50)
	if got, want := log.followed(), []uint64{1, 21}; !slices.Equal(got, want) {
		t.Errorf("Follow called from %v; want %v", got, want)
	}
}

func TestRunnerRunsOnce(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	log := newFakeLog()
	r := NewRunner(s, log, nil)
	startRunner(t, r)
	select { // the first Run is following
	case <-log.following:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not start following")
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second concurrent Run = %v; want ErrRunning", err)
	}
}

func TestWaitForClosedStore(t *testing.T) {
	s := openMem(t, vfs.NewMem(), "db")
	r := NewRunner(s, newFakeLog(), nil)
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		waited <- r.WaitFor(ctx, 1)
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitFor on a closed store = %v; want ErrClosed", err)
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
