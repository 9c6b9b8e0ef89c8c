package eventstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

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
				if stats.Batches == 0 || stats.Fallbacks != 0 {
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
	if s := commitStatsOf(st); s.Batches != 1 {
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
	if s := commitStatsOf(st); s.Batches != 3 {
		t.Errorf("stats %+v; want 3 batches (1 + 2)", s)
	}
}

// A round refused for a duplicate id is split until the refused appends
// are alone, and every caller gets what it would have got alone.
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
	// The split's course depends on where the duplicates queued.
	if s := commitStatsOf(st); s.Fallbacks == 0 {
		t.Errorf("stats %+v; want the refused batch split", s)
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
			if s := commitStatsOf(st); (s.Batches > 0) != tt.batches || s.Solo != 0 {
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
			if !tt.batches && (s.Batches != 0 || s.Solo != 0) {
				t.Errorf("stats %+v; want every append direct", s)
			}
			if tt.batches && s.Batched < 8 {
				t.Errorf("stats %+v; want appends in batches", s)
			}
		})
	}
}
