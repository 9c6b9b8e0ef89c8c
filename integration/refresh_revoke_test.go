package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// refreshRun is a node with the password grant on, a user, the password
// client "App" that holds the tokens and a confidential client "Other".
type refreshRun struct {
	n           *app.Node
	conf        *oauth2.Config
	other       [2]string // id, secret
	user, email string
	password    string
}

func newRefreshRun(t *testing.T, extra ...string) *refreshRun {
	t.Helper()
	e := newEnv(t, append([]string{"STAMP_PASSWORD_GRANT", "true"}, extra...)...)
	n := e.start()
	r := &refreshRun{n: n, email: "ada@example.test", password: "correct horse battery staple"}
	r.user = e.createUser(n, r.email, r.password)
	id, secret := e.newClient(n, "--password", "--name", "App")
	r.conf = &oauth2.Config{ClientID: id, ClientSecret: secret, Scopes: []string{"read", "write"},
		Endpoint: oauth2.Endpoint{TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	r.other[0], r.other[1] = e.createClient(n, "Other")
	return r
}

// tokens gets a fresh access and refresh token through x/oauth2.
func (r *refreshRun) tokens(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := r.conf.PasswordCredentialsToken(context.Background(), r.email, r.password)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("password grant: got %+v, %v; want tokens with a refresh token", tok, err)
	}
	return tok
}

// refreshWith refreshes through x/oauth2 (it refreshes a token it holds
// expired) and returns the new tokens or the error.
func (r *refreshRun) refreshWith(refreshToken string) (*oauth2.Token, error) {
	old := &oauth2.Token{AccessToken: "expired", RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Minute)}
	return r.conf.TokenSource(context.Background(), old).Token()
}

func (r *refreshRun) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	return introspect(t, r.n, r.conf.ClientID, r.conf.ClientSecret, token)
}

func (r *refreshRun) active(t *testing.T, token string) bool {
	t.Helper()
	return r.introspect(t, token)["active"] == true
}

// revoke posts to /oauth/revoke as client and wants RFC 7009's 200.
func (r *refreshRun) revoke(t *testing.T, client [2]string, token, hint string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if status, _, body := postForm(t, r.n.HTTPURL()+"/oauth/revoke", client[0], client[1], form); status != http.StatusOK {
		t.Fatalf("revoke: got %d %s; want 200", status, body)
	}
}

func (r *refreshRun) owner() [2]string { return [2]string{r.conf.ClientID, r.conf.ClientSecret} }

func wantInvalidGrant(t *testing.T, what string, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("%s: got %v; want invalid_grant", what, err)
	}
}

// TestRefreshTokenRevocationAndIntrospection drives RFC 7009 and RFC 7662
// for refresh tokens over real HTTP: introspection answers a live refresh
// token for its client only; another client's revocation is 200 and does
// nothing; the owner's revocation makes the refresh token and its access
// token inactive at once and the refresh token refuse to refresh; the
// hint only orders the look-ups; a "*" family narrows only to catalogue
// scopes; a rotated-out token presented after its rotation returned
// revokes the family.
func TestRefreshTokenRevocationAndIntrospection(t *testing.T) {
	r := newRefreshRun(t)
	tok := r.tokens(t)

	in := r.introspect(t, tok.RefreshToken)
	iat, _ := in["iat"].(float64)
	exp, _ := in["exp"].(float64)
	if in["active"] != true || in["token_type"] != "refresh_token" || in["client_id"] != r.conf.ClientID ||
		in["sub"] != r.user || in["scope"] != "read write" || iat <= 0 || exp-iat < 24*3600 {
		t.Errorf("the owner introspects its refresh token: got %v; want active refresh_token of %s for %s, read write, iat and a later exp", in, r.conf.ClientID, r.user)
	}
	other := introspect(t, r.n, r.other[0], r.other[1], tok.RefreshToken)
	if b, _ := json.Marshal(other); string(b) != `{"active":false}` {
		t.Errorf("another client introspects it: got %s; want only {\"active\":false}", b)
	}

	r.revoke(t, r.other, tok.RefreshToken, "refresh_token")
	if !r.active(t, tok.RefreshToken) || !r.active(t, tok.AccessToken) {
		t.Fatal("another client's revocation revoked the tokens; want nothing done")
	}

	r.revoke(t, r.owner(), tok.RefreshToken, "")
	if r.active(t, tok.RefreshToken) {
		t.Error("the refresh token is active right after its revocation")
	}
	if r.active(t, tok.AccessToken) {
		t.Error("the access token of a revoked refresh token is active right after the revocation")
	}
	_, err := r.refreshWith(tok.RefreshToken)
	wantInvalidGrant(t, "refresh with a revoked refresh token", err)

	// The hint only orders the look-ups.
	tok = r.tokens(t)
	r.revoke(t, r.owner(), tok.RefreshToken, "access_token")
	if r.active(t, tok.RefreshToken) || r.active(t, tok.AccessToken) {
		t.Error("a refresh token revoked with token_type_hint=access_token: its tokens are still active")
	}
	tok = r.tokens(t)
	r.revoke(t, r.owner(), tok.AccessToken, "refresh_token")
	if r.active(t, tok.AccessToken) {
		t.Error("an access token revoked with token_type_hint=refresh_token is still active")
	}
	if !r.active(t, tok.RefreshToken) {
		t.Error("revoking an access token revoked its refresh token too; want it left alone")
	}

	// A "*" family narrows to scopes of the catalogue only.
	star := *r.conf
	star.Scopes = []string{"*"}
	wild, err := star.PasswordCredentialsToken(context.Background(), r.email, r.password)
	if err != nil || wild.Extra("scope") != "*" {
		t.Fatalf("password grant for *: got %v, %v; want scope *", wild, err)
	}
	tokenURL := r.conf.Endpoint.TokenURL
	a := mustToken(t, tokenURL, r.conf.ClientID, r.conf.ClientSecret, refreshForm(wild.RefreshToken, "read root"))
	wantTokenError(t, "a * refresh token asking for a scope outside the catalogue", a, "invalid_scope")
	if a = mustToken(t, tokenURL, r.conf.ClientID, r.conf.ClientSecret, refreshForm(wild.RefreshToken, "write")); a.status != http.StatusOK || a.Scope != "write" {
		t.Errorf("a * refresh token asking for write: got %d %q, scope %q; want 200 with write", a.status, a.Error, a.Scope)
	}

	// Reuse: the rotation has returned, so it is committed; presenting the
	// rotated-out token now is reuse, with no grace by default.
	rotated, err := r.refreshWith(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.refreshWith(tok.RefreshToken)
	wantInvalidGrant(t, "a rotated-out refresh token", err)
	if r.active(t, rotated.AccessToken) || r.active(t, rotated.RefreshToken) {
		t.Error("the family's live tokens survived the reuse of a rotated-out token")
	}
	if n := len(countByAggregate(t, r.n, "RefreshTokenReuseDetected")); n != 1 {
		t.Errorf("got %d families with RefreshTokenReuseDetected; want 1", n)
	}
}

// TestRefreshRotationGrace: with STAMP_REFRESH_ROTATION_GRACE=1m, a
// rotated-out token presented again right away is refused without
// revoking: the family's live tokens work on, 16-way races always keep
// the family, and nothing is recorded as reuse.
func TestRefreshRotationGrace(t *testing.T) {
	r := newRefreshRun(t, "STAMP_REFRESH_ROTATION_GRACE", "1m")
	tok := r.tokens(t)
	rotated, err := r.refreshWith(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.refreshWith(tok.RefreshToken)
	wantInvalidGrant(t, "a rotated-out token within the grace", err)
	if !r.active(t, rotated.AccessToken) || !r.active(t, rotated.RefreshToken) {
		t.Error("a rotated-out token within the grace revoked the family's live tokens")
	}
	live, err := r.refreshWith(rotated.RefreshToken)
	if err != nil {
		t.Fatalf("the family's live refresh token after a rotated-out one within the grace: %v", err)
	}

	// Under the grace a race has one outcome however late a loser comes:
	// exactly one winner, the others invalid_grant, the family kept.
	rt := live.RefreshToken
	for round := range 10 {
		w := oneWinner(t, fmt.Sprintf("round %d", round), race(t, r.conf.Endpoint.TokenURL, r.conf.ClientID, r.conf.ClientSecret, refreshForm(rt, ""), 16))
		if !r.active(t, w.AccessToken) || !r.active(t, w.RefreshToken) {
			t.Fatalf("round %d: the winner's tokens are not active", round)
		}
		rt = w.RefreshToken
	}
	if n := len(countByAggregate(t, r.n, "RefreshTokenReuseDetected")); n != 0 {
		t.Errorf("got %d families with RefreshTokenReuseDetected; want none within the grace", n)
	}
}
