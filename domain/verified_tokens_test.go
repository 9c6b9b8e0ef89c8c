package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// signedForTest returns a signed access token of issuer iss, valid for an
// hour from now, and a KeyLookup that knows its key.
func signedForTest(t testing.TB, alg, iss string, now time.Time) (string, KeyLookup) {
	t.Helper()
	key, err := GenerateSigningKey(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewTokenSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign(Claims{Issuer: iss, Subject: "c1", ClientID: "c1", ID: "jti-1",
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, jwk, err := PublicJWK(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicJWK(jwk)
	if err != nil {
		t.Fatal(err)
	}
	kid := signer.KeyID()
	return raw, func(k string) (any, string, bool) {
		if k != kid {
			return nil, "", false
		}
		return pub.Key, alg, true
	}
}

// TestVerifiedTokensCheckAgain checks that a token answered from the
// cache is still refused for what can change after its first check: its
// key no longer verifying, its expiry, the issuer; and that a token that
// differs in one byte is checked in full.
func TestVerifiedTokensCheckAgain(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const iss = "https://auth.example"
	raw, keys := signedForTest(t, EdDSA, iss, now)
	none := KeyLookup(func(string) (any, string, bool) { return nil, "", false })
	var v verifiedTokens
	if c, err := v.parse(raw, iss, keys, now, 0); err != nil || c.ID != "jti-1" {
		t.Fatalf("first check: got %+v, %v; want jti-1", c, err)
	}
	if len(v.cur) != 1 {
		t.Fatalf("after a token that verified: %d cached; want 1", len(v.cur))
	}
	if c, err := v.parse(raw, iss, keys, now, 0); err != nil || c.ID != "jti-1" {
		t.Fatalf("second check (cached): got %+v, %v; want jti-1", c, err)
	}
	flipped := []byte(raw)
	flipped[len(flipped)-2] ^= 0x01 // in the signature
	tampered := string(flipped)
	for _, tc := range []struct {
		name    string
		raw     string
		iss     string
		keys    KeyLookup
		now     time.Time
		unknown bool // the error wraps errUnknownKey
	}{
		{"its key no longer verifies", raw, iss, none, now, true},
		{"expired since", raw, iss, keys, now.Add(time.Hour), false},
		{"another issuer", raw, "https://other.example", keys, now, false},
		{"a byte of the signature changed", tampered, iss, keys, now, false},
	} {
		_, err := v.parse(tc.raw, tc.iss, tc.keys, tc.now, 0)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: got %v; want invalid token", tc.name, err)
		}
		if got := errors.Is(err, errUnknownKey); got != tc.unknown {
			t.Errorf("%s: unknown key %v; want %v (%v)", tc.name, got, tc.unknown, err)
		}
	}
	if len(v.cur) != 1 {
		t.Errorf("after refusals: %d cached; want 1 (failures are not cached)", len(v.cur))
	}
}

// TestVerifiedTokensBounded fills the cache past two generations.
func TestVerifiedTokensBounded(t *testing.T) {
	var v verifiedTokens
	for i := range 3*verifiedTokensPerGeneration + 7 {
		var sum [32]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		v.put(sum, verifiedToken{})
	}
	if n := len(v.cur) + len(v.prev); n > 2*verifiedTokensPerGeneration {
		t.Fatalf("%d cached; want at most %d", n, 2*verifiedTokensPerGeneration)
	}
	var first [32]byte
	if _, ok := v.get(first); ok {
		t.Error("the oldest entry is still cached")
	}
}

// TestRotationThenNewKeyVerifies checks read-your-writes of keys through
// the service: a token signed under a key announced a moment ago
// verifies, and a token of the retired key, answered from the cache
// before, still verifies while its key does and is refused once the key
// is gone from the read model.
func TestRotationThenNewKeyVerifies(t *testing.T) {
	for _, alg := range []string{RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, alg)
			cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
			issue := func() string {
				t.Helper()
				resp, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}})
				if err != nil {
					t.Fatal(err)
				}
				return resp.AccessToken
			}
			old := issue()
			for range 2 { // the second one from the cache
				if _, _, err := h.svc.ValidateAccessToken(ctx, old); err != nil {
					t.Fatalf("token of the first key: %v", err)
				}
			}
			next, err := GenerateSigningKey(alg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			kid, retired, err := h.svc.RotateSigningKey(ctx, Actor{Kind: ActorCLI}, next)
			if err != nil || len(retired) != 1 {
				t.Fatalf("rotate: retired %v, %v; want one", retired, err)
			}
			signer, err := NewTokenSigner(next)
			if err != nil {
				t.Fatal(err)
			}
			h.svc.SetSigner(signer)
			fresh := issue()
			if _, _, err := h.svc.ValidateAccessToken(ctx, fresh); err != nil {
				t.Fatalf("token of the key %s rotated in a moment ago: %v", kid, err)
			}
			if _, _, err := h.svc.ValidateAccessToken(ctx, old); err != nil {
				t.Fatalf("token of the retired key, still verifying: %v", err)
			}
			h.log.mu.Lock()
			delete(h.log.world.Keys, retired[0])
			h.log.mu.Unlock()
			if _, _, err := h.svc.ValidateAccessToken(ctx, old); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("token of a key the read model no longer has: got %v; want invalid token", err)
			}
		})
	}
}

// BenchmarkTokenCheck compares a token's full check (JWS parse, claims
// decoding, signature) with a check answered from verifiedTokens:
// go test ./domain -run '^$' -bench TokenCheck
func BenchmarkTokenCheck(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const iss = "https://auth.example"
	for _, alg := range []string{RS256, ES256, EdDSA} {
		raw, keys := signedForTest(b, alg, iss, now)
		b.Run(alg+"/full", func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseAccessToken(raw, iss, keys, now, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cached", func(b *testing.B) {
			var v verifiedTokens
			for b.Loop() {
				if _, err := v.parse(raw, iss, keys, now, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
