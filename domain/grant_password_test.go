package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// TestDecidePassword: RFC 6749 §4.3 as a table: given the authenticated
// client and the outcome of the user's credential check, when a request,
// then the tokens decided (an access token and a new refresh family,
// recorded as the user) or the error. The request is checked before the
// credentials are, so a malformed one costs no hash and counts no failure.
func TestDecidePassword(t *testing.T) {
	const api = "https://api.example"
	app := Client{ID: "app", SecretHash: "h", Grants: []string{GrantPassword, GrantRefreshToken}, Audiences: []string{api}}
	web := Client{ID: "web", SecretHash: "h", Grants: []string{GrantAuthorizationCode}}
	ada := User{ID: "u1", Email: "ada@example.com"}
	limited := &RetryError{Err: ErrRateLimited, After: time.Minute}
	busy := &RetryError{Err: ErrTemporarilyUnavailable, After: time.Second}
	ok := passwordCommand{Username: "ada@example.com", Password: "correct horse"}
	withScope := func(cmd passwordCommand, scope, resource string) passwordCommand {
		cmd.Scope, cmd.Resource = scope, resource
		return cmd
	}
	tokens := []string{"AccessTokenCreated", "RefreshTokenCreated"}
	tests := []struct {
		name      string
		client    Client
		cmd       passwordCommand
		userErr   error // the credential check's outcome; nil: ada
		wantErr   error
		want      []string
		wantScope string
	}{
		{"§4.3.2: right credentials", app, ok, nil, nil, tokens, "read"},
		{"§3.3: requested scopes", app, withScope(ok, "read write", ""), nil, nil, tokens, "read write"},
		{"the wildcard, as Passport", app, withScope(ok, "*", ""), nil, nil, tokens, "*"},
		{"§5.2: wrong credentials are invalid_grant", app, ok, ErrAccessDenied.WithDescription("the email or password is wrong"), ErrInvalidGrant, nil, ""},
		{"a locked-out account or address stays rate limited", app, ok, limited, ErrRateLimited, nil, ""},
		{"no free hashing slot stays temporarily unavailable", app, ok, busy, ErrTemporarilyUnavailable, nil, ""},
		{"§5.2: a client without the grant", web, ok, nil, ErrUnauthorizedClient, nil, ""},
		{"§4.3.2: no username", app, passwordCommand{Password: "correct horse"}, nil, ErrInvalidRequest, nil, ""},
		{"§4.3.2: no password", app, passwordCommand{Username: "ada@example.com"}, nil, ErrInvalidRequest, nil, ""},
		{"§3.3: an unknown scope", app, withScope(ok, "root", ""), nil, ErrInvalidScope, nil, ""},
		{"RFC 8707: an unregistered resource", app, withScope(ok, "", "https://other.example"), nil, ErrInvalidTarget, nil, ""},
		{"RFC 8707: a registered resource", app, withScope(ok, "", api), nil, nil, tokens, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := passwordState{Client: tt.client, Scopes: testCatalogue(t), Issuer: testIssuer()}
			terms, err := decidePasswordRequest(st, tt.cmd)
			var d tokenDecision
			if err == nil {
				st.User, st.UserErr = ada, tt.userErr
				d, err = decidePassword(st, terms, decisionNow(), rand.Reader)
			} else if tt.userErr != nil {
				t.Fatalf("refused before the credentials with %v; the row expects them checked", err)
			}
			checkOutcome(t, d, err, tt.wantErr, tt.want)
			if err != nil {
				return
			}
			if d.Tokens.Response.Scope != tt.wantScope || d.Tokens.Claims.Subject != ada.ID || d.Tokens.Response.RefreshToken == "" {
				t.Errorf("got %+v; want tokens of %q for the user with a refresh token", d.Tokens.Response, tt.wantScope)
			}
			if d.Actor != (Actor{Kind: ActorUser, ID: ada.ID}) || d.Expect != ExpectAny {
				t.Errorf("recorded as %+v with %+v; want the user, any", d.Actor, d.Expect)
			}
		})
	}
	if err := passwordEnabled(Grants{}); !errors.Is(err, ErrUnsupportedGrantType) {
		t.Errorf("the password grant off: got %v; want unsupported_grant_type", err)
	}
	if err := passwordEnabled(Grants{Password: true}); err != nil {
		t.Errorf("the password grant on: got %v", err)
	}
}

// TestPasswordGrantChecksTheRequestBeforeTheCredentials: a malformed
// request is refused before the user's password is checked, so it counts
// no failure toward a lockout.
func TestPasswordGrantChecksTheRequestBeforeTheCredentials(t *testing.T) {
	ctx := context.Background()
	h := limitedHarness(t, nil)
	h.user(t, "ada@example.com")
	c, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	req := TokenRequest{GrantType: GrantPassword, Client: ClientCredentials{ID: c.ID, Secret: secret}, Scope: "root", Remote: "192.0.2.7",
		Form: map[string]string{"username": "ada@example.com", "password": "wrong horse"}}
	for range 10 {
		if _, err := h.svc.Token(ctx, req); !errors.Is(err, ErrInvalidScope) {
			t.Fatalf("got %v; want invalid_scope", err)
		}
	}
	req.Scope, req.Form["password"] = "", "correct horse"
	if _, err := h.svc.Token(ctx, req); err != nil {
		t.Errorf("the right password after malformed requests: got %v; want tokens", err)
	}
}

func TestPasswordAndRefreshGrants(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	pw := func(user, pass, scope string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Scope: scope, Form: map[string]string{"username": user, "password": pass}})
	}
	if _, err := pw("ada@example.com", "wrong horse", ""); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("wrong password: got %v; want invalid_grant", err)
	}
	first, err := pw("ada@example.com", "correct horse", "read write")
	if err != nil || first.RefreshToken == "" || first.Scope != "read write" {
		t.Fatalf("password grant: got %+v, %v", first, err)
	}
	if _, claims, _ := h.svc.ValidateAccessToken(ctx, first.AccessToken); claims.Subject != u.ID {
		t.Errorf("got sub %q; want the user %s", claims.Subject, u.ID)
	}
	refresh := func(rt, scope string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Scope: scope, Form: map[string]string{"refresh_token": rt}})
	}
	if _, err := refresh(first.RefreshToken, "read admin"); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("broader scope: got %v; want invalid_scope", err)
	}
	second, err := refresh(first.RefreshToken, "read")
	if err != nil || second.Scope != "read" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: got %+v, %v; want new tokens narrowed to read", second, err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, first.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the old access token after rotation: got %v; want revoked", err)
	}
	third, err := refresh(second.RefreshToken, "")
	if err != nil || third.Scope != "read write" {
		t.Fatalf("refresh without scope: got %+v, %v; want the family's full scopes", third, err)
	}
	// A rotated-out token presented after its rotation was committed is
	// reuse, however soon: the whole family goes.
	if _, err := refresh(first.RefreshToken, ""); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("reuse: got %v; want invalid_grant", err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, third.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the live access token after reuse: got %v; want revoked", err)
	}
	if _, err := refresh(third.RefreshToken, ""); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("the live refresh token after reuse: got %v; want invalid_grant", err)
	}
	var sawReuse bool
	for _, e := range h.log.events() {
		if _, ok := e.(RefreshTokenReuseDetected); ok {
			sawReuse = true
		}
	}
	if !sawReuse {
		t.Errorf("no RefreshTokenReuseDetected in the log")
	}
	h.svc.cfg.Password = false
	if _, err := pw("ada@example.com", "correct horse", ""); !errors.Is(err, ErrUnsupportedGrantType) {
		t.Errorf("password grant disabled: got %v; want unsupported_grant_type", err)
	}
}
