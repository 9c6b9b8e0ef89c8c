package domain

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
)

// lagView is a second instance's read models over a shared memLog: they
// apply the log's events only up to the sequence they are asked for
// (WaitFor for the instance's own writes, CatchUp for everything), so they
// lag behind what another instance acknowledged, as real read models may.
// As a Freshness it counts the catch-ups and fails them with fail.
type lagView struct {
	*memLog  // the read side: its own World
	log      *memLog
	catchUps atomic.Int32
	fail     error
}

func newLagView(log *memLog) *lagView {
	v := &lagView{memLog: newMemLog(), log: log}
	v.memLog.keys = log.keys
	v.applyUpTo(math.MaxUint64)
	return v
}

func (v *lagView) applyUpTo(seq uint64) {
	v.log.mu.Lock()
	recs := v.log.recs[:min(seq, uint64(len(v.log.recs)))]
	v.log.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range recs[min(len(v.recs), len(recs)):] {
		e, err := Decode(r.Envelope)
		if err != nil {
			panic(err)
		}
		if u, ok := e.(UserRegistered); ok && v.keys != nil {
			if key, err := v.keys.UserKey(context.Background(), u.UserID); err == nil {
				e, _ = u.Reveal(key)
			}
		}
		v.recs = append(v.recs, r)
		v.world.Apply(e, r.Seq, r.Envelope.Time)
	}
}

func (v *lagView) WaitFor(_ context.Context, seq uint64) error {
	v.applyUpTo(seq)
	return nil
}

func (v *lagView) CatchUp(ctx context.Context) error {
	v.catchUps.Add(1)
	if v.fail != nil {
		return v.fail
	}
	v.applyUpTo(math.MaxUint64)
	return nil
}

// instance starts a second Service on h's log, with lagging read models
// that are current now; strong gives it its read models as Freshness.
func (h harness) instance(t *testing.T, strong bool) (*Service, *lagView) {
	t.Helper()
	v := newLagView(h.log)
	ports := Ports{Log: h.log, Wait: v, Clients: v, Tokens: v, Keys: v, Users: v, Grants: v, UserKeys: h.log.keys, Sessions: v}
	if strong {
		ports.Freshness = v
	}
	svc, err := NewService(h.svc.cfg, ports, h.svc.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return svc, v
}

// TestFreshnessAcrossInstances: what instance a acknowledged, instance b
// (with a Freshness port) honours at once, with one catch-up per request
// and none where the read model's answer is final; b without the port
// (read_consistency local) answers from its stale read models.
func TestFreshnessAcrossInstances(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	b, view := h.instance(t, true)
	local, localView := h.instance(t, false)

	c, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	issue := func() string {
		t.Helper()
		r, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: cred})
		if err != nil {
			t.Fatal(err)
		}
		return r.AccessToken
	}
	calls := func() int32 { return view.catchUps.Load() }

	tok := issue()
	if _, err := local.Introspect(ctx, cred, tok); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("local: introspect with a client registered on a: got %v; want invalid_client (stale)", err)
	}
	before := calls()
	got, err := b.Introspect(ctx, cred, tok)
	if err != nil || !got.Active {
		t.Fatalf("issued on a, introspected on b: got %+v, %v; want active", got, err)
	}
	if n := calls() - before; n != 1 {
		t.Errorf("one introspection caught up %d times; want 1", n)
	}
	if _, _, err := b.ValidateAccessToken(ctx, tok); err != nil {
		t.Errorf("issued on a, validated on b: %v", err)
	}

	localView.applyUpTo(math.MaxUint64) // local learns the token, then lags again
	if err := h.svc.Revoke(ctx, cred, tok, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := local.ValidateAccessToken(ctx, tok); err != nil {
		t.Errorf("local: a revocation on a: got %v; want the stale answer (valid)", err)
	}
	if got, err := b.Introspect(ctx, cred, tok); err != nil || got.Active {
		t.Errorf("revoked on a, introspected on b: got %+v, %v; want inactive", got, err)
	}
	before = calls()
	if _, _, err := b.ValidateAccessToken(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked token on b: got %v; want invalid", err)
	}
	if _, _, err := b.ValidateAccessToken(ctx, "not.a.jwt"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("garbage on b: got %v; want invalid", err)
	}
	if n := calls() - before; n != 0 {
		t.Errorf("a token b knows revoked and a malformed one caught up %d times; want 0 (the answer is final)", n)
	}

	tok2 := issue()
	if err := b.Revoke(ctx, cred, tok2, ""); err != nil {
		t.Errorf("issued on a, revoked on b: %v; want nil", err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, tok2); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("issued on a, revoked on b, validated on a: got %v; want invalid", err)
	}
	tok3 := issue()
	if _, _, err := local.ValidateAccessToken(ctx, tok3); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("local: validating on b a token just issued on a: got %v; want the stale invalid", err)
	}
	if err := local.Revoke(ctx, cred, tok3, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("local: revoking on b a token just issued on a: got %v; want the stale ErrNotFound", err)
	}
}

// TestFreshnessGrantsAndListings: refresh tokens, codes' and personal
// access tokens' look-ups and the JSON API's listings see what another
// instance acknowledged.
func TestFreshnessGrantsAndListings(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	b, _ := h.instance(t, true)
	u := h.user(t, "ada@example.com")
	c, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	first, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Form: map[string]string{"refresh_token": first.RefreshToken}})
	if err != nil || second.AccessToken == "" {
		t.Fatalf("refresh on b with a token issued on a: %+v, %v", second, err)
	}

	h.client(t, RegisterClient{Name: "Personal Access Client", Grants: []string{GrantPersonalAccess}})
	pat, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "cli", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := b.PersonalAccessTokens(ctx, u.ID)
	if err != nil || len(listed) != 1 || listed[0].Token.ID != pat.Token.ID {
		t.Errorf("b lists %+v, %v; want the PAT created on a", listed, err)
	}
	pat2, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "cli2", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RevokeUserToken(ctx, u.ID, pat2.Token.ID); err != nil {
		t.Errorf("b revokes a PAT created on a: %v; want nil", err)
	}
	owned, _, err := h.svc.RegisterClient(ctx, Actor{Kind: ActorUser, ID: u.ID}, RegisterClient{Name: "mine", UserID: u.ID, Grants: []string{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := b.ClientsOf(ctx, u.ID); err != nil || len(cs) != 1 || cs[0].ID != owned.ID {
		t.Errorf("b lists clients %+v, %v; want the one registered on a", cs, err)
	}
}

// TestFreshnessFailureIsTemporarilyUnavailable: when b cannot catch up,
// every answer that needs it is a *RetryError wrapping
// ErrTemporarilyUnavailable (503 with Retry-After), never a stale one;
// a caller that went away gets its context's error.
func TestFreshnessFailureIsTemporarilyUnavailable(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	b, view := h.instance(t, true)
	c, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials, GrantRefreshToken}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	r, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: cred})
	if err != nil {
		t.Fatal(err)
	}
	view.fail = errors.New("nats: no responders available for request")
	cases := map[string]func(context.Context) error{
		"introspect": func(ctx context.Context) error { _, err := b.Introspect(ctx, cred, r.AccessToken); return err },
		"validate":   func(ctx context.Context) error { _, _, err := b.ValidateAccessToken(ctx, r.AccessToken); return err },
		"revoke":     func(ctx context.Context) error { return b.Revoke(ctx, cred, r.AccessToken, "") },
		"refresh": func(ctx context.Context) error {
			_, err := b.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Form: map[string]string{"refresh_token": "unknown"}})
			return err
		},
		"listing": func(ctx context.Context) error { _, err := b.ClientsOf(ctx, "someone"); return err },
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call(ctx)
			retry, ok := errors.AsType[*RetryError](err)
			if !ok || !errors.Is(err, ErrTemporarilyUnavailable) || retry.After != FreshnessRetry {
				t.Errorf("got %v; want a *RetryError wrapping temporarily_unavailable after %v", err, FreshnessRetry)
			}
			gone, cancel := context.WithCancel(ctx)
			cancel()
			if err := call(gone); !errors.Is(err, context.Canceled) {
				t.Errorf("caller gone: got %v; want context.Canceled", err)
			}
		})
	}
}
