package domain

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// Helpers of the grant decision tables (grant_*_test.go): given a state,
// when a command, then the events decided or the error.

// decisionNow is the clock of the decision tables.
func decisionNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC) }

// testIssuer is the issuer's terms of the decision tables.
func testIssuer() issuerTerms {
	return issuerTerms{Issuer: "https://auth.example", KeyID: "k1", AccessToken: time.Hour, RefreshToken: 30 * 24 * time.Hour}
}

// testCatalogue is the scope catalogue of the decision tables: read,
// write and admin; read by default.
func testCatalogue(t *testing.T) *Scopes {
	t.Helper()
	s, err := NewScopes([]Scope{{"read", "Read your data"}, {"write", "Change your data"}, {"admin", "Everything"}}, []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventTypes returns the types of events, in order.
func eventTypes(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}

// checkOutcome compares a decision's outcome with a row's: its error (by
// errors.Is) and the types of the events it decided.
func checkOutcome(t *testing.T, d tokenDecision, err, wantErr error, want []string) {
	t.Helper()
	answer := err
	if answer == nil {
		answer = d.Answer
	}
	switch {
	case wantErr == nil && answer != nil:
		t.Fatalf("got %v; want tokens", answer)
	case wantErr != nil && !errors.Is(answer, wantErr):
		t.Fatalf("got %v; want %v", answer, wantErr)
	case wantErr != nil && d.Tokens != nil:
		t.Fatalf("got tokens with the answer %v; want none", answer)
	}
	if got := eventTypes(d.Events); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decided %v; want %v", got, want)
	}
	if err != nil && len(d.Events) > 0 {
		t.Errorf("an error with events %v: an error must decide nothing", eventTypes(d.Events))
	}
}

// failingReader is randomness that runs out.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// TestDecideTokenSet: what the issuer signs and records. The times are
// whole seconds; the aud is the resources, or the client id; the sub the
// user, or the client; a refresh family is bound to the access token's
// scopes and resources and lives the refresh lifetime.
func TestDecideTokenSet(t *testing.T) {
	c := Client{ID: "app", Audiences: []string{"https://api.example"}}
	now := decisionNow().Truncate(time.Second)
	tests := []struct {
		name        string
		terms       accessTerms
		withRefresh bool
		wantAud     Audience
		wantSub     string
	}{
		{"a client token", accessTerms{Client: c, Grant: GrantClientCredentials, Scopes: []string{"read"}, TTL: 30 * time.Minute}, false, Audience{"app"}, "app"},
		{"a user token for a resource", accessTerms{Client: c, UserID: "u1", Grant: GrantPassword, Scopes: []string{"read", "write"}, Resources: []string{"https://api.example"}, TTL: time.Hour}, true, Audience{"https://api.example"}, "u1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := decideTokenSet(testIssuer(), tt.terms, tt.withRefresh, decisionNow(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			cl, at := set.Claims, set.Access
			if cl.Issuer != "https://auth.example" || !slices.Equal(cl.Audience, tt.wantAud) || cl.Subject != tt.wantSub || cl.ClientID != "app" ||
				cl.ID != at.TokenID || cl.IssuedAt != now.Unix() || cl.NotBefore != now.Unix() || cl.Expiry != now.Add(tt.terms.TTL).Unix() ||
				cl.Scope != FormatScope(tt.terms.Scopes) {
				t.Errorf("claims: got %+v", cl)
			}
			if at.KeyID != "k1" || at.GrantType != tt.terms.Grant || at.UserID != tt.terms.UserID || !at.IssuedAt.Equal(now) ||
				!at.ExpiresAt.Equal(now.Add(tt.terms.TTL)) || !slices.Equal(at.Audience, tt.terms.Resources) {
				t.Errorf("event: got %+v", at)
			}
			r := set.Response
			if r.TokenType != "Bearer" || r.ExpiresIn != int64(tt.terms.TTL/time.Second) || r.Scope != FormatScope(tt.terms.Scopes) || r.AccessToken != "" {
				t.Errorf("response: got %+v; want the access token left to the issuer", r)
			}
			if !tt.withRefresh {
				if set.Refresh != nil || r.RefreshToken != "" || len(set.events()) != 1 {
					t.Errorf("got a refresh token; want none")
				}
				return
			}
			rc := set.Refresh
			if rc == nil || r.RefreshToken == "" || rc.TokenHash != HashSecret(r.RefreshToken) || rc.FamilyID != rc.RefreshTokenID ||
				rc.ParentID != "" || rc.AccessTokenID != at.TokenID || !slices.Equal(rc.Scopes, at.Scopes) || !slices.Equal(rc.Resources, at.Audience) ||
				!rc.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
				t.Errorf("refresh: got %+v", rc)
			}
			if got := eventTypes(set.events()); fmt.Sprint(got) != "[AccessTokenCreated RefreshTokenCreated]" {
				t.Errorf("events: got %v", got)
			}
		})
	}
	if _, err := decideTokenSet(testIssuer(), tests[0].terms, false, decisionNow(), failingReader{}); err == nil {
		t.Errorf("without randomness: got nil; want an error")
	}
}
