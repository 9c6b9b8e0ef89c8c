package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/domain"
)

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0].KeyID
}

// TestKeyRotationKeepsEveryClientWorking rotates the key of a running
// server from the CLI: tokens signed before keep validating, new tokens
// are signed with the new key, and the JWKS serves both.
func TestKeyRotationKeepsEveryClientWorking(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "billing")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	before, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := kidOf(t, before.AccessToken)

	code, out, errOut := e.run("keys", "rotate")
	if code != 0 {
		t.Fatalf("keys rotate: exit %d %s", code, errOut)
	}
	if !strings.Contains(out, "Retired "+oldKid) {
		t.Errorf("keys rotate printed %q; want the old kid retired", out)
	}
	var after string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if kidOf(t, tok.AccessToken) != oldKid {
			after = tok.AccessToken
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still signs with the old key 10s after the rotation")
		}
	}
	for _, tok := range []string{before.AccessToken, after} {
		if got := introspect(t, n, id, secret, tok); got["active"] != true {
			t.Errorf("token with kid %s after rotation: got %v; want active", kidOf(t, tok), got)
		}
	}
	var jwks jose.JSONWebKeySet
	getJSON(t, n.HTTPURL()+"/.well-known/jwks.json", &jwks)
	if len(jwks.Key(oldKid)) != 1 || len(jwks.Key(kidOf(t, after))) != 1 {
		t.Errorf("the JWKS has %d keys; want the retired and the current one", len(jwks.Keys))
	}
}

// TestEventsAuditAndPurge drives the history commands against a running
// server: events as JSON lines with filters, an audit as of moments
// before and after a revocation, and a purge that empties the read model
// but not the log.
func TestEventsAuditAndPurge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "billing")
	otherID, _ := e.createClient(n, "other")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ID string `json:"jti"`
	}
	parsed, _ := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA})
	parsed.UnsafeClaimsWithoutVerification(&claims)
	issued := time.Now()
	time.Sleep(1100 * time.Millisecond) // event times have second precision in --at
	beforeRevoke := time.Now()
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", id, secret, url.Values{"token": {tok.AccessToken}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}

	code, out, errOut := e.run("events", "--no-follow", "--client", id)
	if code != 0 {
		t.Fatalf("events: exit %d %s", code, errOut)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Seq   uint64
			Event domain.Envelope
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("events printed %q: %v", line, err)
		}
		if strings.Contains(line, otherID) {
			t.Errorf("--client %s printed an event of another client: %s", id, line)
		}
		types = append(types, l.Event.Type)
	}
	if want := "ClientRegistered AccessTokenCreated AccessTokenRevoked"; strings.Join(types, " ") != want {
		t.Errorf("events --client: got %v; want %s", types, want)
	}
	code, out, _ = e.run("events", "--no-follow", "--type", "AccessTokenRevoked")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, claims.ID) {
		t.Errorf("events --type AccessTokenRevoked: exit %d, %q; want one line", code, out)
	}
	if code, _, errOut := e.run("events", "--type", "Nope"); code != 2 || !strings.Contains(errOut, "unknown event type") {
		t.Errorf("events --type Nope: exit %d %q; want a usage error", code, errOut)
	}

	audit := func(at time.Time) domain.TokenAudit {
		t.Helper()
		code, out, errOut := e.run("audit", "token", claims.ID, "--at", at.UTC().Format(time.RFC3339Nano), "--json")
		if code != 0 {
			t.Fatalf("audit: exit %d %s", code, errOut)
		}
		var a domain.TokenAudit
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := audit(beforeRevoke); !a.Valid || a.Revoked != nil {
		t.Errorf("audit before the revocation: got valid=%v %v; want valid", a.Valid, a.Reasons)
	}
	if a := audit(time.Now()); a.Valid || a.Revoked == nil || a.Revoked.Actor.ID != id {
		t.Errorf("audit after the revocation: got valid=%v revoked by %+v; want revoked by the client", a.Valid, a.Revoked)
	}
	if a := audit(issued.Add(-time.Hour)); a.Valid {
		t.Errorf("audit before issue: got valid")
	}
	code, out, _ = e.run("audit", "client", id)
	if code != 0 || !strings.Contains(out, "access tokens: 1 issued by then, 0 valid then") {
		t.Errorf("audit client: exit %d, %q", code, out)
	}

	// Purge: the revoked token leaves the read model, the log keeps it.
	if code, _, errOut := e.run("purge", "--revoked", "--hours", "0"); code != 0 {
		t.Fatalf("purge: exit %d %s", code, errOut)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := n.Views().AccessToken(ctx, claims.ID); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the purged token is still in the read model")
		}
	}
	if a := audit(beforeRevoke); !a.Valid {
		t.Errorf("audit after purge: got %v; want the history intact", a.Reasons)
	}
}
