package domain

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenSignAndParse(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, alg := range []string{RS256, ES256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			key, err := GenerateSigningKey(alg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := NewTokenSigner(key)
			if err != nil {
				t.Fatal(err)
			}
			kid, gotAlg, jwk, err := PublicJWK(key)
			if err != nil || gotAlg != alg || kid != signer.KeyID() {
				t.Fatalf("PublicJWK: got %s %s %v; want alg %s kid %s", kid, gotAlg, err, alg, signer.KeyID())
			}
			pub, err := ParsePublicJWK(jwk)
			if err != nil {
				t.Fatal(err)
			}
			keys := func(k string) (any, string, bool) { return pub.Key, alg, k == kid }
			c := Claims{Issuer: "https://a.example", Audience: Audience{"c1"}, Subject: "c1", ClientID: "c1", ID: "j1",
				IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Scopes: []string{"read"}, Scope: "read"}
			raw, err := signer.Sign(c)
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, raw, 0)
			if header["typ"] != "at+jwt" || header["kid"] != kid || header["alg"] != alg {
				t.Errorf("got header %v; want typ at+jwt, kid %s, alg %s", header, kid, alg)
			}
			got, err := ParseAccessToken(raw, "https://a.example", keys, now, 0)
			if err != nil || got.ID != "j1" || got.Scope != "read" {
				t.Fatalf("got %+v, %v; want the claims back", got, err)
			}

			bad := []struct {
				name string
				raw  string
				iss  string
				at   time.Time
				keys KeyLookup
			}{
				{"expired", raw, "https://a.example", now.Add(time.Hour), keys},
				{"not yet valid", raw, "https://a.example", now.Add(-time.Minute), keys},
				{"other issuer", raw, "https://b.example", now, keys},
				{"unknown kid", raw, "https://a.example", now, func(string) (any, string, bool) { return nil, "", false }},
				{"alg mismatch", raw, "https://a.example", now, func(string) (any, string, bool) { return pub.Key, "HS256", true }},
				{"tampered", tamper(raw), "https://a.example", now, keys},
				{"garbage", "a.b.c", "https://a.example", now, keys},
			}
			for _, b := range bad {
				if _, err := ParseAccessToken(b.raw, b.iss, b.keys, b.at, 0); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("%s: got %v; want ErrInvalidToken", b.name, err)
				}
			}
			if _, err := ParseAccessToken(raw, "https://a.example", keys, now.Add(time.Hour), 5*time.Second); err != nil {
				t.Errorf("within leeway: got %v; want valid", err)
			}
		})
	}
}

func decodeSegment(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// tamper changes the payload's scope while keeping the signature.
func tamper(raw string) string {
	parts := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), `"scope":"read"`, `"scope":"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		key, _ := GenerateSigningKey(alg, rand.Reader)
		pem, err := EncodePrivateKeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePrivateKeyPEM(pem)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		k1, _ := KeyID(key.Public())
		k2, _ := KeyID(back.Public())
		if k1 != k2 {
			t.Errorf("%s: got kid %s after the round trip; want %s", alg, k2, k1)
		}
	}
	if _, err := ParsePrivateKeyPEM([]byte("not a pem")); err == nil {
		t.Errorf("garbage: got nil; want an error")
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret(rand.Reader)
	if err != nil || len(s) != 43 {
		t.Fatalf("got %q, %v; want 43 characters (256 bits)", s, err)
	}
	h := HashSecret(s)
	if !SecretMatches(s, h) || SecretMatches(s+"x", h) || SecretMatches("", h) || SecretMatches(s, "") {
		t.Errorf("SecretMatches disagrees with HashSecret")
	}
	id, _ := NewID(rand.Reader)
	if !ValidID(id) || len(id) != 36 || id[14] != '4' {
		t.Errorf("got id %q; want a version 4 UUID", id)
	}
}
