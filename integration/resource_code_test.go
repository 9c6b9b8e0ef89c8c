package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/oauth2"
)

// TestResourceIndicatorsCodeFlow runs RFC 8707 through the authorization
// code flow of the real program: two resource parameters survive the login
// and the approval screen (its hidden fields), the code's exchange narrows
// them to one, the refresh token keeps both, and a resource the client
// lacks is redirected to the client as invalid_target.
func TestResourceIndicatorsCodeFlow(t *testing.T) {
	const orders, billing = "https://orders.example/api", "https://billing.example"
	e := newEnv(t)
	n := e.start()
	email, password := "ada@example.test", "correct horse battery staple"
	e.createUser(n, email, password)
	id, secret := e.newClient(n, "--name", "Ledger", "--redirect", webCallback, "--audience", orders+","+billing)
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: webCallback, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: n.HTTPURL() + "/oauth/authorize", TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	b := newBrowser(t, n)

	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)) + "&resource=" + orders + "&resource=" + billing
	p := b.login(b.get(authURL), email, password)
	wantScreen(t, p, "/oauth/authorize", "<strong>Ledger</strong>")
	approve := p.form(t, "/oauth/authorize", "")
	got := b.post(approve.action, approve.fields).redirectTo(t, http.StatusSeeOther, webCallback+"?", false)
	code := got.Get("code")
	if code == "" {
		t.Fatalf("got %v; want a code", got)
	}

	ctx := context.Background()
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", "https://admin.example")); err == nil {
		t.Fatalf("exchange widening to an unregistered resource: got a token; want invalid_target")
	} else {
		wantRetrieveError(t, "exchange widening", err, "invalid_target")
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", orders))
	if err != nil {
		t.Fatalf("exchange narrowing to one resource: %v", err)
	}
	if aud := introspect(t, n, id, secret, tok.AccessToken)["aud"]; aud != orders {
		t.Errorf("narrowed exchange: aud %v; want %s", aud, orders)
	}
	// The refresh token keeps the authorization's two resources.
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if aud := introspect(t, n, id, secret, refreshed.AccessToken)["aud"]; fmt.Sprint(aud) != fmt.Sprint([]any{billing, orders}) {
		t.Errorf("refreshed: aud %v; want both resources", aud)
	}
	if status, _ := verifyCall(t, n, http.MethodGet, "/auth/verify?audience="+billing, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("orders token at billing's /auth/verify: got %d; want 401", status)
	}

	// A resource the client lacks: the user is sent back to the client.
	state = rand.Text()
	got = b.get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))+"&resource=https://admin.example").
		redirectTo(t, http.StatusFound, webCallback+"?", false)
	if got.Get("error") != "invalid_target" || got.Get("state") != state {
		t.Errorf("unregistered resource at the authorization endpoint: got %v; want invalid_target with the state", got)
	}
}
