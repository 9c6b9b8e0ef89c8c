package domain

import (
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestDecideDevToken: a dev token request as a table: given its client
// and user, when asked, then the token decided or the error.
func TestDecideDevToken(t *testing.T) {
	const api = "https://api.example"
	dev := Client{ID: "dev", SecretHash: "h", Grants: []string{GrantClientCredentials}}
	limited := Client{ID: "lim", SecretHash: "h", Grants: []string{GrantClientCredentials}, Scopes: []string{"write"}}
	tests := []struct {
		name      string
		client    Client
		user      string
		req       DevTokenRequest
		wantErr   error
		wantTTL   time.Duration
		wantAud   []string
		wantSub   string
		wantScope string
	}{
		{"the defaults: a client token for the access token lifetime", dev, "", DevTokenRequest{}, nil, time.Hour, []string{"dev"}, "dev", "read"},
		{"a user token for an audience, twice named", dev, "u1", DevTokenRequest{Audience: []string{api, api}, Scopes: []string{"*"}, TTL: time.Minute}, nil, time.Minute, []string{api}, "u1", "*"},
		{"the longest lifetime", dev, "", DevTokenRequest{TTL: MaxDevTokenLifetime}, nil, MaxDevTokenLifetime, []string{"dev"}, "dev", "read"},
		{"a lifetime under a second", dev, "", DevTokenRequest{TTL: time.Millisecond}, ErrInvalidRequest, 0, nil, "", ""},
		{"a lifetime over the longest", dev, "", DevTokenRequest{TTL: MaxDevTokenLifetime + time.Second}, ErrInvalidRequest, 0, nil, "", ""},
		{"an audience with a fragment", dev, "", DevTokenRequest{Audience: []string{api + "#f"}}, ErrInvalidRequest, 0, nil, "", ""},
		{"a scope outside the client's", limited, "", DevTokenRequest{Scopes: []string{"read"}}, ErrInvalidScope, 0, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := checkDevTokenRequest(tt.req, time.Hour)
			var d tokenDecision
			if err == nil {
				d, err = decideDevToken(devTokenState{Client: tt.client, UserID: tt.user, Scopes: testCatalogue(t), Issuer: testIssuer()}, cmd, decisionNow(), rand.Reader)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(d.Events) > 0 {
					t.Fatalf("got %v, %v; want %v and nothing decided", err, eventTypes(d.Events), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			at := d.Tokens.Access
			if at.GrantType != GrantDev || at.ExpiresAt.Sub(at.IssuedAt) != tt.wantTTL || !slices.Equal(d.Tokens.Claims.Audience, tt.wantAud) ||
				d.Tokens.Claims.Subject != tt.wantSub || d.Tokens.Response.Scope != tt.wantScope || d.Tokens.Refresh != nil || len(d.Events) != 1 {
				t.Errorf("got %+v, %+v; want a %s dev token of %q for %v, sub %s", at, d.Tokens.Claims, tt.wantTTL, tt.wantScope, tt.wantAud, tt.wantSub)
			}
		})
	}
}
