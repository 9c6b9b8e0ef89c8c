package domain

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Revocation and introspection of refresh tokens, on the refresh token
// fixture (grant_refresh_token_test.go).

func TestRevokeRefreshTokens(t *testing.T) {
	tests := []struct {
		name    string
		given   func(f *refreshFixture) []Event
		other   bool
		token   string
		hint    string
		want    []string
		revoked bool   // the family is revoked afterwards
		access  string // this access token is revoked afterwards
	}{{
		name:  "the live token revokes the family and its access token",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "with the refresh_token hint",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, hint: "refresh_token", want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "with the access_token hint: the hint only orders the look-ups",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, hint: "access_token", want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "a rotated-out token revokes the family and its live access token",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		token: rt1, want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a2",
	}, {
		name:  "another client's token: nothing done, no error",
		given: func(f *refreshFixture) []Event { return f.issued() },
		other: true, token: rt1,
	}, {
		name: "an already revoked family: nothing more",
		given: func(f *refreshFixture) []Event {
			return append(f.issued(), RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r1", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByUser})
		},
		token: rt1, revoked: true,
	}, {
		name:  "an unknown token: nothing done, no error",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: "never-issued",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRefreshFixture(t)
			f.given(t, tt.given(f)...)
			n := len(f.log.events())
			client := f.app
			if tt.other {
				client = f.other
			}
			if err := f.svc.Revoke(context.Background(), client, tt.token, tt.hint); err != nil {
				t.Fatalf("got %v; want nil (RFC 7009 §2.2)", err)
			}
			if got := f.since(n); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("appended %v; want %v", got, tt.want)
			}
			if got := f.family().Revoked; got != tt.revoked {
				t.Errorf("family revoked: got %t; want %t", got, tt.revoked)
			}
			if tt.access != "" && !f.log.world.Tokens[tt.access].Revoked {
				t.Errorf("the access token %s is live; want revoked with the family", tt.access)
			}
			if tt.revoked {
				if _, err := f.refresh(f.app, rt1, ""); !errors.Is(err, ErrInvalidGrant) {
					t.Errorf("refresh after revocation: got %v; want invalid_grant", err)
				}
			}
		})
	}
}

// TestRevokeAccessTokenWithRefreshHint: a real access token, revoked
// with the wrong hint, is found all the same; another client's is still
// refused, as RFC 7009 §2.1 says.
func TestRevokeAccessTokenWithRefreshHint(t *testing.T) {
	ctx := context.Background()
	f := newRefreshFixture(t)
	tok, err := f.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: f.app, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Revoke(ctx, f.other, tok.AccessToken, "refresh_token"); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("another client's access token: got %v; want unauthorized_client", err)
	}
	if err := f.svc.Revoke(ctx, f.app, tok.AccessToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ValidateAccessToken(ctx, tok.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("after revocation with the refresh_token hint: got %v; want revoked", err)
	}
	// The refresh token of the same response still works: revoking an
	// access token leaves its refresh token alone (RFC 7009 §2.1 "may").
	if _, err := f.refresh(f.app, tok.RefreshToken, ""); err != nil {
		t.Errorf("the refresh token after its access token was revoked: %v", err)
	}
}

func TestIntrospectRefreshTokens(t *testing.T) {
	ctx := context.Background()
	f := newRefreshFixture(t)
	f.given(t, f.issued()...)
	issuedAt := f.clock.t.UTC()

	in, err := f.svc.Introspect(ctx, f.app, rt1)
	want := Introspection{Active: true, Scope: "read write", Scopes: []string{"read", "write"}, ClientID: f.app.ID,
		TokenType: "refresh_token", Exp: issuedAt.Add(30 * 24 * time.Hour).Unix(), Iat: issuedAt.Unix(),
		Sub: f.user.ID, Iss: "https://auth.example", Jti: "r1"}
	if err != nil || fmt.Sprint(in) != fmt.Sprint(want) {
		t.Fatalf("the owner introspects its live refresh token: got %+v, %v; want %+v", in, err, want)
	}
	for _, tt := range []struct {
		name   string
		before func()
		caller ClientCredentials
		token  string
	}{
		{"another client", nil, f.other, rt1},
		{"an unknown token", nil, f.app, "never-issued"},
		{"a rotated-out token", func() { f.given(t, f.rotated()...) }, f.app, rt1},
		{"a revoked family's live token", func() {
			f.given(t, RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r2", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByClient})
		}, f.app, rt2},
	} {
		if tt.before != nil {
			tt.before()
		}
		if in, err := f.svc.Introspect(ctx, tt.caller, tt.token); err != nil || fmt.Sprint(in) != fmt.Sprint(Introspection{Active: false}) {
			t.Errorf("%s: got %+v, %v; want only active false", tt.name, in, err)
		}
	}

	// Expiry, and the user's deletion, end a live family's token too.
	g := newRefreshFixture(t)
	g.given(t, g.issued()...)
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); !in.Active {
		t.Fatalf("a live token: got inactive")
	}
	g.clock.t = g.clock.t.Add(30*24*time.Hour + time.Second)
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); in.Active {
		t.Errorf("an expired family: got active")
	}
	g.clock.t = g.clock.t.Add(-time.Hour)
	if err := g.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, g.user.ID); err != nil {
		t.Fatal(err)
	}
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); in.Active {
		t.Errorf("a deleted user's token: got active")
	}
}
