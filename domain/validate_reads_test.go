package domain

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// appliedLagView is a lagView whose Waiter tells the sequence it applied,
// as projections.Runner does.
type appliedLagView struct{ *lagView }

func (v appliedLagView) Applied() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return uint64(len(v.recs))
}

// countingTokens counts the reads of access tokens.
type countingTokens struct {
	TokenReader
	reads atomic.Int32
}

func (c *countingTokens) AccessToken(ctx context.Context, jti string) (AccessToken, error) {
	c.reads.Add(1)
	return c.TokenReader.AccessToken(ctx, jti)
}

// TestValidateRereadsOnlyWhatChanged checks that a token check on a
// second instance reads the token again after catching up only when the
// catch-up applied something: an issuance or a revocation through the
// first instance is seen, and a check with nothing new reads once.
func TestValidateRereadsOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	v := newLagView(h.log)
	tokens := &countingTokens{TokenReader: v}
	b, err := NewService(h.svc.cfg, Ports{Log: h.log, Wait: appliedLagView{v}, Clients: v, Tokens: tokens, Keys: v, Users: v,
		Grants: v, UserKeys: h.log.keys, Sessions: v, Freshness: v}, h.svc.Signer())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantReads int32, wantValid bool) {
		t.Helper()
		tokens.reads.Store(0)
		_, _, err := b.ValidateAccessToken(ctx, resp.AccessToken)
		if valid := err == nil; valid != wantValid || (!valid && !errors.Is(err, ErrInvalidToken)) {
			t.Fatalf("%s: got %v; want valid %v", step, err, wantValid)
		}
		if got := tokens.reads.Load(); got != wantReads {
			t.Errorf("%s: %d reads of the token; want %d", step, got, wantReads)
		}
	}
	check("issued through the other instance", 2, true)
	check("nothing new", 1, true)
	at, _, err := h.svc.ValidateAccessToken(ctx, resp.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RevokeAccessToken(ctx, Actor{Kind: ActorCLI}, at.ID, ReasonRevokedByClient); err != nil {
		t.Fatal(err)
	}
	check("revoked through the other instance", 2, false)
}
