package eventstore

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

func TestAppendAndLoad(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	a, b := token("a"), token("b")

	s1 := mustAppend(t, st, a, domain.ExpectNew, env("e1", "AccessTokenCreated"))
	s2 := mustAppend(t, st, b, domain.ExpectNew, env("e2", "AccessTokenCreated"))
	s3 := mustAppend(t, st, a, domain.ExpectSeq(s1), env("e3", "AccessTokenRevoked"))
	if s1 != 1 || s2 != 2 || s3 != 3 {
		t.Fatalf("sequences %d %d %d; want 1 2 3", s1, s2, s3)
	}

	got, err := st.Load(ctx, a)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []domain.Recorded{
		{Seq: 1, Subject: a.Subject("AccessTokenCreated"), Envelope: env("e1", "AccessTokenCreated")},
		{Seq: 3, Subject: a.Subject("AccessTokenRevoked"), Envelope: env("e3", "AccessTokenRevoked")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(a) (-want +got):\n%s", diff)
	}

	none, err := st.Load(ctx, token("nobody"))
	if err != nil || len(none) != 0 {
		t.Errorf("Load(nobody) = %v, %v; want empty, nil", none, err)
	}
	if last, err := st.LastSeq(ctx); err != nil || last != 3 {
		t.Errorf("LastSeq = %d, %v; want 3, nil", last, err)
	}
}

func TestLoadManyEvents(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	agg := token("big")
	var want []string
	for i := range 3 * loadBatch / 2 {
		e := env(fmtID("e", i), "AccessTokenCreated")
		mustAppend(t, st, agg, domain.ExpectAny, e)
		mustAppend(t, st, token("other"), domain.ExpectAny, env(fmtID("o", i), "AccessTokenCreated"))
		want = append(want, e.ID)
	}
	got, err := st.Load(testContext(t), agg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("Load ids (-want +got):\n%s", diff)
	}

	// More event types than the server lists in one answer.
	wide := token("wide")
	want = nil
	for i := range 3 {
		var events []domain.Envelope
		for j := range 400 {
			e := env(fmtID(fmtID("w", i), j), fmtID("Type", i*400+j))
			events = append(events, e)
			want = append(want, e.ID)
		}
		mustAppend(t, st, wide, domain.ExpectAny, events...)
	}
	got, err = st.Load(testContext(t), wide)
	if err != nil {
		t.Fatalf("Load(wide): %v", err)
	}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("Load(wide) ids (-want +got):\n%s", diff)
	}
}

func TestAppendExpectNewTwice(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	mustAppend(t, st, client("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	_, err := st.Append(testContext(t), client("a"), domain.ExpectNew, env("e2", "AccessTokenCreated"))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("second ExpectNew: err = %v; want ErrConflict", err)
	}
}

func TestAppendWrongSeqStoresNothing(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	seq := mustAppend(t, st, client("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, client("b"), domain.ExpectNew, env("e2", "AccessTokenCreated"))

	for _, expect := range []domain.Expect{domain.ExpectSeq(seq + 1), domain.ExpectSeq(seq - 1), domain.ExpectNew} {
		_, err := st.Append(ctx, client("a"), expect, env("e3", "AccessTokenRevoked"))
		if !errors.Is(err, domain.ErrConflict) {
			t.Errorf("Append(%v): err = %v; want ErrConflict", expect, err)
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("Append(%v): err = %v; want it to wrap the JetStream error", expect, err)
		}
	}
	if last, _ := st.LastSeq(ctx); last != 2 {
		t.Errorf("LastSeq = %d; want 2 (nothing stored)", last)
	}
}

// The expectation is on the aggregate's wildcard filter, so an event of
// another type on the same aggregate counts.
func TestAppendExpectationSpansEventTypes(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	a := client("a")
	seq := mustAppend(t, st, a, domain.ExpectNew, env("e1", "AccessTokenCreated"))

	_, err := st.Append(testContext(t), a, domain.ExpectSeq(0), env("e2", "AccessTokenRevoked"))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("ExpectSeq(0) after another type: err = %v; want ErrConflict", err)
	}
	// Another aggregate whose id extends a's must not count.
	mustAppend(t, st, client("ab"), domain.ExpectNew, env("e3", "AccessTokenCreated"))
	mustAppend(t, st, a, domain.ExpectSeq(seq), env("e4", "AccessTokenRevoked"))
}

func TestAppendDeduplicatesByEnvelopeID(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	e := env("same", "AccessTokenCreated")
	first := mustAppend(t, st, client("a"), domain.ExpectNew, e)
	mustAppend(t, st, client("b"), domain.ExpectNew, env("other", "AccessTokenCreated"))
	// A retry with the same expectation is deduplicated before the check.
	again, err := st.Append(ctx, client("a"), domain.ExpectNew, e)
	if err != nil || again != first {
		t.Fatalf("retried Append = %d, %v; want %d, nil", again, err, first)
	}
	recs, _ := st.Load(ctx, client("a"))
	if len(recs) != 1 {
		t.Errorf("Load after retry: %d events; want 1", len(recs))
	}
}

func TestAppendBatchIsAtomicAndOrdered(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	a := client("a")
	batch := []domain.Envelope{env("e1", "AccessTokenCreated"), env("e2", "RefreshTokenCreated"), env("e3", "AccessTokenRevoked")}

	last, err := st.Append(ctx, a, domain.ExpectNew, batch...)
	if err != nil || last != 3 {
		t.Fatalf("Append batch = %d, %v; want 3, nil", last, err)
	}
	recs, _ := st.Load(ctx, a)
	if diff := cmp.Diff([]string{"e1", "e2", "e3"}, ids(recs)); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Errorf("event %d at sequence %d; want %d", i, r.Seq, i+1)
		}
	}

	// A retry of the whole batch is deduplicated and answers the same sequence.
	again, err := st.Append(ctx, a, domain.ExpectNew, batch...)
	if err != nil || again != last {
		t.Errorf("retried batch = %d, %v; want %d, nil", again, err, last)
	}

	// A failing expectation stores none of the batch.
	_, err = st.Append(ctx, a, domain.ExpectSeq(2), env("e4", "AccessTokenRevoked"), env("e5", "RefreshTokenRevoked"))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("batch with wrong expectation: err = %v; want ErrConflict", err)
	}
	_, err = st.Append(ctx, a, domain.ExpectNew, env("e6", "AccessTokenRevoked"), env("e7", "RefreshTokenRevoked"))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("batch with ExpectNew on existing aggregate: err = %v; want ErrConflict", err)
	}
	if n, _ := st.LastSeq(ctx); n != 3 {
		t.Errorf("LastSeq = %d; want 3 (nothing of the failed batches stored)", n)
	}

	// The right expectation goes through.
	last, err = st.Append(ctx, a, domain.ExpectSeq(3), env("e4", "AccessTokenRevoked"), env("e5", "RefreshTokenRevoked"))
	if err != nil || last != 5 {
		t.Errorf("batch with right expectation = %d, %v; want 5, nil", last, err)
	}
}

// A batch reusing an id stored elsewhere is refused, not half-stored.
func TestAppendBatchWithForeignDuplicateID(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	mustAppend(t, st, client("a"), domain.ExpectNew, env("taken", "AccessTokenCreated"))
	_, err := st.Append(ctx, client("b"), domain.ExpectAny, env("fresh", "AccessTokenCreated"), env("taken", "AccessTokenRevoked"))
	if err == nil {
		t.Fatal("batch with an id stored on another aggregate: err = nil; want an error")
	}
	if recs, _ := st.Load(ctx, client("b")); len(recs) != 0 {
		t.Errorf("Load(b) = %v; want nothing stored", ids(recs))
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	tests := []struct {
		name   string
		agg    domain.Aggregate
		events []domain.Envelope
		want   error
	}{
		{"no events", token("a"), nil, ErrNoEvents},
		{"no id", token("a"), []domain.Envelope{env("", "AccessTokenCreated")}, ErrInvalidEvent},
		{"dotted type", token("a"), []domain.Envelope{env("e1", "Access.Token")}, ErrInvalidEvent},
		{"wildcard type", token("a"), []domain.Envelope{env("e1", ">")}, ErrInvalidEvent},
		{"same id twice", token("a"), []domain.Envelope{env("e1", "A"), env("e1", "B")}, ErrInvalidEvent},
		{"dotted id", token("a.b"), []domain.Envelope{env("e1", "A")}, ErrInvalidAggregate},
		{"empty kind", domain.Aggregate{ID: "a"}, []domain.Envelope{env("e1", "A")}, ErrInvalidAggregate},
	}
	for _, tt := range tests {
		_, err := st.Append(ctx, tt.agg, domain.ExpectAny, tt.events...)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v; want %v", tt.name, err, tt.want)
		}
	}
	if _, err := st.Load(ctx, token("a.*")); !errors.Is(err, ErrInvalidAggregate) {
		t.Errorf("Load(a.*): err = %v; want ErrInvalidAggregate", err)
	}
	if n, _ := st.LastSeq(ctx); n != 0 {
		t.Errorf("LastSeq = %d; want 0", n)
	}
}

// Concurrent appends expecting the same sequence: exactly one wins.
func TestAppendConcurrentExactlyOneWins(t *testing.T) {
	st := openStore(t, startServer(t, ServerOptions{}))
	ctx := testContext(t)
	a := token("a")
	seq := mustAppend(t, st, a, domain.ExpectNew, env("e0", "RefreshTokenCreated"))

	for _, size := range []int{1, 2} {
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				var events []domain.Envelope
				for j := range size {
					events = append(events, env(fmtID(fmtID("r", size), i*10+j), "RefreshTokenRevoked"))
				}
				_, errs[i] = st.Append(ctx, a, domain.ExpectSeq(seq), events...)
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, domain.ErrConflict):
				t.Errorf("size %d: unexpected error %v", size, err)
			}
		}
		if wins != 1 {
			t.Errorf("size %d: %d appends won; want exactly 1", size, wins)
		}
		recs, err := st.Load(ctx, a)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		seq = recs[len(recs)-1].Seq
	}
	recs, _ := st.Load(ctx, a)
	if len(recs) != 4 {
		t.Errorf("Load: %d events; want 4 (1 + 1 winner of 1 + 1 winner of 2)", len(recs))
	}
}

// The stream itself refuses message deletes, even to an identity that may
// ask (stamp's writer may not: see TestWriterCannotDeleteOrPurgeTheLog),
// and its archive refuses deletes and purges. The hot stream allows
// purges, for the archiver (see archiver.go), which no identity of a Role
// may send.
func TestStreamDeniesDeleteAndPurge(t *testing.T) {
	srv, admin := startServerWithAdmin(t)
	st := openStore(t, srv)
	ctx := testContext(t)
	seq := mustAppend(t, st, token("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{domain.StreamName, ArchiveStreamName} {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.DeleteMsg(ctx, seq); err == nil {
			t.Errorf("%s: DeleteMsg: err = nil; want refusal", name)
		}
		if err := stream.SecureDeleteMsg(ctx, seq); err == nil {
			t.Errorf("%s: SecureDeleteMsg: err = nil; want refusal", name)
		}
	}
	archive, err := js.Stream(ctx, ArchiveStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.Purge(ctx); err == nil {
		t.Error("archive: Purge: err = nil; want refusal")
	}
	if recs, _ := st.Load(ctx, token("a")); len(recs) != 1 {
		t.Errorf("Load: %d events; want 1", len(recs))
	}
}
