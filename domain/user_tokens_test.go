package domain

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestUserTokens(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	other := h.user(t, "bob@example.com")
	h.client(t, RegisterClient{Name: "Personal Access Client", Grants: []string{GrantPersonalAccess}})
	app, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}, UserID: u.ID})
	tok, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: ClientCredentials{ID: app.ID, Secret: secret}, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	pat, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "cli", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	if cs, _ := h.svc.ClientsOf(ctx, u.ID); len(cs) != 1 || cs[0].ID != app.ID {
		t.Errorf("ClientsOf: got %+v; want the user's one client", cs)
	}
	apps, _ := h.svc.AuthorizedTokens(ctx, u.ID)
	pats, _ := h.svc.PersonalAccessTokens(ctx, u.ID)
	if len(apps) != 1 || apps[0].Client.ID != app.ID || len(pats) != 1 || pats[0].Token.ID != pat.Token.ID {
		t.Fatalf("got apps %+v pats %+v; want one each", apps, pats)
	}
	if err := h.svc.RevokeUserToken(ctx, other.ID, pat.Token.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("someone else's token: got %v; want not found", err)
	}
	if err := h.svc.RevokeUserToken(ctx, u.ID, apps[0].Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: app.ID, Secret: secret}, Form: map[string]string{"refresh_token": tok.RefreshToken}}); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("the refresh token of a revoked token: got %v; want invalid_grant", err)
	}
	if err := h.svc.RevokeClientAuthorization(ctx, u.ID, app.ID); err != nil {
		t.Fatal(err)
	}
	if pats, _ := h.svc.PersonalAccessTokens(ctx, u.ID); len(pats) != 1 {
		t.Errorf("revoking an app touched the personal access token")
	}
}

func TestDecideRevokeUserToken(t *testing.T) {
	mine := AccessToken{ID: "t1", UserID: "u1", ClientID: "c1"}
	fams := []RefreshFamily{
		{ID: "f1", AccessTokenID: "t1"},
		{ID: "f2", AccessTokenID: "t1", Revoked: true},
		{ID: "f3", AccessTokenID: "t9"},
	}
	tests := []struct {
		name  string
		state userTokenState
		cmd   userTokenRef
		want  error
		then  revocations
	}{
		{"invalid id", userTokenState{}, userTokenRef{UserID: "u1", TokenID: "a b"}, ErrNotFound, revocations{}},
		{"someone else's token", userTokenState{Token: mine, Families: fams}, userTokenRef{UserID: "u2", TokenID: "t1"}, ErrNotFound, revocations{}},
		{"no user", userTokenState{Token: AccessToken{ID: "t1", ClientID: "c1"}}, userTokenRef{TokenID: "t1"}, ErrNotFound, revocations{}},
		{"own token and its live family", userTokenState{Token: mine, Families: fams}, userTokenRef{UserID: "u1", TokenID: "t1"}, nil,
			revocations{AccessTokens: []string{"t1"}, Families: []string{"f1"}}},
		{"own token without a family", userTokenState{Token: mine}, userTokenRef{UserID: "u1", TokenID: "t1"}, nil, revocations{AccessTokens: []string{"t1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideRevokeUserToken(tt.state, tt.cmd, decisionNow(), nil)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v; want %+v", got, tt.then)
			}
		})
	}
}

func TestDecideRevokeClientAuthorization(t *testing.T) {
	ref := clientAuthorizationRef{UserID: "u1", ClientID: "c1"}
	tokens := []AccessToken{{ID: "t1", ClientID: "c1"}, {ID: "t2", ClientID: "c1", Revoked: true}, {ID: "t3", ClientID: "c2"}, {ID: "t4", ClientID: "c1"}}
	fams := []RefreshFamily{{ID: "f1", ClientID: "c1"}, {ID: "f2", ClientID: "c2"}, {ID: "f3", ClientID: "c1", Revoked: true}}
	consent := []Event{ClientAuthorizationRevoked{UserID: "u1", ClientID: "c1"}}
	tests := []struct {
		name  string
		state clientAuthorizationState
		then  clientAuthorizationRevocation
	}{
		{"no consent, nothing held", clientAuthorizationState{}, clientAuthorizationRevocation{}},
		{"a live consent is revoked", clientAuthorizationState{Authorization: Authorization{UserID: "u1", ClientID: "c1", Seq: 3}}, clientAuthorizationRevocation{Events: consent}},
		{"a revoked consent is left alone", clientAuthorizationState{Authorization: Authorization{UserID: "u1", ClientID: "c1", Revoked: true}}, clientAuthorizationRevocation{}},
		{"the client's live tokens and families go, the others stay", clientAuthorizationState{Authorization: Authorization{UserID: "u1", ClientID: "c1"}, Tokens: tokens, Families: fams},
			clientAuthorizationRevocation{Events: consent, revocations: revocations{AccessTokens: []string{"t1", "t4"}, Families: []string{"f1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideRevokeClientAuthorization(tt.state, ref, decisionNow(), nil)
			if err != nil || !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.then)
			}
		})
	}
}
