package projections

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/stamp-oauth/stamp/domain"
)

// The event index lists one token's events, on its shard subject or on the
// per-id subject of a log written before the shards, and nothing of its
// neighbours; a purge leaves it (audits reach purged tokens).
func TestEventIndex(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t)
	reg := h.add(registered("c1"))
	oldCreated := h.add(created("t1", "c1", "", at(2)))
	oldCreated.Subject = "stamp.token.t1.AccessTokenCreated" // as the version before the shards wrote it
	other := h.add(created("t2", "c1", "", at(3)))
	revoked := h.add(domain.AccessTokenRevoked{TokenID: "t1", ClientID: "c1", Reason: domain.ReasonRevokedByUser})
	purged := h.add(domain.TokensPurged{PurgeID: "p1", Before: at(100), Revoked: true, Expired: true})
	s := openMem(t, vfs.NewMem(), "db")
	applyAll(t, s, []domain.Recorded{reg, oldCreated, other, revoked, purged})

	got, err := s.EventSeqs(ctx, domain.Aggregate{Kind: domain.KindToken, ID: "t1"})
	if err != nil || !slices.Equal(got, []uint64{oldCreated.Seq, revoked.Seq}) {
		t.Errorf("EventSeqs(t1) = %v, %v; want [%d %d]", got, err, oldCreated.Seq, revoked.Seq)
	}
	if _, err := s.AccessToken(ctx, "t1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AccessToken(t1) after the purge: %v; want ErrNotFound", err)
	}
	if got, err := s.EventSeqs(ctx, domain.Aggregate{Kind: domain.KindToken, ID: "nobody"}); err != nil || len(got) != 0 {
		t.Errorf("EventSeqs(nobody) = %v, %v; want empty", got, err)
	}
	if _, err := s.EventSeqs(ctx, domain.Aggregate{Kind: domain.KindClient, ID: "c1"}); !errors.Is(err, ErrNotIndexed) {
		t.Errorf("EventSeqs(client) = %v; want ErrNotIndexed", err)
	}
}
