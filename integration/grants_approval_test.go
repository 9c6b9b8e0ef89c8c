package integration

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// approvalSingleUse: the approval form posted twice (a double click, a
// replayed POST) mints one code: the second post is a 400 page with no
// redirect and no second AuthCodeIssued in the log, and the first code
// still exchanges.
func (g *grantRun) approvalSingleUse(t *testing.T) {
	b := g.browser.with(t)
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	p := b.get(g.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	wantScreen(t, p, "/oauth/authorize", "<strong>Ledger</strong>")
	approve := p.form(t, "/oauth/authorize", "")
	got := b.post(approve.action, approve.fields).redirectTo(t, http.StatusSeeOther, webCallback+"?", false)
	code := got.Get("code")
	g.keep(code)
	if code == "" || got.Get("state") != state {
		t.Fatalf("first post: got %v; want a code and state %q", got, state)
	}
	codes := len(countByAggregate(t, g.n, "AuthCodeIssued"))

	again := b.post(approve.action, approve.fields)
	if again.status != http.StatusBadRequest || again.header.Get("Location") != "" || !strings.Contains(again.body, "already answered") {
		t.Errorf("the same form again: got %d, Location %q (%.200q); want a 400 page and no redirect", again.status, again.header.Get("Location"), again.body)
	}
	if n := len(countByAggregate(t, g.n, "AuthCodeIssued")); n != codes {
		t.Errorf("the same form again: %d codes in the log, %d before; want no new one", n, codes)
	}

	tok, err := g.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the first post's code: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
}

// codeExchangeRedirectURI: the authorization request carried redirect_uri
// (x/oauth2 sends RedirectURL), so the exchange must too (RFC 6749
// §4.1.3): left out it is invalid_request, another one invalid_grant,
// and neither spends the code.
func (g *grantRun) codeExchangeRedirectURI(t *testing.T) {
	code, verifier := g.codeWithoutScreen(t, g.conf)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	a := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, form)
	wantTokenError(t, "the exchange without redirect_uri", a, "invalid_request")
	if !strings.Contains(a.Description, "redirect_uri") {
		t.Errorf("got description %q; want it to name redirect_uri", a.Description)
	}
	form.Set("redirect_uri", "https://app.example.test/other")
	a = mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, form)
	wantTokenError(t, "the exchange with another redirect_uri", a, "invalid_grant")

	tok, err := g.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the exchange with the same redirect_uri: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
}
