package eventstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/groupcommit"
)

// holdCommits makes st's committer hand its queue to the flusher, as if a
// round were in progress, so that ExpectAny appends queue until release is
// called (at the latest when the test ends).
func holdCommits(tb testing.TB, st *Store) (release func()) {
	tb.Helper()
	eventually(tb, "committer idle", st.commits.Hold)
	var once sync.Once
	release = func() { once.Do(st.commits.Release) }
	tb.Cleanup(release)
	return release
}

// waitQueued waits until n appends queue on st's committer.
func waitQueued(tb testing.TB, st *Store, n int) {
	tb.Helper()
	eventually(tb, fmt.Sprintf("%d appends queued", n), func() bool { return st.commits.Queued() >= n })
}

func combineAlways(st *Store) { st.commits.CombineAlways() }

func commitStatsOf(st *Store) groupcommit.Stats { return st.commits.Stats() }

// setCosts makes st's committer believe that an append on its own costs
// solo and a combined batch costs batch, both just measured.
func setCosts(st *Store, solo, batch time.Duration) { st.commits.SetCosts(solo, batch) }

// eventually polls cond until it holds, for at most ten seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

type appendOutcome struct {
	seq uint64
	err error
}

// appendAsync runs Append in a goroutine; receive its outcome with result.
func appendAsync(ctx context.Context, st *Store, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) <-chan appendOutcome {
	ch := make(chan appendOutcome, 1)
	go func() {
		seq, err := st.Append(ctx, agg, expect, events...)
		ch <- appendOutcome{seq, err}
	}()
	return ch
}

func result(tb testing.TB, ch <-chan appendOutcome) appendOutcome {
	tb.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("Append did not return within 10s")
		return appendOutcome{}
	}
}

// logBySeq replays the whole stream: the envelope id at each sequence. It
// fails the test if an id is stored twice.
func logBySeq(tb testing.TB, st *Store) map[uint64]string {
	tb.Helper()
	bySeq := map[uint64]string{}
	seen := map[string]uint64{}
	err := st.Replay(testContext(tb), 0, "", func(r domain.Recorded) error {
		if first, ok := seen[r.Envelope.ID]; ok {
			tb.Errorf("event %s stored twice: at %d and %d", r.Envelope.ID, first, r.Seq)
		}
		seen[r.Envelope.ID] = r.Seq
		bySeq[r.Seq] = r.Envelope.ID
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay: %v", err)
	}
	return bySeq
}

// checkAppended checks that the append of ids that returned seq sits at
// seq-len(ids)+1 .. seq, in order.
func checkAppended(tb testing.TB, bySeq map[uint64]string, ids []string, seq uint64) {
	tb.Helper()
	for k, id := range ids {
		at := seq - uint64(len(ids)-1-k)
		if got := bySeq[at]; got != id {
			tb.Errorf("append %v returned %d: sequence %d holds %q; want %q", ids, seq, at, got, id)
			return
		}
	}
}
