package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecideClientCredentials: RFC 6749 §4.4 and RFC 8707 as a table:
// given the authenticated client, when a request, then the access token
// decided (one AccessTokenCreated, no refresh token, §4.4.3) or the error.
func TestDecideClientCredentials(t *testing.T) {
	const api = "https://api.example"
	machine := Client{ID: "machine", SecretHash: "h", Grants: []string{GrantClientCredentials}, Audiences: []string{api}}
	limited := Client{ID: "limited", SecretHash: "h", Grants: []string{GrantClientCredentials}, Scopes: []string{"write"}}
	public := Client{ID: "spa", Grants: []string{GrantClientCredentials}}
	web := Client{ID: "web", SecretHash: "h", Grants: []string{GrantAuthorizationCode}}
	created := []string{"AccessTokenCreated"}
	tests := []struct {
		name      string
		client    Client
		cmd       clientCredentialsCommand
		wantErr   error
		want      []string
		wantScope string
		wantAud   string
	}{
		{"§4.4.2: the default scopes", machine, clientCredentialsCommand{}, nil, created, "read", "machine"},
		{"§3.3: requested scopes", machine, clientCredentialsCommand{Scope: "write read"}, nil, created, "read write", "machine"},
		{"the wildcard, as Passport", machine, clientCredentialsCommand{Scope: "*"}, nil, created, "*", "machine"},
		{"§3.3: an unknown scope", machine, clientCredentialsCommand{Scope: "root"}, ErrInvalidScope, nil, "", ""},
		{"§3.3: a scope outside the client's", limited, clientCredentialsCommand{Scope: "read"}, ErrInvalidScope, nil, "", ""},
		{"the client's own scope", limited, clientCredentialsCommand{Scope: "write"}, nil, created, "write", "limited"},
		{"§4.4: a public client", public, clientCredentialsCommand{}, ErrUnauthorizedClient, nil, "", ""},
		{"§5.2: a client without the grant", web, clientCredentialsCommand{}, ErrUnauthorizedClient, nil, "", ""},
		{"RFC 8707 §2: a registered resource is the aud", machine, clientCredentialsCommand{Resource: api}, nil, created, "read", api},
		{"RFC 8707 §2: an unregistered resource", machine, clientCredentialsCommand{Resource: "https://other.example"}, ErrInvalidTarget, nil, "", ""},
		{"RFC 8707 §2: a resource with a fragment", machine, clientCredentialsCommand{Resource: api + "#x"}, ErrInvalidTarget, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := clientCredentialsState{Client: tt.client, Scopes: testCatalogue(t), Issuer: testIssuer(), Lifetime: 30 * time.Minute}
			d, err := decideClientCredentials(st, tt.cmd, decisionNow(), rand.Reader)
			checkOutcome(t, d, err, tt.wantErr, tt.want)
			if err != nil {
				return
			}
			set := d.Tokens
			if set == nil || set.Response.Scope != tt.wantScope || set.Response.ExpiresIn != 1800 || set.Refresh != nil ||
				set.Claims.Subject != tt.client.ID || len(set.Claims.Audience) != 1 || set.Claims.Audience[0] != tt.wantAud {
				t.Errorf("got %+v; want a 1800s token of %q for %s, no refresh token", set, tt.wantScope, tt.wantAud)
			}
			if d.Expect != ExpectAny || d.Actor != (Actor{Kind: ActorClient, ID: tt.client.ID}) {
				t.Errorf("recorded with %+v as %+v; want any, as the client", d.Expect, d.Actor)
			}
		})
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	cc, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	limited, limitedSecret := h.client(t, RegisterClient{Name: "limited", Grants: []string{GrantClientCredentials}, Scopes: []string{"write"}})
	public, _ := h.client(t, RegisterClient{Name: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}, Public: true})
	other, otherSecret := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}})
	deleted, deletedSecret := h.client(t, RegisterClient{Name: "gone", Grants: []string{GrantClientCredentials}})
	if err := h.svc.DeleteClient(ctx, Actor{Kind: ActorCLI}, deleted.ID, ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		req       TokenRequest
		wantErr   error
		wantScope string
	}{
		{"default scopes", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}}, nil, "read"},
		{"requested scopes", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}, Scope: "write read"}, nil, "read write"},
		{"wildcard", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}, Scope: "*"}, nil, "*"},
		{"unknown scope", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret}, Scope: "root"}, ErrInvalidScope, ""},
		{"scope outside the client's", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: limited.ID, Secret: limitedSecret}, Scope: "read"}, ErrInvalidScope, ""},
		{"client's own scope", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: limited.ID, Secret: limitedSecret}, Scope: "write"}, nil, "write"},
		{"wrong secret", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID, Secret: secret + "x"}}, ErrInvalidClient, ""},
		{"no secret", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: cc.ID}}, ErrInvalidClient, ""},
		{"unknown client", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: "nobody", Secret: secret}}, ErrInvalidClient, ""},
		{"bad client id", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: "a.b>", Secret: secret}}, ErrInvalidClient, ""},
		{"deleted client", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: deleted.ID, Secret: deletedSecret}}, ErrInvalidClient, ""},
		{"public client", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: public.ID}}, ErrUnauthorizedClient, ""},
		{"grant not allowed", TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: other.ID, Secret: otherSecret}}, ErrUnauthorizedClient, ""},
		{"no grant type", TokenRequest{Client: ClientCredentials{ID: cc.ID, Secret: secret}}, ErrInvalidRequest, ""},
		{"unknown grant type", TokenRequest{GrantType: "magic", Client: ClientCredentials{ID: cc.ID, Secret: secret}}, ErrUnsupportedGrantType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.log.events())
			resp, err := h.svc.Token(ctx, tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v; want %v", err, tt.wantErr)
				}
				if n := len(h.log.events()); n != before {
					t.Errorf("a refused request appended %d events", n-before)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want a token", err)
			}
			if resp.TokenType != "Bearer" || resp.ExpiresIn != 1800 || resp.RefreshToken != "" || resp.Scope != tt.wantScope {
				t.Errorf("got %+v; want a Bearer token for 1800s with scope %q and no refresh token", resp, tt.wantScope)
			}
			tok, claims, err := h.svc.ValidateAccessToken(ctx, resp.AccessToken)
			if err != nil {
				t.Fatalf("the issued token does not validate: %v", err)
			}
			if claims.Subject != tt.req.Client.ID || !slices.Equal(claims.Audience, Audience{tt.req.Client.ID}) || claims.ClientID != tt.req.Client.ID || tok.ID != claims.ID {
				t.Errorf("got claims %+v; want sub, aud and client_id = %s", claims, tt.req.Client.ID)
			}
			if claims.Scope != tt.wantScope || strings.Join(claims.Scopes, " ") != tt.wantScope {
				t.Errorf("got scope %q scopes %v; want %q", claims.Scope, claims.Scopes, tt.wantScope)
			}
			evs := h.log.events()
			created, ok := evs[len(evs)-1].(AccessTokenCreated)
			if !ok || created.TokenID != claims.ID || !created.ExpiresAt.Equal(h.clock.t.Add(30*time.Minute)) {
				t.Errorf("got last event %#v; want AccessTokenCreated for %s", evs[len(evs)-1], claims.ID)
			}
		})
	}
}
