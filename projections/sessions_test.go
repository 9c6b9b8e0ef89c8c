package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// TestEndedSessions: a SessionEnded is kept until its session would have
// expired; later ones and purges of expired tokens forget the expired
// ones; applying one by one and rebuilding give the same bytes.
func TestEndedSessions(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t)
	h.add(domain.UserRegistered{UserID: "ada", Email: "ada@example.com", RegisteredAt: at(1)})
	h.add(domain.SessionEnded{SessionID: "s-short", UserID: "ada", ExpiresAt: at(5)}) // seq 2
	h.add(domain.SessionEnded{SessionID: "s-long", UserID: "ada", ExpiresAt: at(100)})
	h.add(domain.SessionEnded{SessionID: "s-long", UserID: "ada", ExpiresAt: at(200)}) // a second end keeps the first

	s := openMem(t, vfs.NewMem(), "db")
	applyAll(t, s, h.recs)
	for _, id := range []string{"s-short", "s-long"} {
		if _, err := s.EndedSession(ctx, id); err != nil {
			t.Errorf("EndedSession(%s): %v; want it", id, err)
		}
	}
	if got, _ := s.EndedSession(ctx, "s-long"); !got.ExpiresAt.Equal(at(100)) || got.UserID != "ada" || got.Seq != 3 {
		t.Errorf("s-long = %+v; want the first end (seq 3, expiring at(100))", got)
	}
	if _, err := s.EndedSession(ctx, "s-live"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a session never ended: %v; want ErrNotFound", err)
	}
	// The user's record moved to the logout's sequence, nothing else.
	if u, err := s.User(ctx, "ada"); err != nil || u.Seq != 4 || !u.UpdatedAt.Equal(at(1)) {
		t.Errorf("user after logouts = %+v, %v; want seq 4, updated at(1)", u, err)
	}

	// A logout after s-short expired forgets it.
	h.add(domain.SessionEnded{SessionID: "s-next", UserID: "ada", ExpiresAt: at(300)})  // seq 5, at(5): s-short expired at(5), not before
	h.add(domain.SessionEnded{SessionID: "s-later", UserID: "ada", ExpiresAt: at(300)}) // seq 6, at(6)
	applyAll(t, s, h.recs[4:])
	if _, err := s.EndedSession(ctx, "s-short"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("s-short after it expired: %v; want ErrNotFound", err)
	}
	if _, err := s.EndedSession(ctx, "s-long"); err != nil {
		t.Errorf("s-long, not yet expired: %v; want it", err)
	}
	// A purge of expired tokens forgets the sessions expired before it.
	h.add(domain.TokensPurged{PurgeID: "p1", Before: at(150), Expired: true})
	applyAll(t, s, h.recs[6:])
	if _, err := s.EndedSession(ctx, "s-long"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("s-long after a purge past its expiry: %v; want ErrNotFound", err)
	}
	if _, err := s.EndedSession(ctx, "s-later"); err != nil {
		t.Errorf("s-later after the purge: %v; want it", err)
	}

	// Rebuilt in one batch, the store holds the same bytes.
	fresh := openMem(t, vfs.NewMem(), "db")
	if err := fresh.ApplyBatch(h.recs); err != nil {
		t.Fatal(err)
	}
	if a, b := checksum(t, s), checksum(t, fresh); a != b {
		t.Errorf("checksum one by one %s, in one batch %s; want equal", a, b)
	}
}
