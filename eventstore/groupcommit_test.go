package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// holdCommits makes st's committer hand its queue to the flusher, as if a
// round were in progress, so that ExpectAny appends queue until release is
// called (at the latest when the test ends).
func holdCommits(tb testing.TB, st *Store) (release func()) {
	tb.Helper()
	c := st.commits
	eventually(tb, "committer idle", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.flushing || c.inflight > 0 {
			return false
		}
		c.flushing = true
		return true
	})
	var once sync.Once
	release = func() { once.Do(func() { c.kick <- struct{}{} }) }
	tb.Cleanup(release)
	return release
}

// waitQueued waits until n appends queue on st's committer.
func waitQueued(tb testing.TB, st *Store, n int) {
	tb.Helper()
	eventually(tb, fmt.Sprintf("%d appends queued", n), func() bool {
		st.commits.mu.Lock()
		defer st.commits.mu.Unlock()
		return len(st.commits.queue) >= n
	})
}

func combineAlways(st *Store) {
	st.commits.mu.Lock()
	st.commits.combineAlways = true
	st.commits.mu.Unlock()
}

func commitStatsOf(st *Store) commitStats {
	st.commits.mu.Lock()
	defer st.commits.mu.Unlock()
	return st.commits.stats
}

// setCosts makes st's committer believe that an append on its own costs
// solo and a combined batch costs batch, both just measured.
func setCosts(st *Store, solo, batch time.Duration) {
	c := st.commits
	c.mu.Lock()
	defer c.mu.Unlock()
	c.soloTime, c.soloCount = float64(solo)*16, 16
	c.batchCost = batch
	now := time.Now()
	c.lastSolo, c.lastBatch, c.lastProbe = now, now, now
}

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

// Many concurrent ExpectAny appends, single and multi-event, on shared and
// own aggregates: each is stored once, contiguously, and each caller gets
// the sequence of its own last event.
func TestGroupCommitConcurrentAppends(t *testing.T) {
	for _, mode := range []string{"adaptive", "combine-always", "disabled"} {
		t.Run(mode, func(t *testing.T) {
			srv := startServer(t, ServerOptions{SyncAlways: true})
			var st *Store
			if mode == "disabled" {
				var err error
				if st, err = Open(testContext(t), Options{InProcess: srv, DisableGroupCommit: true}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(st.Close)
				if st.commits != nil {
					t.Fatal("DisableGroupCommit: the store has a committer")
				}
			} else {
				st = openStore(t, srv)
			}
			if mode == "combine-always" {
				combineAlways(st)
			}
			ctx := testContext(t)

			const goroutines, each = 64, 50
			type done struct {
				ids []string
				seq uint64
			}
			results := make([][]done, goroutines)
			var release func()
			if st.commits != nil {
				// Start with every goroutine's first append in one round.
				release = holdCommits(t, st)
			}
			var started sync.WaitGroup
			started.Add(goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						agg := token(fmt.Sprintf("g%d-%d", g, i))
						if i%2 == 1 {
							agg = token("shared")
						}
						n := 1
						if i%10 == 9 {
							n = 3
						}
						var events []domain.Envelope
						var ids []string
						for k := range n {
							id := fmt.Sprintf("g%d-i%d-%d", g, i, k)
							events = append(events, env(id, "AccessTokenCreated"))
							ids = append(ids, id)
						}
						if i == 0 {
							started.Done()
						}
						seq, err := st.Append(ctx, agg, domain.ExpectAny, events...)
						if err != nil {
							t.Errorf("Append %v: %v", ids, err)
							return
						}
						results[g] = append(results[g], done{ids, seq})
					}
				})
			}
			if release != nil {
				started.Wait()
				waitQueued(t, st, goroutines)
				release()
			}
			wg.Wait()

			bySeq := logBySeq(t, st)
			total := 0
			for _, rs := range results {
				for _, r := range rs {
					checkAppended(t, bySeq, r.ids, r.seq)
					total += len(r.ids)
				}
			}
			if want := goroutines * (each + 2*each/10); total != want || len(bySeq) != want {
				t.Errorf("%d events appended, %d stored; want %d", total, len(bySeq), want)
			}
			if st.commits != nil {
				stats := commitStatsOf(st)
				t.Logf("%+v", stats)
				if stats.batches == 0 || stats.fallbacks != 0 {
					t.Errorf("stats %+v: want a combined batch and no fallback", stats)
				}
			}
		})
	}
}

// A round is one batch in queue order, each append answered with its own
// last sequence; past 1000 events it is split, appends kept whole.
func TestGroupCommitCombinesInQueueOrder(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	base := mustAppend(t, st, token("first"), domain.ExpectAny, env("first", "AccessTokenCreated"))
	combineAlways(st)

	release := holdCommits(t, st)
	x := appendAsync(ctx, st, token("x"), domain.ExpectAny, env("x1", "AccessTokenCreated"))
	waitQueued(t, st, 1)
	y := appendAsync(ctx, st, token("y"), domain.ExpectAny, env("y1", "ClientRegistered"), env("y2", "ClientUpdated"), env("y3", "ClientDeleted"))
	waitQueued(t, st, 2)
	z := appendAsync(ctx, st, token("x"), domain.ExpectAny, env("x2", "AccessTokenRevoked"))
	waitQueued(t, st, 3)
	release()

	for _, tt := range []struct {
		ch   <-chan appendOutcome
		want uint64
	}{{x, base + 1}, {y, base + 4}, {z, base + 5}} {
		if r := result(t, tt.ch); r.err != nil || r.seq != tt.want {
			t.Errorf("Append = %d, %v; want %d, nil", r.seq, r.err, tt.want)
		}
	}
	recs, _ := st.Load(ctx, token("x"))
	if diff := cmp.Diff([]string{"x1", "x2"}, ids(recs)); diff != "" {
		t.Errorf("Load(x) (-want +got):\n%s", diff)
	}
	if s := commitStatsOf(st); s.batches != 1 {
		t.Errorf("stats %+v; want 1 batch", s)
	}

	// 3 × 400 + 1 events: batches of 800 and 401.
	release = holdCommits(t, st)
	var chans []<-chan appendOutcome
	var appended [][]string
	for i := range 4 {
		n := 400
		if i == 3 {
			n = 1
		}
		var events []domain.Envelope
		var idsOf []string
		for j := range n {
			id := fmt.Sprintf("big%d-%d", i, j)
			events = append(events, env(id, fmt.Sprintf("Type%d", j)))
			idsOf = append(idsOf, id)
		}
		chans = append(chans, appendAsync(ctx, st, token(fmt.Sprint("big", i)), domain.ExpectAny, events...))
		appended = append(appended, idsOf)
		waitQueued(t, st, i+1)
	}
	release()
	seqs := make([]uint64, len(chans))
	for i, ch := range chans {
		r := result(t, ch)
		if r.err != nil {
			t.Fatalf("big append %d: %v", i, r.err)
		}
		seqs[i] = r.seq
	}
	bySeq := logBySeq(t, st)
	for i := range appended {
		checkAppended(t, bySeq, appended[i], seqs[i])
	}
	if s := commitStatsOf(st); s.batches != 3 {
		t.Errorf("stats %+v; want 3 batches (1 + 2)", s)
	}
}

// A round refused for a duplicate id is published again one append at a
// time, and every caller gets what it would have got alone.
func TestGroupCommitDuplicateFallsBack(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	old := mustAppend(t, st, token("a"), domain.ExpectAny, env("old", "AccessTokenCreated"))
	oldPair := mustAppend(t, st, token("m"), domain.ExpectAny, env("m1", "ClientRegistered"), env("m2", "ClientUpdated"))
	combineAlways(st)

	release := holdCommits(t, st)
	retried := appendAsync(ctx, st, token("a"), domain.ExpectAny, env("old", "AccessTokenCreated"))
	fresh := appendAsync(ctx, st, token("b"), domain.ExpectAny, env("b1", "AccessTokenCreated"))
	pair := appendAsync(ctx, st, token("c"), domain.ExpectAny, env("c1", "ClientRegistered"), env("c2", "ClientUpdated"))
	twin1 := appendAsync(ctx, st, token("d"), domain.ExpectAny, env("twin", "AccessTokenCreated"))
	twin2 := appendAsync(ctx, st, token("d"), domain.ExpectAny, env("twin", "AccessTokenCreated"))
	retriedPair := appendAsync(ctx, st, token("m"), domain.ExpectAny, env("m1", "ClientRegistered"), env("m2", "ClientUpdated"))
	waitQueued(t, st, 6)
	release()

	if r := result(t, retried); r.err != nil || r.seq != old {
		t.Errorf("retried append = %d, %v; want %d, nil", r.seq, r.err, old)
	}
	if r := result(t, retriedPair); r.err != nil || r.seq != oldPair {
		t.Errorf("retried pair = %d, %v; want %d, nil", r.seq, r.err, oldPair)
	}
	t1, t2 := result(t, twin1), result(t, twin2)
	if t1.err != nil || t2.err != nil || t1.seq != t2.seq {
		t.Errorf("twins = (%d, %v), (%d, %v); want one sequence, no error", t1.seq, t1.err, t2.seq, t2.err)
	}
	f, p := result(t, fresh), result(t, pair)
	if f.err != nil || p.err != nil {
		t.Fatalf("fresh appends: %v, %v", f.err, p.err)
	}

	bySeq := logBySeq(t, st)
	checkAppended(t, bySeq, []string{"b1"}, f.seq)
	checkAppended(t, bySeq, []string{"c1", "c2"}, p.seq)
	checkAppended(t, bySeq, []string{"twin"}, t1.seq)
	if len(bySeq) != 7 {
		t.Errorf("%d events stored; want 7 (3 before, b1, c1, c2, twin)", len(bySeq))
	}
	if s := commitStatsOf(st); s.fallbacks != 1 || s.batches != 0 {
		t.Errorf("stats %+v; want 1 fallback, no batch", s)
	}
}

// The committer goes the way the measured costs say: when a batch would not
// pay, queued appends are let go as direct ones, and concurrent appends go
// out side by side; when it would, they go out in batches.
func TestGroupCommitFollowsMeasuredCosts(t *testing.T) {
	for _, tt := range []struct {
		name        string
		solo, batch time.Duration
		batches     bool
	}{
		{"solo is cheap", time.Nanosecond, time.Hour, false},
		{"batch is cheap", time.Hour, time.Nanosecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, startServer(t, ServerOptions{}))
			ctx := testContext(t)
			setCosts(st, tt.solo, tt.batch)

			release := holdCommits(t, st)
			var chans []<-chan appendOutcome
			for i := range 8 {
				chans = append(chans, appendAsync(ctx, st, token(fmt.Sprint("q", i)), domain.ExpectAny, env(fmt.Sprint("q", i), "AccessTokenCreated")))
			}
			waitQueued(t, st, 8)
			release()
			type done struct {
				id  string
				seq uint64
			}
			var results []done
			for i, ch := range chans {
				r := result(t, ch)
				if r.err != nil {
					t.Fatalf("queued append %d: %v", i, r.err)
				}
				results = append(results, done{fmt.Sprint("q", i), r.seq})
			}
			if s := commitStatsOf(st); (s.batches > 0) != tt.batches || s.solo != 0 {
				t.Errorf("after the held round: stats %+v; want batches %v, no solo round", s, tt.batches)
			}

			var mu sync.Mutex
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := range 20 {
						id := fmt.Sprintf("g%d-%d", g, i)
						seq, err := st.Append(ctx, token(id), domain.ExpectAny, env(id, "AccessTokenCreated"))
						if err != nil {
							t.Errorf("Append %s: %v", id, err)
							return
						}
						mu.Lock()
						results = append(results, done{id, seq})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			bySeq := logBySeq(t, st)
			for _, r := range results {
				checkAppended(t, bySeq, []string{r.id}, r.seq)
			}
			if len(bySeq) != 8+16*20 {
				t.Errorf("%d events stored; want %d", len(bySeq), 8+16*20)
			}
			s := commitStatsOf(st)
			t.Logf("%+v", s)
			if !tt.batches && (s.batches != 0 || s.solo != 0) {
				t.Errorf("stats %+v; want every append direct", s)
			}
			if tt.batches && s.batched < 8 {
				t.Errorf("stats %+v; want appends in batches", s)
			}
		})
	}
}

// A caller whose ctx ends while it is queued returns at once with ctx's
// error, its event is left out, and the others are stored.
func TestGroupCommitCanceledCaller(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	release := holdCommits(t, st)
	cctx, cancel := context.WithCancel(ctx)
	canceled := appendAsync(cctx, st, token("a"), domain.ExpectAny, env("a1", "AccessTokenCreated"))
	b := appendAsync(ctx, st, token("b"), domain.ExpectAny, env("b1", "AccessTokenCreated"))
	c := appendAsync(ctx, st, token("c"), domain.ExpectAny, env("c1", "AccessTokenCreated"), env("c2", "AccessTokenRevoked"))
	waitQueued(t, st, 3)

	cancel()
	if r := result(t, canceled); !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled append = %d, %v; want context.Canceled", r.seq, r.err)
	}
	release()
	rb, rc := result(t, b), result(t, c)
	if rb.err != nil || rc.err != nil {
		t.Fatalf("other appends: %v, %v", rb.err, rc.err)
	}
	bySeq := logBySeq(t, st)
	checkAppended(t, bySeq, []string{"b1"}, rb.seq)
	checkAppended(t, bySeq, []string{"c1", "c2"}, rc.seq)
	if len(bySeq) != 3 {
		t.Errorf("%d events stored; want 3 (the canceled one left out)", len(bySeq))
	}
}

// Callers whose ctx ends at any moment do not disturb the others: every
// append that succeeded is stored once where it says, every other one that
// was not canceled succeeded, and one that timed out is stored whole or not
// at all, once.
func TestGroupCommitCancellationUnderLoad(t *testing.T) {
	for _, mode := range []string{"adaptive", "combine-always"} {
		t.Run(mode, func(t *testing.T) {
			st := openStore(t, startServer(t, ServerOptions{SyncAlways: true}))
			if mode == "combine-always" {
				combineAlways(st)
			}
			ctx := testContext(t)
			const goroutines, each = 32, 20
			type done struct {
				ids []string
				seq uint64
			}
			var mu sync.Mutex
			var ok []done
			var timedOut [][]string
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						n := 1 + i%2
						var events []domain.Envelope
						var ids []string
						for k := range n {
							id := fmt.Sprintf("g%d-i%d-%d", g, i, k)
							events = append(events, env(id, "AccessTokenCreated"))
							ids = append(ids, id)
						}
						actx, cancel := ctx, context.CancelFunc(func() {})
						short := (g+i)%3 == 0
						if short {
							actx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(20_000))*time.Microsecond)
						}
						seq, err := st.Append(actx, token(fmt.Sprint("g", g)), domain.ExpectAny, events...)
						cancel()
						switch {
						case err == nil:
							mu.Lock()
							ok = append(ok, done{ids, seq})
							mu.Unlock()
						case short && errors.Is(err, context.DeadlineExceeded):
							mu.Lock()
							timedOut = append(timedOut, ids)
							mu.Unlock()
						default:
							t.Errorf("Append %v: %v", ids, err)
						}
					}
				})
			}
			wg.Wait()
			bySeq := logBySeq(t, st)
			for _, r := range ok {
				checkAppended(t, bySeq, r.ids, r.seq)
			}
			at := make(map[string]uint64, len(bySeq))
			for seq, id := range bySeq {
				at[id] = seq
			}
			stored := 0
			for _, ids := range timedOut {
				last, found := at[ids[len(ids)-1]]
				if !found {
					for _, id := range ids {
						if _, ok := at[id]; ok {
							t.Errorf("timed-out append %v stored in part", ids)
						}
					}
					continue
				}
				stored++
				checkAppended(t, bySeq, ids, last)
			}
			t.Logf("%d appends succeeded, %d timed out of which %d were stored; %+v", len(ok), len(timedOut), stored, commitStatsOf(st))
		})
	}
}

// Appends with an expectation keep their meaning while ExpectAny traffic
// is combined around them, on the same aggregate too.
func TestGroupCommitKeepsExpectations(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{SyncAlways: true}))
	ctx := testContext(t)
	counter := token("counter")

	stop := make(chan struct{})
	var background sync.WaitGroup
	var noise atomic.Int64 // ExpectAny events on counter
	for g := range 8 {
		background.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				agg := token(fmt.Sprintf("busy%d-%d", g, i))
				if i%16 == 0 {
					agg = counter
				}
				if _, err := st.Append(ctx, agg, domain.ExpectAny, env(fmt.Sprintf("n%d-%d", g, i), "AccessTokenCreated")); err != nil {
					t.Errorf("background append: %v", err)
					return
				}
				if agg == counter {
					noise.Add(1)
				}
			}
		})
	}

	// Read, decide, append with the expectation, retry on conflict.
	type step struct{ expected, got uint64 }
	const writers, steps = 4, 10
	var mu sync.Mutex
	var done []step
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range steps {
				for {
					recs, err := st.Load(ctx, counter)
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					var last uint64
					if len(recs) > 0 {
						last = recs[len(recs)-1].Seq
					}
					seq, err := st.Append(ctx, counter, domain.ExpectSeq(last), env(fmt.Sprintf("w%d-%d", w, i), "RefreshTokenRevoked"))
					if errors.Is(err, domain.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					mu.Lock()
					done = append(done, step{last, seq})
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()

	// Same expectation from many callers at once: exactly one wins.
	recs, err := st.Load(ctx, token("race"))
	if err != nil || len(recs) != 0 {
		t.Fatalf("Load(race) = %v, %v", recs, err)
	}
	var wins atomic.Int64
	var race sync.WaitGroup
	for i := range 16 {
		race.Go(func() {
			_, err := st.Append(ctx, token("race"), domain.ExpectNew, env(fmt.Sprint("race", i), "AccessTokenCreated"))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, domain.ErrConflict):
				t.Errorf("racing append: %v", err)
			}
		})
	}
	race.Wait()
	close(stop)
	background.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d racing ExpectNew appends won; want 1", wins.Load())
	}

	recs, err = st.Load(ctx, counter)
	if err != nil {
		t.Fatal(err)
	}
	prev := map[uint64]uint64{} // sequence -> the aggregate's previous sequence
	var last uint64
	for _, r := range recs {
		prev[r.Seq] = last
		last = r.Seq
	}
	if len(done) != writers*steps || len(recs) != writers*steps+int(noise.Load()) {
		t.Errorf("%d expectation appends succeeded, aggregate holds %d events with %d others; want %d + %d", len(done), len(recs), noise.Load(), writers*steps, noise.Load())
	}
	for _, s := range done {
		if p, ok := prev[s.got]; !ok || p != s.expected {
			t.Errorf("append expecting %d stored at %d after %d", s.expected, s.got, p)
		}
	}
	t.Logf("%d ExpectAny events interleaved on the aggregate; %+v", noise.Load(), commitStatsOf(st))
}

// Close fails queued appends with ErrClosed, stops the flusher, and every
// later Append fails the same way.
func TestGroupCommitClose(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	st := openStore(t, srv)
	ctx := testContext(t)
	holdCommits(t, st)
	var chans []<-chan appendOutcome
	for i := range 3 {
		chans = append(chans, appendAsync(ctx, st, token(fmt.Sprint(i)), domain.ExpectAny, env(fmt.Sprint("e", i), "AccessTokenCreated")))
	}
	waitQueued(t, st, 3)
	st.Close()
	for _, ch := range chans {
		if r := result(t, ch); !errors.Is(r.err, ErrClosed) {
			t.Errorf("queued append at Close = %d, %v; want ErrClosed", r.seq, r.err)
		}
	}
	select {
	case <-st.commits.exited:
	default:
		t.Error("the flusher is still running after Close")
	}
	for _, expect := range []domain.Expect{domain.ExpectAny, domain.ExpectNew} {
		if _, err := st.Append(ctx, token("late"), expect, env("late", "AccessTokenCreated")); !errors.Is(err, ErrClosed) {
			t.Errorf("Append(%v) after Close: err = %v; want ErrClosed", expect, err)
		}
	}
	st.Close() // again: nothing

	other := openStore(t, srv)
	if n, err := other.LastSeq(ctx); err != nil || n != 0 {
		t.Errorf("LastSeq = %d, %v; want 0 (nothing stored)", n, err)
	}
}
