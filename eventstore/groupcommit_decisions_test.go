package eventstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// Group commit of decisions: appends with expectations (low-cardinality
// and sharded aggregates) and AppendAll across aggregates share combined
// batches with ExpectAny appends, each decision keeping its own
// expectation and getting its own answer.

// queued is one append started while the committer is held.
type queued struct {
	name string
	ids  []string // envelope ids, in order
	ch   <-chan appendOutcome
}

// queueInOrder starts each append once the one before it has queued, so a
// round holds them in this order.
func queueInOrder(tb testing.TB, st *Store, appends ...func() queued) []queued {
	tb.Helper()
	var out []queued
	for i, f := range appends {
		out = append(out, f())
		waitQueued(tb, st, i+1)
	}
	return out
}

func appendQ(ctx context.Context, st *Store, name string, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) func() queued {
	return func() queued {
		var ids []string
		for _, e := range events {
			ids = append(ids, e.ID)
		}
		return queued{name, ids, appendAsync(ctx, st, agg, expect, events...)}
	}
}

func appendAllQ(ctx context.Context, st *Store, name string, expect domain.Expect, events ...domain.Pending) func() queued {
	return func() queued {
		var ids []string
		for _, p := range events {
			ids = append(ids, p.Envelope.ID)
		}
		ch := make(chan appendOutcome, 1)
		go func() {
			seq, err := st.AppendAll(ctx, expect, events...)
			ch <- appendOutcome{seq, err}
		}()
		return queued{name, ids, ch}
	}
}

// on binds an envelope to an aggregate.
func on(agg domain.Aggregate, id, typ string) domain.Pending {
	return domain.Pending{Aggregate: agg, Envelope: env(id, typ)}
}

func refresh(id string) domain.Aggregate { return domain.Aggregate{Kind: domain.KindRefresh, ID: id} }
func code(id string) domain.Aggregate    { return domain.Aggregate{Kind: domain.KindCode, ID: id} }

// The decisions of a token endpoint under load (a password grant: access
// and refresh token across two aggregates, ExpectAny; a code exchange:
// redeemed code and tokens, expecting the code's sequence; a refresh
// rotation, expecting the family's; a client update, expecting the
// client's) and a client-credentials token all go out as one combined
// batch, each contiguous, in queue order, each answered with its own last
// sequence.
func TestGroupCommitCombinesDecisions(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{SyncAlways: true}))
	ctx := testContext(t)
	codeSeq := mustAppend(t, st, code("c1"), domain.ExpectNew, env("c1-issued", "AuthCodeIssued"))
	famSeq := mustAppend(t, st, refresh("f1"), domain.ExpectNew, env("f1-created", "RefreshTokenCreated"))
	clientSeq := mustAppend(t, st, client("x"), domain.ExpectNew, env("x-registered", "ClientRegistered"))
	combineAlways(st)
	before := commitStatsOf(st)

	holdCommits(t, st)
	qs := queueInOrder(t, st,
		appendQ(ctx, st, "client credentials", token("cc"), domain.ExpectAny, env("cc", "AccessTokenCreated")),
		appendAllQ(ctx, st, "password grant", domain.ExpectAny,
			on(token("pw"), "pw-at", "AccessTokenCreated"), on(refresh("pw"), "pw-rt", "RefreshTokenCreated")),
		appendAllQ(ctx, st, "code exchange", domain.ExpectSeq(codeSeq),
			on(code("c1"), "c1-redeemed", "AuthCodeRedeemed"), on(token("c1"), "c1-at", "AccessTokenCreated"), on(refresh("c1"), "c1-rt", "RefreshTokenCreated")),
		appendAllQ(ctx, st, "refresh rotation", domain.ExpectSeq(famSeq),
			on(refresh("f1"), "f1-rotated", "RefreshTokenCreated"), on(token("f1"), "f1-at", "AccessTokenCreated")),
		appendQ(ctx, st, "client update", client("x"), domain.ExpectSeq(clientSeq), env("x-updated", "ClientUpdated")),
	)
	st.commits.Release()
	var seqs []uint64
	for _, q := range qs {
		r := result(t, q.ch)
		if r.err != nil {
			t.Fatalf("%s: %v", q.name, r.err)
		}
		seqs = append(seqs, r.seq)
	}
	bySeq := logBySeq(t, st)
	for i, q := range qs {
		checkAppended(t, bySeq, q.ids, seqs[i])
		if i > 0 && seqs[i] <= seqs[i-1] {
			t.Errorf("%s stored at %d, before %s at %d; want queue order", q.name, seqs[i], qs[i-1].name, seqs[i-1])
		}
	}
	if s := commitStatsOf(st); s.Batches-before.Batches != 1 || s.Batched-before.Batched != len(qs) || s.Fallbacks != before.Fallbacks {
		t.Errorf("stats %+v (before %+v); want one batch of %d appends", s, before, len(qs))
	}
}

// One decision's conflict refuses no other: in a round holding a stale
// expectation, two decisions on one code, two on one client, retries of
// stored decisions and fresh appends, every caller gets exactly the
// answer it would have got alone, and the log holds each stored event
// once.
func TestGroupCommitConflictIsolation(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{SyncAlways: true}))
	ctx := testContext(t)
	codeSeq := mustAppend(t, st, code("c1"), domain.ExpectNew, env("c1-issued", "AuthCodeIssued"))
	clientSeq := mustAppend(t, st, client("x"), domain.ExpectNew, env("x-registered", "ClientRegistered"))
	storedLow := mustAppend(t, st, client("y"), domain.ExpectNew, env("y-registered", "ClientRegistered"))
	storedSlot, err := st.AppendAll(ctx, domain.ExpectNew, on(code("c2"), "c2-issued", "AuthCodeIssued"), on(token("c2"), "c2-at", "AccessTokenCreated"))
	if err != nil {
		t.Fatal(err)
	}
	combineAlways(st)

	holdCommits(t, st)
	redeem := func(name, id string) func() queued {
		return appendAllQ(ctx, st, name, domain.ExpectSeq(codeSeq),
			on(code("c1"), id+"-redeemed", "AuthCodeRedeemed"), on(token(id), id+"-at", "AccessTokenCreated"))
	}
	qs := queueInOrder(t, st,
		appendQ(ctx, st, "fresh 1", token("t1"), domain.ExpectAny, env("t1", "AccessTokenCreated")),
		appendQ(ctx, st, "stale client x", client("x"), domain.ExpectSeq(clientSeq-1), env("x-stale", "ClientUpdated")),
		redeem("code race 1", "r1"),
		appendAllQ(ctx, st, "fresh pair", domain.ExpectAny, on(token("t2"), "t2-at", "AccessTokenCreated"), on(refresh("t2"), "t2-rt", "RefreshTokenCreated")),
		appendQ(ctx, st, "client race 1", client("x"), domain.ExpectSeq(clientSeq), env("x-race1", "ClientUpdated")),
		redeem("code race 2", "r2"),
		appendQ(ctx, st, "retry of a stored client decision", client("y"), domain.ExpectNew, env("y-registered", "ClientRegistered")),
		appendQ(ctx, st, "client race 2", client("x"), domain.ExpectSeq(clientSeq), env("x-race2", "ClientUpdated")),
		appendAllQ(ctx, st, "retry of a stored code decision", domain.ExpectNew, on(code("c2"), "c2-issued", "AuthCodeIssued"), on(token("c2"), "c2-at", "AccessTokenCreated")),
		appendQ(ctx, st, "fresh 3", token("t3"), domain.ExpectAny, env("t3", "AccessTokenCreated")),
	)
	st.commits.Release()
	got := map[string]appendOutcome{}
	for _, q := range qs {
		got[q.name] = result(t, q.ch)
	}
	bySeq := logBySeq(t, st)
	stored := map[string]bool{}
	for _, id := range bySeq {
		stored[id] = true
	}
	wins := func(a, b string) {
		t.Helper()
		ra, rb := got[a], got[b]
		if (ra.err == nil) == (rb.err == nil) {
			t.Errorf("%s: %v, %s: %v; want exactly one to win", a, ra.err, b, rb.err)
		}
		for _, r := range []appendOutcome{ra, rb} {
			if r.err != nil && !errors.Is(r.err, domain.ErrConflict) {
				t.Errorf("the loser: %v; want ErrConflict", r.err)
			}
		}
	}
	wins("code race 1", "code race 2")
	wins("client race 1", "client race 2")
	if r := got["stale client x"]; !errors.Is(r.err, domain.ErrConflict) || stored["x-stale"] {
		t.Errorf("stale expectation = %d, %v (stored %v); want ErrConflict, nothing stored", r.seq, r.err, stored["x-stale"])
	}
	if r := got["retry of a stored client decision"]; r.err != nil || r.seq != storedLow {
		t.Errorf("retry of a stored client decision = %d, %v; want %d", r.seq, r.err, storedLow)
	}
	if r := got["retry of a stored code decision"]; r.err != nil || r.seq != storedSlot {
		t.Errorf("retry of a stored code decision = %d, %v; want %d", r.seq, r.err, storedSlot)
	}
	for _, q := range qs {
		r := got[q.name]
		switch {
		case r.err == nil && r.seq > storedSlot:
			checkAppended(t, bySeq, q.ids, r.seq)
		case r.err != nil:
			for _, id := range q.ids {
				if stored[id] && id != "c2-issued" && id != "y-registered" {
					t.Errorf("%s failed (%v) but %s is stored", q.name, r.err, id)
				}
			}
		}
	}
	for _, name := range []string{"fresh 1", "fresh pair", "fresh 3"} {
		if got[name].err != nil {
			t.Errorf("%s: %v", name, got[name].err)
		}
	}
	// The client's events: registered, then exactly one of the races.
	recs, err := st.Load(ctx, client("x"))
	if err != nil || len(recs) != 2 || recs[0].Seq != clientSeq {
		t.Errorf("client x holds %v, %v; want its registration and one update", ids(recs), err)
	}
	t.Logf("stats %+v", commitStatsOf(st))
}

// Many writers read, decide and append with an expectation on a few
// low-cardinality and sharded aggregates while ExpectAny traffic runs on
// them, all through combined batches: every stored decision follows the
// event it expected, none is lost, none is stored twice.
func TestGroupCommitDecisionsUnderLoad(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{SyncAlways: true}))
	combineAlways(st)
	ctx := testContext(t)
	aggs := []domain.Aggregate{client("k1"), client("k2"), refresh("k3"), code("k4")}
	const writers, steps = 8, 6
	type step struct {
		agg      domain.Aggregate
		expected uint64
		got      uint64
	}
	results := make([][]step, writers)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			defer func() { errs <- nil }()
			for i := range steps {
				agg := aggs[(w+i)%len(aggs)]
				for attempt := 0; ; attempt++ {
					recs, err := st.Load(ctx, agg)
					if err != nil {
						errs <- err
						return
					}
					var last uint64
					if len(recs) > 0 {
						last = recs[len(recs)-1].Seq
					}
					id := fmt.Sprintf("w%d-%d-%d", w, i, attempt)
					var seq uint64
					if i%2 == 0 {
						seq, err = st.Append(ctx, agg, domain.ExpectSeq(last), env(id, "ClientUpdated"))
					} else {
						// The decision's event on agg comes first, its
						// last on a token.
						seq, err = st.AppendAll(ctx, domain.ExpectSeq(last), on(agg, id, "ClientUpdated"), on(token(id), id+"-at", "AccessTokenCreated"))
						seq--
					}
					if errors.Is(err, domain.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("append %s: %w", id, err)
						return
					}
					results[w] = append(results[w], step{agg, last, seq})
					break
				}
				// Noise on the same aggregate without an expectation.
				if _, err := st.Append(ctx, token(fmt.Sprintf("n%d-%d", w, i)), domain.ExpectAny, env(fmt.Sprintf("n%d-%d", w, i), "AccessTokenCreated")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	logBySeq(t, st) // fails on an id stored twice
	for _, agg := range aggs {
		recs, err := st.Load(ctx, agg)
		if err != nil {
			t.Fatal(err)
		}
		prev := map[uint64]uint64{}
		var last uint64
		for _, r := range recs {
			prev[r.Seq] = last
			last = r.Seq
		}
		n := 0
		for _, rs := range results {
			for _, s := range rs {
				if s.agg != agg {
					continue
				}
				n++
				if p, ok := prev[s.got]; !ok || p != s.expected {
					t.Errorf("%s: append expecting %d stored at %d after %d", agg, s.expected, s.got, p)
				}
			}
		}
		if n != len(recs) {
			t.Errorf("%s holds %d events; %d decisions succeeded on it", agg, len(recs), n)
		}
	}
	t.Logf("stats %+v", commitStatsOf(st))
}

// Two decisions on the same state of a low-cardinality aggregate in one
// round: the server checks an expectation against what is stored, not
// against the batch's messages before it, so only the guard keeps the
// second out of the first's batch; exactly one wins. The same holds behind
// an ExpectAny event on the aggregate.
func TestGroupCommitSameExpectationInOneRound(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	clientSeq := mustAppend(t, st, client("x"), domain.ExpectNew, env("x-registered", "ClientRegistered"))
	combineAlways(st)
	holdCommits(t, st)
	qs := queueInOrder(t, st,
		appendQ(ctx, st, "race 1", client("x"), domain.ExpectSeq(clientSeq), env("x-race1", "ClientUpdated")),
		appendQ(ctx, st, "race 2", client("x"), domain.ExpectSeq(clientSeq), env("x-race2", "ClientUpdated")),
		appendQ(ctx, st, "any on y", client("y"), domain.ExpectAny, env("y-any", "ClientUpdated")),
		appendQ(ctx, st, "expecting y new", client("y"), domain.ExpectNew, env("y-new", "ClientRegistered")),
	)
	st.commits.Release()
	r1, r2, ry, rnew := result(t, qs[0].ch), result(t, qs[1].ch), result(t, qs[2].ch), result(t, qs[3].ch)
	if r1.err != nil || !errors.Is(r2.err, domain.ErrConflict) {
		t.Errorf("races = %v, %v; want the first to win, the second ErrConflict", r1.err, r2.err)
	}
	if ry.err != nil || !errors.Is(rnew.err, domain.ErrConflict) {
		t.Errorf("ExpectAny on y = %v, then ExpectNew on y = %v; want nil, ErrConflict", ry.err, rnew.err)
	}
	if recs, err := st.Load(ctx, client("x")); err != nil || len(recs) != 2 {
		t.Errorf("client x holds %v, %v; want 2 events", ids(recs), err)
	}
}
