package eventstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

func pending(t *testing.T, id string, e domain.Event) domain.Pending {
	t.Helper()
	env, err := domain.NewEnvelope(id, e, time.Now(), domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	return domain.Pending{Aggregate: e.AggregateOf(), Envelope: env}
}

func TestAppendAllAcrossAggregates(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, startServer(t, ServerOptions{}))
	fam := domain.RefreshTokenCreated{FamilyID: "f1", RefreshTokenID: "r1", TokenHash: "h", AccessTokenID: "a1", ClientID: "c"}
	acc := domain.AccessTokenCreated{TokenID: "a1", ClientID: "c"}
	seq, err := s.AppendAll(ctx, domain.ExpectNew, pending(t, "e1", fam), pending(t, "e2", acc))
	if err != nil || seq != 2 {
		t.Fatalf("got %d, %v; want 2", seq, err)
	}
	for _, agg := range []domain.Aggregate{fam.AggregateOf(), acc.AggregateOf()} {
		recs, err := s.Load(ctx, agg)
		if err != nil || len(recs) != 1 {
			t.Errorf("%s: got %d events, %v; want 1", agg, len(recs), err)
		}
	}
	// The expectation on the first aggregate guards the whole batch.
	rot := domain.RefreshTokenCreated{FamilyID: "f1", RefreshTokenID: "r2", ParentID: "r1", TokenHash: "h2", AccessTokenID: "a2", ClientID: "c"}
	_, err = s.AppendAll(ctx, domain.ExpectSeq(0), pending(t, "e3", rot), pending(t, "e4", domain.AccessTokenCreated{TokenID: "a2", ClientID: "c"}))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("stale expectation: got %v; want ErrConflict", err)
	}
	if recs, _ := s.Load(ctx, domain.Aggregate{Kind: domain.KindToken, ID: "a2"}); len(recs) != 0 {
		t.Errorf("a refused batch stored %d events on another aggregate", len(recs))
	}
	// A retry of a stored batch answers its sequence, storing nothing.
	seq2, err := s.AppendAll(ctx, domain.ExpectNew, pending(t, "e1", fam), pending(t, "e2", acc))
	if err != nil || seq2 != seq {
		t.Errorf("retry: got %d, %v; want %d", seq2, err, seq)
	}
	if last, _ := s.LastSeq(ctx); last != 2 {
		t.Errorf("the log ends at %d; want 2", last)
	}
}
