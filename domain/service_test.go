package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// fixedClock is a settable clock for the Service.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// testPasswordHashing is the argon2id cost of the harness: the smallest
// RFC 9106 allows, so tests run at the speed of the rules, not of the
// hash. The production cost is tested on its own (TestPasswordHashing).
func testPasswordHashing() PasswordHashing {
	return PasswordHashing{MemoryKiB: 8, Time: 1, Threads: 1}
}

type harness struct {
	log   *memLog
	svc   *Service
	clock *fixedClock
}

func newHarness(t *testing.T, alg string) harness {
	t.Helper()
	log := newMemLog()
	log.keys = newMemKeys()
	clock := &fixedClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	scopes, err := NewScopes([]Scope{{"read", "Read your data"}, {"write", "Change your data"}, {"admin", "Everything"}}, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateSigningKey(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewTokenSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	sealKey := make([]byte, SealingKeySize)
	rand.Read(sealKey)
	sealer, _ := NewSealer(sealKey)
	svc, err := NewService(Config{
		Issuer: "https://auth.example", Scopes: scopes,
		Lifetimes: Lifetimes{AccessToken: time.Hour, ClientCredentials: 30 * time.Minute},
		Grants:    Grants{Password: true, Implicit: true},
		Now:       clock.Now, Sealer: sealer,
		PasswordHashing: testPasswordHashing(),
	}, Ports{Log: log, Wait: log, Clients: log, Tokens: log, Keys: log, Users: log, Grants: log, UserKeys: log.keys, Sessions: log}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AnnounceSigningKey(context.Background(), Actor{Kind: ActorSystem}, key); err != nil {
		t.Fatal(err)
	}
	return harness{log: log, svc: svc, clock: clock}
}

func (h harness) client(t *testing.T, cmd RegisterClient) (Client, string) {
	t.Helper()
	c, secret, err := h.svc.RegisterClient(context.Background(), Actor{Kind: ActorCLI}, cmd)
	if err != nil {
		t.Fatalf("register client: %v", err)
	}
	return c, secret
}

func TestIntrospectAndRevoke(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, ES256)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	other, otherSecret := h.client(t, RegisterClient{Name: "other", Grants: []string{GrantClientCredentials}})
	public, _ := h.client(t, RegisterClient{Name: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true})
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}, Scope: "write"})
	if err != nil {
		t.Fatal(err)
	}
	caller := ClientCredentials{ID: other.ID, Secret: otherSecret}

	in, err := h.svc.Introspect(ctx, caller, resp.AccessToken)
	if err != nil || !in.Active || in.ClientID != cc.ID || in.Scope != "write" || in.Iss != "https://auth.example" {
		t.Fatalf("got %+v, %v; want active for %s with scope write", in, err, cc.ID)
	}
	if _, err := h.svc.Introspect(ctx, ClientCredentials{ID: public.ID}, resp.AccessToken); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("public caller: got %v; want unauthorized_client", err)
	}
	if _, err := h.svc.Introspect(ctx, ClientCredentials{ID: other.ID, Secret: "nope"}, resp.AccessToken); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("bad caller secret: got %v; want invalid_client", err)
	}
	if in, err := h.svc.Introspect(ctx, caller, "not-a-token"); err != nil || in.Active {
		t.Errorf("garbage token: got %+v, %v; want inactive", in, err)
	}

	if err := h.svc.Revoke(ctx, caller, resp.AccessToken, ""); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("revoke by another client: got %v; want unauthorized_client", err)
	}
	if err := h.svc.Revoke(ctx, ClientCredentials{ID: cc.ID, Secret: secret}, resp.AccessToken, "access_token"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if in, err := h.svc.Introspect(ctx, caller, resp.AccessToken); err != nil || in.Active {
		t.Errorf("after revoke: got %+v, %v; want inactive", in, err)
	}
	n := len(h.log.events())
	if err := h.svc.Revoke(ctx, ClientCredentials{ID: cc.ID, Secret: secret}, resp.AccessToken, ""); err != nil {
		t.Errorf("second revoke: got %v; want nil", err)
	}
	if got := len(h.log.events()); got != n {
		t.Errorf("a second revoke appended %d events; want none", got-n)
	}
	if err := h.svc.Revoke(ctx, ClientCredentials{ID: cc.ID, Secret: secret}, "garbage", ""); err != nil {
		t.Errorf("revoke of an invalid token: got %v; want nil (RFC 7009 §2.2)", err)
	}
	if err := h.svc.Revoke(ctx, ClientCredentials{ID: cc.ID, Secret: secret}, resp.AccessToken, "id_token"); !errors.Is(err, ErrUnsupportedTokenType) {
		t.Errorf("unknown hint: got %v; want unsupported_token_type", err)
	}
}

func TestTokensOfADeletedClientStopValidating(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteClient(ctx, Actor{Kind: ActorCLI}, cc.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("got %v; want invalid token", err)
	}
}

func TestExpiredTokenIsInactive(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.t = h.clock.t.Add(31 * time.Minute)
	if _, _, err := h.svc.ValidateAccessToken(ctx, resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("got %v; want invalid token after expiry", err)
	}
}

func TestRevokeRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	_, claims, _ := h.svc.ValidateAccessToken(ctx, resp.AccessToken)
	// Another instance revokes the token between our read and our append:
	// the append conflicts, the service reloads, sees it revoked, and stops.
	h.log.beforeAppend = func() {
		env, _ := NewEnvelope("other", AccessTokenRevoked{TokenID: claims.ID, Reason: ReasonRevokedByAdmin}, h.clock.t, Actor{Kind: ActorSystem})
		if _, err := h.log.Append(ctx, Aggregate{KindToken, claims.ID}, ExpectAny, env); err != nil {
			t.Error(err)
		}
	}
	if err := h.svc.RevokeAccessToken(ctx, Actor{Kind: ActorCLI}, claims.ID, ReasonRevokedByUser); err != nil {
		t.Fatalf("got %v; want nil", err)
	}
	revocations := 0
	for _, e := range h.log.events() {
		if _, ok := e.(AccessTokenRevoked); ok {
			revocations++
		}
	}
	if revocations != 1 {
		t.Errorf("got %d AccessTokenRevoked; want exactly 1", revocations)
	}
}

func TestClientCommands(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	actor := Actor{Kind: ActorUser, ID: "u1"}
	c, secret := h.client(t, RegisterClient{Name: " App ", Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: []string{"https://app.example/cb"}, UserID: "u1"})
	if c.Name != "App" || !c.Confidential() || !SecretMatches(secret, c.SecretHash) {
		t.Fatalf("got %+v; want a confidential client named App whose hash matches the secret", c)
	}
	if _, err := h.svc.UpdateClient(ctx, actor, UpdateClient{ClientID: c.ID, Name: "App 2", RedirectURIs: []string{"https://app.example/cb2"}, UserID: "u2"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update by another user: got %v; want not found", err)
	}
	u, err := h.svc.UpdateClient(ctx, actor, UpdateClient{ClientID: c.ID, Name: "App 2", RedirectURIs: []string{"https://app.example/cb2"}, UserID: "u1"})
	if err != nil || u.Name != "App 2" || u.RedirectURIs[0] != "https://app.example/cb2" {
		t.Fatalf("update: got %+v, %v", u, err)
	}
	if _, err := h.svc.UpdateClient(ctx, actor, UpdateClient{ClientID: c.ID, Name: "App 3", UserID: "u1"}); err == nil {
		t.Errorf("update without redirect URIs: got nil; want a validation error")
	}
	r, newSecret, err := h.svc.RegenerateSecret(ctx, actor, c.ID, "u1")
	if err != nil || newSecret == secret || !SecretMatches(newSecret, r.SecretHash) || SecretMatches(secret, r.SecretHash) {
		t.Fatalf("regenerate: got %+v, %v", r, err)
	}
	if err := h.svc.DeleteClient(ctx, actor, c.ID, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteClient(ctx, actor, c.ID, "u1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: got %v; want not found", err)
	}
	clients, err := FoldClients(h.log.recs)
	if err != nil || len(clients) != 1 || !clients[0].Deleted || clients[0].Name != "App 2" {
		t.Errorf("FoldClients: got %+v, %v", clients, err)
	}
}

func TestAnnounceSigningKeyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	key, _ := GenerateSigningKey(ES256, rand.Reader)
	for range 3 {
		if _, err := h.svc.AnnounceSigningKey(ctx, Actor{Kind: ActorSystem}, key); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := h.log.SigningKeys(ctx)
	if len(keys) != 2 {
		t.Errorf("got %d keys; want 2 (the harness key and this one, once)", len(keys))
	}
}
