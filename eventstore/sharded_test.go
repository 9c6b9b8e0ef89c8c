package eventstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// numSubjects returns how many distinct subjects the stream holds.
func numSubjects(t *testing.T, st *Store) uint64 {
	t.Helper()
	info, err := st.stream.Info(testContext(t), jetstream.WithSubjectFilter(domain.SubjectRoot+".>"))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.NumSubjects
}

// Tokens share 16 subjects per event type however many are issued; the old
// scheme (one subject per token, written raw here) grows with every token.
func TestShardedSubjectsBounded(t *testing.T) {
	const n = 1000
	st := openStore(t, startServer(t, ServerOptions{}))
	for i := range n {
		id := fmtID("tok-", i)
		mustAppend(t, st, token(id), domain.ExpectAny, env("c-"+id, "AccessTokenCreated"))
		if i%10 == 0 {
			mustAppend(t, st, token(id), domain.ExpectAny, env("r-"+id, "AccessTokenRevoked"))
		}
	}
	after := numSubjects(t, st)
	if after > 2*domain.Shards {
		t.Errorf("%d tokens made %d subjects; want at most %d (2 event types x %d shards)", n, after, 2*domain.Shards, domain.Shards)
	}
	legacy := openStore(t, startServer(t, ServerOptions{}))
	for i := range n {
		id := fmtID("tok-", i)
		publishRaw(t, legacy, "stamp.token."+id+".AccessTokenCreated", nil, mustJSON(env("c-"+id, "AccessTokenCreated")))
	}
	before := numSubjects(t, legacy)
	if before != n {
		t.Errorf("the per-token scheme made %d subjects for %d tokens; want %d", before, n, n)
	}
	t.Logf("distinct subjects after %d tokens: per-token scheme %d, shards %d (limit %d)", n, before, after, 2*domain.Shards)
}

// Decisions on the same state of a sharded aggregate claim one slot:
// exactly one of many concurrent ones is stored, and a retry of the
// stored one (same envelopes) answers its sequence, single or batch.
func TestShardedSlotOneDecisionWins(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	fam := domain.Aggregate{Kind: domain.KindRefresh, ID: "fam"}
	created := mustAppend(t, st, fam, domain.ExpectNew, env("created", "RefreshTokenCreated"))
	// Another family on the same shard moves the shard, not fam.
	other := domain.Aggregate{Kind: domain.KindRefresh, ID: "other"}
	for i := 0; domain.ShardKey(other.ID) != domain.ShardKey(fam.ID); i++ {
		other.ID = fmtID("other-", i)
	}
	mustAppend(t, st, other, domain.ExpectNew, env("other", "RefreshTokenCreated"))

	var wins atomic.Int64
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			e := env(fmtID("rotate-", i), "RefreshTokenCreated")
			_, err := st.Append(ctx, fam, domain.ExpectSeq(created), e, env(fmtID("revoke-", i), "AccessTokenRevoked"))
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(i)
			case !errors.Is(err, domain.ErrConflict):
				t.Errorf("racing append: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racing decisions on one state were stored; want 1", wins.Load())
	}
	i := winner.Load().(int)
	again, err := st.Append(ctx, fam, domain.ExpectSeq(created), env(fmtID("rotate-", i), "RefreshTokenCreated"), env(fmtID("revoke-", i), "AccessTokenRevoked"))
	if err != nil {
		t.Fatalf("retry of the stored batch: %v", err)
	}
	recs, err := st.Load(ctx, fam)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recs); len(got) != 3 || got[1] != fmtID("rotate-", i) || recs[2].Seq != again {
		t.Errorf("Load(fam) = %v (last at %d); want created, rotate-%d, revoke-%d, the retry answering %d", got, recs[len(recs)-1].Seq, i, i, again)
	}
	// A single-event decision on the new state, and its retry.
	seq := mustAppend(t, st, fam, domain.ExpectSeq(again), env("revoked", "RefreshTokenRevoked"))
	if got := mustAppend(t, st, fam, domain.ExpectSeq(again), env("revoked", "RefreshTokenRevoked")); got != seq {
		t.Errorf("retry of a stored single decision = %d; want %d", got, seq)
	}
	if _, err := st.Append(ctx, fam, domain.ExpectSeq(again), env("late", "RefreshTokenRevoked")); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a second decision on a decided state: %v; want ErrConflict", err)
	}
	if last, _ := st.LastSeq(ctx); last != seq {
		t.Errorf("the log ends at %d; want %d", last, seq)
	}
}

// A log written before the shards keeps working: an aggregate's events on
// its old per-id subject and on its shard are loaded together, and Get
// reads any of them by sequence.
func TestShardedLoadReadsOldSubjects(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	a := token("old-token")
	old := publishRaw(t, st, "stamp.token.old-token.AccessTokenCreated", nil, mustJSON(env("old", "AccessTokenCreated")))
	mustAppend(t, st, token("neighbour"), domain.ExpectAny, env("n", "AccessTokenCreated"))
	revoked := mustAppend(t, st, a, domain.ExpectSeq(old), env("new", "AccessTokenRevoked"))

	recs, err := st.Load(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recs); fmt.Sprint(got) != "[old new]" {
		t.Errorf("Load = %v; want [old new]", got)
	}
	if !a.OnSubject(recs[0].Subject, "AccessTokenCreated") || !a.OnSubject(recs[1].Subject, "AccessTokenRevoked") {
		t.Errorf("subjects %s, %s: want a's old and new subjects", recs[0].Subject, recs[1].Subject)
	}
	got, err := st.Get(ctx, []uint64{revoked, old, 999})
	if err != nil || fmt.Sprint(ids(got)) != "[new old]" {
		t.Errorf("Get = %v, %v; want [new old] (999 holds nothing)", ids(got), err)
	}
	// The new event names its aggregate in a header.
	m, err := st.getSeq(ctx, revoked)
	if err != nil || m.header.Get(HeaderAggregate) != "token/old-token" {
		t.Errorf("header %s = %q, %v; want token/old-token", HeaderAggregate, m.header.Get(HeaderAggregate), err)
	}
}

// Decisions on different aggregates of one shard never conflict: 16
// concurrent rotations of 16 families on the same shard all succeed.
func TestShardedNoFalseConflicts(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	shard := domain.ShardKey("fam-0")
	var fams []domain.Aggregate
	seqs := map[domain.Aggregate]uint64{}
	for i := 0; len(fams) < 16; i++ {
		f := domain.Aggregate{Kind: domain.KindRefresh, ID: fmtID("fam-", i)}
		if domain.ShardKey(f.ID) == shard {
			fams = append(fams, f)
			seqs[f] = mustAppend(t, st, f, domain.ExpectNew, env("c-"+f.ID, "RefreshTokenCreated"))
		}
	}
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for _, f := range fams {
		wg.Go(func() {
			_, err := st.Append(ctx, f, domain.ExpectSeq(seqs[f]), env("r-"+f.ID, "RefreshTokenCreated"), env("a-"+f.ID, "AccessTokenRevoked"))
			if errors.Is(err, domain.ErrConflict) {
				conflicts.Add(1)
			} else if err != nil {
				t.Errorf("rotate %s: %v", f, err)
			}
		})
	}
	wg.Wait()
	t.Logf("16 concurrent decisions on 16 aggregates of shard %s: %d conflicts", shard, conflicts.Load())
	if conflicts.Load() != 0 {
		t.Errorf("%d false conflicts; want 0", conflicts.Load())
	}
}
