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

// fakeTokens is the tokens read model and the revoker at once. Like the
// domain.Service, revoking a revoked token appends nothing and the log
// stores a derived event id once. lag leaves the read model unchanged by a
// revocation, as a read model that has not caught up yet.
type fakeTokens struct {
	mu     sync.Mutex
	tokens map[string]domain.AccessToken
	purged map[string]bool // listed by the view, gone for the revoker
	lag    bool
	calls  []revocation
	log    fakeLog
}

func (f *fakeTokens) AccessTokensByUser(_ context.Context, userID string) ([]domain.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.AccessToken
	for _, t := range f.tokens {
		if t.UserID == userID {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeTokens) RevokeAccessTokenCausedBy(_ context.Context, actor domain.Actor, jti, reason, cause string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, revocation{actor, jti, reason, cause})
	t, ok := f.tokens[jti]
	if !ok || f.purged[jti] {
		return fmt.Errorf("token %s: %w", jti, domain.ErrNotFound)
	}
	if t.Revoked {
		return nil
	}
	e := domain.AccessTokenRevoked{TokenID: jti, Reason: reason}
	f.log.append(domain.DerivedID(cause, e.AggregateOf().String()+"/"+e.EventType()))
	if !f.lag {
		t.Revoked = true
		f.tokens[jti] = t
	}
	return nil
}

func (f *fakeTokens) takeCalls() []revocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := f.calls
	f.calls = nil
	return calls
}

// userTokens returns the view before token "new" (seq 10) is handled.
func userTokens() map[string]domain.AccessToken {
	live := t0.Add(time.Hour)
	tok := func(id, user, client string, seq uint64) domain.AccessToken {
		return domain.AccessToken{ID: id, UserID: user, ClientID: client, GrantType: domain.GrantPassword,
			IssuedAt: t0.Add(-time.Duration(20-seq) * time.Minute), ExpiresAt: live, Seq: seq}
	}
	m := map[string]domain.AccessToken{}
	for _, t := range []domain.AccessToken{
		tok("old-1", "u1", "c1", 1),
		tok("old-2", "u1", "c1", 5),
		tok("other-client", "u1", "c2", 2),
		tok("other-user", "u2", "c1", 3),
		tok("new", "u1", "c1", 10),
		tok("later", "u1", "c1", 12), // appended after "new"
	} {
		m[t.ID] = t
	}
	revoked := tok("revoked", "u1", "c1", 6)
	revoked.Revoked = true
	expired := tok("expired", "u1", "c1", 4)
	expired.ExpiresAt = t0.Add(-time.Minute)
	personal := tok("personal", "u1", "c1", 7)
	personal.GrantType = domain.GrantPersonalAccess
	skewed := tok("skewed", "u1", "c1", 8) // appended before "new", stamped after it
	skewed.IssuedAt = t0.Add(time.Second)
	for _, t := range []domain.AccessToken{revoked, expired, personal, skewed} {
		m[t.ID] = t
	}
	return m
}

func newTokenCreated(t *testing.T, grant string) domain.Recorded {
	return record(t, 10, "evt-new", domain.AccessTokenCreated{
		TokenID: "new", ClientID: "c1", UserID: "u1", GrantType: grant,
		IssuedAt: t0, ExpiresAt: t0.Add(time.Hour),
	})
}

// handle decodes rec and hands it to l, as the Runner does.
func handle(t *testing.T, l Listener, rec domain.Recorded) error {
	t.Helper()
	e, err := domain.Decode(rec.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return l.Handle(context.Background(), rec, e)
}

func TestRevokeOldTokensRevokesOlderLiveTokensOfUserAndClient(t *testing.T) {
	for _, lag := range []bool{false, true} {
		t.Run(fmt.Sprintf("lag=%v", lag), func(t *testing.T) {
			store := &fakeTokens{tokens: userTokens(), lag: lag}
			wait := &fakeWaiter{}
			l := NewRevokeOldTokens(wait, store, store)
			rec := newTokenCreated(t, domain.GrantPassword)
			if err := handle(t, l, rec); err != nil {
				t.Fatalf("Handle: got %v; want nil", err)
			}
			actor := domain.Actor{Kind: domain.ActorSystem, ID: "revoke-old-tokens"}
			var want []revocation
			for _, id := range []string{"old-1", "old-2", "skewed"} {
				want = append(want, revocation{actor, id, domain.ReasonReplacedByNewer, "evt-new"})
			}
			first := store.takeCalls()
			if diff := cmp.Diff(want, first); diff != "" {
				t.Errorf("revocations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]uint64{10}, wait.seqs); diff != "" {
				t.Errorf("waited for (-want +got):\n%s", diff)
			}
			logged := slices.Clone(store.log.order)

			// A redelivery appends nothing new: the view has the
			// revocations (no calls), or lags and the same calls derive
			// the same event ids.
			if err := handle(t, l, rec); err != nil {
				t.Fatalf("redelivery: got %v; want nil", err)
			}
			again := store.takeCalls()
			if lag && !cmp.Equal(first, again) {
				t.Errorf("redelivery revocations: got %v; want %v", again, first)
			}
			if !lag && len(again) != 0 {
				t.Errorf("redelivery revocations: got %v; want none", again)
			}
			if diff := cmp.Diff(logged, store.log.order); diff != "" {
				t.Errorf("log after redelivery (-before +after):\n%s", diff)
			}
		})
	}
}

func TestRevokeOldTokensIgnores(t *testing.T) {
	clientCredentials := record(t, 10, "evt-cc", domain.AccessTokenCreated{
		TokenID: "new", ClientID: "c1", GrantType: domain.GrantClientCredentials, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	for name, rec := range map[string]domain.Recorded{
		"client credentials": clientCredentials,
		"personal access":    newTokenCreated(t, domain.GrantPersonalAccess),
		"other event":        record(t, 10, "evt-rev", domain.AccessTokenRevoked{TokenID: "old-1"}),
	} {
		store := &fakeTokens{tokens: userTokens()}
		if err := handle(t, NewRevokeOldTokens(&fakeWaiter{}, store, store), rec); err != nil {
			t.Errorf("%s: got %v; want nil", name, err)
		}
		if got := store.takeCalls(); len(got) != 0 {
			t.Errorf("%s: revocations: got %v; want none", name, got)
		}
	}
}

func TestRevokeOldTokensSkipsPurgedTokens(t *testing.T) {
	store := &fakeTokens{tokens: userTokens(), purged: map[string]bool{"old-1": true}}
	if err := handle(t, NewRevokeOldTokens(&fakeWaiter{}, store, store), newTokenCreated(t, domain.GrantPassword)); err != nil {
		t.Errorf("Handle: got %v; want nil", err)
	}
	if got := len(store.log.order); got != 2 {
		t.Errorf("revocations appended: got %d; want 2", got)
	}
}

func TestRevokeOldTokensNameAndFilter(t *testing.T) {
	l := NewRevokeOldTokens(nil, nil, nil)
	if got, want := l.Name(), "revoke-old-tokens"; got != want {
		t.Errorf("Name: got %q; want %q", got, want)
	}
	if got, want := l.Filter(), "stamp.token.*.AccessTokenCreated"; got != want {
		t.Errorf("Filter: got %q; want %q", got, want)
	}
}
