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

	"github.com/stamp-oauth/stamp/domain"
)

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
	counter := client("counter")

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
	recs, err := st.Load(ctx, client("race"))
	if err != nil || len(recs) != 0 {
		t.Fatalf("Load(race) = %v, %v", recs, err)
	}
	var wins atomic.Int64
	var race sync.WaitGroup
	for i := range 16 {
		race.Go(func() {
			_, err := st.Append(ctx, client("race"), domain.ExpectNew, env(fmt.Sprint("race", i), "AccessTokenCreated"))
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
	case <-st.commits.Exited():
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
