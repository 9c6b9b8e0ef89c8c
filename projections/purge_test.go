package projections

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

func TestPurgeDropsTokens(t *testing.T) {
	for _, tc := range []struct {
		name             string
		revoked, expired bool
		want             []string // the tokens of client web left, by issue time
	}{
		{"revoked and expired", true, true, []string{"new-exp", "rev-new"}},
		{"revoked", true, false, []string{"old-exp", "new-exp", "rev-new"}},
		{"expired", false, true, []string{"new-exp", "rev-old", "rev-new"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openMem(t, vfs.NewMem(), "db")
			h := newHistory(t)
			oldExp := created("old-exp", "web", "alice", at(1))
			oldExp.ExpiresAt = at(2)
			h.add(oldExp)
			h.add(created("new-exp", "web", "alice", at(2)))
			h.add(created("rev-old", "web", "bob", at(3)))
			h.add(domain.AccessTokenRevoked{TokenID: "rev-old", Reason: domain.ReasonRevokedByUser}) // at(4)
			h.add(created("rev-new", "web", "bob", at(5)))
			h.add(domain.AccessTokenRevoked{TokenID: "rev-new", Reason: domain.ReasonRevokedByUser}) // at(6)
			h.add(domain.TokensPurged{PurgeID: "p1", Before: at(5), Revoked: tc.revoked, Expired: tc.expired})
			// Later events about a purged token change nothing.
			h.add(domain.AccessTokenRevoked{TokenID: "old-exp", Reason: domain.ReasonRevokedByAdmin})
			applyAll(t, s, h.recs)

			left, err := s.AccessTokensByClient(ctx, "web")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tok := range left {
				got = append(got, tok.ID)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("tokens left mismatch (-want +got):\n%s", d)
			}
			for _, jti := range []string{"old-exp", "new-exp", "rev-old", "rev-new"} {
				kept := contains(tc.want, jti)
				if _, err := s.AccessToken(ctx, jti); kept != (err == nil) || !kept && !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("AccessToken(%s) = %v; want found %v", jti, err, kept)
				}
				if n := keysMentioning(t, s, jti); !kept && n != 0 {
					t.Errorf("%d keys still mention the purged token %s", n, jti)
				}
			}

			// The same events in one batch give the same bytes.
			b := openMem(t, vfs.NewMem(), "db")
			if err := b.ApplyBatch(h.recs); err != nil {
				t.Fatal(err)
			}
			if got, want := checksum(t, b), checksum(t, s); got != want {
				t.Errorf("one batch: checksum %s; want %s", got, want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keysMentioning counts the keys and values of s that hold jti.
func keysMentioning(t *testing.T, s *Store, jti string) int {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		// The event index keeps the history of purged aggregates by design
		// (model_events.go): an audit must still find it.
		if bytes.HasPrefix(it.Key(), []byte(ModelEvents+"/")) {
			continue
		}
		if bytes.Contains(it.Key(), []byte(jti)) || bytes.Contains(it.Value(), []byte(`"`+jti+`"`)) {
			n++
		}
	}
	return n
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
		time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		if a, b := timeKey(times[i-1]), timeKey(times[i]); a >= b {
			t.Errorf("timeKey(%v) = %s >= timeKey(%v) = %s", times[i-1], a, times[i], b)
		}
	}
}

func TestApplyRefreshFamilies(t *testing.T) {
	ctx := context.Background()
	s := openMem(t, vfs.NewMem(), "db")
	h := newHistory(t)
	start := func(fam, client, user string, issued time.Time) domain.RefreshTokenCreated {
		return domain.RefreshTokenCreated{
			FamilyID: fam, RefreshTokenID: fam + "-rt1", TokenHash: fam + "-h1", AccessTokenID: fam + "-at1",
			ClientID: client, UserID: user, Scopes: []string{"read"}, IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
		}
	}
	h.add(start("f1", "web", "alice", at(1)))
	h.add(start("f2", "web", "bob", at(2)))
	h.add(start("f0", "cli", "alice", at(3)))
	h.add(domain.RefreshTokenCreated{ // f1 rotates
		FamilyID: "f1", RefreshTokenID: "f1-rt2", ParentID: "f1-rt1", TokenHash: "f1-h2", AccessTokenID: "f1-at2",
		ClientID: "web", UserID: "alice", Scopes: []string{"read"}, IssuedAt: at(4), ExpiresAt: at(4).Add(time.Hour),
	})
	h.add(domain.RefreshTokenRevoked{FamilyID: "f2", RefreshTokenID: "f2-rt1", Reason: domain.ReasonRevokedByUser}) // at(5)
	applyAll(t, s, h.recs)

	want := domain.RefreshFamily{
		ID: "f1", ClientID: "web", UserID: "alice", Scopes: []string{"read"},
		TokenID: "f1-rt2", TokenHash: "f1-h2", AccessTokenID: "f1-at2", Rotated: []domain.RotatedToken{{ID: "f1-rt1", Hash: "f1-h1", RotatedAt: at(4)}},
		CreatedAt: at(1), IssuedAt: at(4), ExpiresAt: at(4).Add(time.Hour), Seq: 4,
	}
	got, err := s.RefreshFamily(ctx, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("RefreshFamily(f1) mismatch (-want +got):\n%s", d)
	}
	ids := func(fs []domain.RefreshFamily, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return out
	}
	if d := cmp.Diff([]string{"f1", "f0"}, ids(s.RefreshFamiliesByUser(ctx, "alice"))); d != "" {
		t.Errorf("RefreshFamiliesByUser(alice) mismatch (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"f1", "f2"}, ids(s.RefreshFamiliesByClient(ctx, "web"))); d != "" {
		t.Errorf("RefreshFamiliesByClient(web) mismatch (-want +got):\n%s", d)
	}

	// A purge of revoked families drops f2 and nothing else.
	if err := s.Apply(h.add(domain.TokensPurged{PurgeID: "p1", Before: at(6), Revoked: true})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RefreshFamily(ctx, "f2"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RefreshFamily(f2) after the purge = %v; want ErrNotFound", err)
	}
	if n := keysMentioning(t, s, "f2"); n != 0 {
		t.Errorf("%d keys still mention the purged family f2", n)
	}
	if d := cmp.Diff([]string{"f1"}, ids(s.RefreshFamiliesByClient(ctx, "web"))); d != "" {
		t.Errorf("RefreshFamiliesByClient(web) after the purge mismatch (-want +got):\n%s", d)
	}
}
