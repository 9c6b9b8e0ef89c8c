package listeners

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stamp-oauth/stamp/domain"
)

// fakeFamilies is the families read model and the revoker at once, with
// the domain.Service's idempotence (see fakeTokens).
type fakeFamilies struct {
	mu       sync.Mutex
	families map[string]domain.RefreshFamily
	calls    []revocation
	log      fakeLog
}

func (f *fakeFamilies) RefreshFamiliesByUser(_ context.Context, userID string) ([]domain.RefreshFamily, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.RefreshFamily
	for _, fam := range f.families {
		if fam.UserID == userID {
			out = append(out, fam)
		}
	}
	return out, nil
}

func (f *fakeFamilies) RevokeRefreshFamily(_ context.Context, actor domain.Actor, id, reason, cause string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, revocation{actor, id, reason, cause})
	fam, ok := f.families[id]
	if !ok {
		return fmt.Errorf("family %s: %w", id, domain.ErrNotFound)
	}
	if fam.Revoked {
		return nil
	}
	e := domain.RefreshTokenRevoked{FamilyID: id, Reason: reason}
	f.log.append(domain.DerivedID(cause, e.AggregateOf().String()+"/"+e.EventType()))
	fam.Revoked = true
	f.families[id] = fam
	return nil
}

func (f *fakeFamilies) takeCalls() []revocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := f.calls
	f.calls = nil
	return calls
}

// userFamilies returns the view once family "new" (created at t0) is
// applied.
func userFamilies() map[string]domain.RefreshFamily {
	fam := func(id, user, client string, age time.Duration) domain.RefreshFamily {
		return domain.RefreshFamily{ID: id, UserID: user, ClientID: client,
			CreatedAt: t0.Add(-age), IssuedAt: t0.Add(-age), ExpiresAt: t0.Add(24 * time.Hour)}
	}
	revoked := fam("revoked", "u1", "c1", 30*time.Minute)
	revoked.Revoked = true
	expired := fam("expired", "u1", "c1", 10*time.Minute)
	expired.ExpiresAt = t0.Add(-time.Second)
	m := map[string]domain.RefreshFamily{}
	for _, f := range []domain.RefreshFamily{
		fam("new", "u1", "c1", 0),
		fam("a", "u1", "c1", time.Hour),
		fam("b", "u1", "c1", 2*time.Hour),
		fam("b2", "u1", "c1", 2*time.Hour), // ties with b: the larger id ranks newer
		fam("c", "u1", "c1", 3*time.Hour),
		fam("later", "u1", "c1", -time.Minute), // begun after "new"
		fam("other-client", "u1", "c2", 5*time.Hour),
		fam("other-user", "u2", "c1", 5*time.Hour),
		revoked, expired,
	} {
		m[f.ID] = f
	}
	return m
}

func newFamilyCreated(t *testing.T, parent string) domain.Recorded {
	return record(t, 20, "evt-family", domain.RefreshTokenCreated{
		FamilyID: "new", RefreshTokenID: "r1", ParentID: parent, ClientID: "c1", UserID: "u1",
		IssuedAt: t0, ExpiresAt: t0.Add(24 * time.Hour),
	})
}

func TestPruneOldTokensKeepsNewestLiveFamilies(t *testing.T) {
	actor := domain.Actor{Kind: domain.ActorSystem, ID: "prune-old-tokens"}
	for _, tc := range []struct {
		keep int
		want []string
	}{
		{1, []string{"a", "b2", "b", "c"}},
		{2, []string{"b2", "b", "c"}},
		{4, []string{"c"}},
		{5, nil},
	} {
		t.Run(fmt.Sprintf("keep=%d", tc.keep), func(t *testing.T) {
			store := &fakeFamilies{families: userFamilies()}
			wait := &fakeWaiter{}
			l, err := NewPruneOldTokens(tc.keep, wait, store, store)
			if err != nil {
				t.Fatal(err)
			}
			rec := newFamilyCreated(t, "")
			if err := handle(t, l, rec); err != nil {
				t.Fatalf("Handle: got %v; want nil", err)
			}
			var want []revocation
			for _, id := range tc.want {
				want = append(want, revocation{actor, id, domain.ReasonPruned, "evt-family"})
			}
			if diff := cmp.Diff(want, store.takeCalls()); diff != "" {
				t.Errorf("revocations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]uint64{20}, wait.seqs); diff != "" {
				t.Errorf("waited for (-want +got):\n%s", diff)
			}
			logged := slices.Clone(store.log.order)
			if err := handle(t, l, rec); err != nil {
				t.Fatalf("redelivery: got %v; want nil", err)
			}
			if got := store.takeCalls(); len(got) != 0 {
				t.Errorf("redelivery revocations: got %v; want none", got)
			}
			if diff := cmp.Diff(logged, store.log.order); diff != "" {
				t.Errorf("log after redelivery (-before +after):\n%s", diff)
			}
		})
	}
}

func TestPruneOldTokensIgnoresRotations(t *testing.T) {
	store := &fakeFamilies{families: userFamilies()}
	l, err := NewPruneOldTokens(1, &fakeWaiter{}, store, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := handle(t, l, newFamilyCreated(t, "r0")); err != nil {
		t.Fatalf("Handle: got %v; want nil", err)
	}
	if got := store.takeCalls(); len(got) != 0 {
		t.Errorf("revocations: got %v; want none", got)
	}
}

func TestNewPruneOldTokensValidatesKeep(t *testing.T) {
	for _, keep := range []int{0, -1} {
		if _, err := NewPruneOldTokens(keep, nil, nil, nil); err == nil {
			t.Errorf("keep %d: got nil; want an error", keep)
		}
	}
	l, err := NewPruneOldTokens(3, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "prune-old-tokens" || l.Filter() != "stamp.refresh.*.RefreshTokenCreated" || l.Keep() != 3 {
		t.Errorf("got %q %q %d; want prune-old-tokens stamp.refresh.*.RefreshTokenCreated 3", l.Name(), l.Filter(), l.Keep())
	}
}
