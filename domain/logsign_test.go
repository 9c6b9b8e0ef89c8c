package domain

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
)

func TestLogSignature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	subject, id, body := "stamp.token.t1.AccessTokenRevoked", "e1", []byte(`{"id":"e1"}`)
	sig := SignLogEvent(priv, subject, id, body)
	if !VerifyLogEvent(pub, subject, id, body, sig) {
		t.Fatal("a fresh signature does not verify")
	}
	tests := []struct {
		name                 string
		pub                  ed25519.PublicKey
		subject, id, payload string
		sig                  string
	}{
		{"other key", otherPub, subject, id, string(body), sig},
		{"other subject", pub, "stamp.token.t2.AccessTokenRevoked", id, string(body), sig},
		{"other id", pub, subject, "e2", string(body), sig},
		{"altered payload", pub, subject, id, `{"id":"e2"}`, sig},
		// Framing: moving bytes from the id into the subject changes the input.
		{"shifted framing", pub, subject + "e", "1", string(body), sig},
		{"no signature", pub, subject, id, string(body), ""},
		{"not base64", pub, subject, id, string(body), "!!"},
		{"short key", pub[:10], subject, id, string(body), sig},
	}
	for _, tt := range tests {
		if VerifyLogEvent(tt.pub, tt.subject, tt.id, []byte(tt.payload), tt.sig) {
			t.Errorf("%s: verifies; want refused", tt.name)
		}
	}
}

func TestParseLogKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		got, err := ParseLogPublicKey(enc.EncodeToString(pub) + "\n")
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParseLogPublicKey: got %v, %v; want the key", got, err)
		}
		k, err := ParseLogPrivateKey(enc.EncodeToString(priv.Seed()))
		if err != nil || !k.Equal(priv) {
			t.Errorf("ParseLogPrivateKey: got %v; want the key", err)
		}
	}
	for _, bad := range []string{"", "abc", base64.StdEncoding.EncodeToString(pub[:31]), "%%%%"} {
		if _, err := ParseLogPublicKey(bad); !errors.Is(err, ErrBadLogKey) {
			t.Errorf("ParseLogPublicKey(%q): got %v; want ErrBadLogKey", bad, err)
		}
		if _, err := ParseLogPrivateKey(bad); !errors.Is(err, ErrBadLogKey) {
			t.Errorf("ParseLogPrivateKey(%q): got %v; want ErrBadLogKey", bad, err)
		}
	}
	if id := LogKeyID(pub); len(id) != 16 || id == LogKeyID(priv.Public().(ed25519.PublicKey)[:0]) {
		t.Errorf("LogKeyID = %q; want 16 characters, distinct", id)
	}
}
