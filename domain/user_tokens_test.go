package domain

import (
	"context"
	"errors"
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
