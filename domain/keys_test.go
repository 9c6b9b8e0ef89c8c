package domain

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"reflect"
	"testing"
	"time"
)

func TestDecideAnnounceSigningKey(t *testing.T) {
	key, err := GenerateSigningKey(ES256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, err := decideAnnounceSigningKey(noState{}, key, decisionNow(), rand.Reader)
	kid, _ := KeyID(key.Public())
	if err != nil || e.KeyID != kid || e.Algorithm != ES256 || !e.CreatedAt.Equal(decisionNow()) || len(e.PublicKey) == 0 {
		t.Errorf("got %+v, %v; want the key's thumbprint, ES256, now and its public JWK", e, err)
	}
	again, _ := decideAnnounceSigningKey(noState{}, key, decisionNow().Add(time.Hour), rand.Reader)
	if again.KeyID != e.KeyID {
		t.Errorf("the same key announced again got kid %q; want %q", again.KeyID, e.KeyID)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := decideAnnounceSigningKey(noState{}, p384, decisionNow(), rand.Reader); !errorMatches(err, ErrUnsupportedKey) {
		t.Errorf("a P-384 key: got %v; want ErrUnsupportedKey", err)
	}
}

func TestDecideRotateSigningKey(t *testing.T) {
	now := decisionNow()
	until := now.Add(time.Hour + retireMargin)
	keys := []SigningKey{
		{ID: "old", Seq: 1},
		{ID: "gone", Retired: true, Seq: 2},
		{ID: "next", Seq: 3},
		{ID: "other", Seq: 4},
	}
	tests := []struct {
		name  string
		state []SigningKey
		then  []keyRetirement
	}{
		{"only the next key: nothing to retire", keys[2:3], nil},
		{"every other live key retires until its tokens expire", keys, []keyRetirement{
			{Seq: 1, Event: SigningKeyRetired{KeyID: "old", RetiredAt: now, VerifyUntil: until}},
			{Seq: 4, Event: SigningKeyRetired{KeyID: "other", RetiredAt: now, VerifyUntil: until}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideRotateSigningKey(tt.state, keyRotation{Next: "next", MaxTokenLifetime: time.Hour}, now, rand.Reader)
			if err != nil || !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.then)
			}
		})
	}
}
