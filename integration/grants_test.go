package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

const (
	issuer = "http://stamp.test" // newEnv's STAMP_ISSUER
	// webCallback is the confidential web app's redirect URI. Nothing
	// listens there: the browser stops at the redirect and the test reads
	// the code from it, as the app's server would.
	webCallback = "https://app.example.test/callback"
	// widgetCallback is the implicit client's redirect URI.
	widgetCallback = "https://widget.example.test/cb"
)

// grantRun is what TestGrantsEndToEnd's steps share: one node, one user
// logged in through a browser, the clients, and every secret met on the
// way, which the stream must never contain.
type grantRun struct {
	e               *env
	n               *app.Node
	email, password string
	browser         *browser       // logged in as the user after AuthorizationCode
	conf            *oauth2.Config // the confidential web app
	pub             *oauth2.Config // the public native app on a loopback redirect
	tok             *oauth2.Token  // the web app's first tokens
	pubTok          *oauth2.Token  // the native app's tokens (scope read)
	reuse           reuseCheck     // set by Refresh, checked by RefreshReuse
	personalClient  string         // the personal access client install created
	userToken       string         // a live access token of the user, from Password
	secrets         []string
}

// reuseCheck is a rotated-out refresh token and the live tokens of its
// family then.
type reuseCheck struct {
	rotated string
	live    tokenAnswer
}

// TestGrantsEndToEnd drives every grant of the real program over real
// HTTP with golang.org/x/oauth2 and a browser without JavaScript, then
// reads the whole stream and the log (the access log included) for any of
// the secrets it met. The steps share state (the user's login, the
// clients) and run in order; the first that fails stops the rest.
func TestGrantsEndToEnd(t *testing.T) {
	e := newEnv(t, "STAMP_PASSWORD_GRANT", "true", "STAMP_IMPLICIT_GRANT", "true")
	n, log := e.startAccessLogged()
	g := &grantRun{e: e, n: n, email: "ada@example.test", password: "correct horse battery staple"}
	g.keep(g.password)
	e.createUser(n, g.email, g.password)

	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"AuthorizationCode", g.authorizationCode},
		{"ConsentIsDurableAndCodesSingleUse", g.codeReuse},
		{"ApprovalsSingleUse", g.approvalSingleUse},
		{"CodeExchangeRedirectURI", g.codeExchangeRedirectURI},
		{"DenyAndRefusals", g.denyAndRefusals},
		{"LoopbackPublicClient", g.loopbackPublicClient},
		{"CodeRace", g.codeRace},
		{"Refresh", g.refresh},
		{"RefreshRace", g.refreshRace},
		{"Device", g.device},
		{"RefreshReuse", g.refreshReuse},
		{"Password", g.passwordGrant},
		{"Implicit", g.implicit},
		{"PersonalAccess", g.personalAccess},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}

	if read := assertNoSecretInStream(t, n, g.secrets...); read < 50 {
		t.Errorf("scanned %d events; want at least 50", read)
	}
	assertAccessLogClean(t, log, g.secrets)
}

// keep records secrets the stream must not contain.
func (g *grantRun) keep(secrets ...string) {
	for _, s := range secrets {
		if s != "" {
			g.secrets = append(g.secrets, s)
		}
	}
}

// keepToken records an access token (and its signature) and a refresh
// token.
func (g *grantRun) keepToken(access, refresh string) {
	g.keep(tokenSecrets(access)...)
	g.keep(refresh)
}

func (g *grantRun) tokenURL() string { return g.n.HTTPURL() + "/oauth/token" }

func (g *grantRun) endpoint(style oauth2.AuthStyle) oauth2.Endpoint {
	return oauth2.Endpoint{
		AuthURL:       g.n.HTTPURL() + "/oauth/authorize",
		TokenURL:      g.tokenURL(),
		DeviceAuthURL: g.n.HTTPURL() + "/oauth/device/code",
		AuthStyle:     style,
	}
}

// introspect asks the node about token, as the web app.
func (g *grantRun) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	return introspect(t, g.n, g.conf.ClientID, g.conf.ClientSecret, token)
}

func (g *grantRun) active(t *testing.T, token string) bool {
	t.Helper()
	return g.introspect(t, token)["active"] == true
}

// refreshForm is a refresh token request.
func refreshForm(refreshToken string, scope string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// wantRetrieveError checks err is the token endpoint's error code.
func wantRetrieveError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Errorf("%s: got %v; want the token endpoint's %s", what, err, code)
	}
}

// wantScreen checks p is an approval screen showing each of wants.
func wantScreen(t *testing.T, p page, path string, wants ...string) {
	t.Helper()
	if p.status != http.StatusOK || p.url.Path != path {
		t.Fatalf("got %d at %s (%.300q); want the screen at %s", p.status, p.url, p.body, path)
	}
	for _, w := range wants {
		if !strings.Contains(p.body, w) {
			t.Errorf("the screen at %s does not show %q", path, w)
		}
	}
}

// authorizationCode is the whole first authorization: login, approval
// screen, code, PKCE exchange through x/oauth2.
func (g *grantRun) authorizationCode(t *testing.T) {
	e := g.e.with(t)
	id, secret := e.newClient(g.n, "--name", "Ledger", "--redirect", webCallback)
	g.keep(secret)
	g.conf = &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: webCallback,
		Scopes: []string{"read", "write"}, Endpoint: g.endpoint(oauth2.AuthStyleInHeader)}
	g.browser = newBrowser(t, g.n)
	b := g.browser.with(t)

	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	p := b.get(g.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	// Nobody is logged in: the login form, which comes back here.
	p = b.login(p, g.email, g.password)
	wantScreen(t, p, "/oauth/authorize", "<strong>Ledger</strong>", "Read your data", "Change your data", "https://app.example.test")
	approve := p.form(t, "/oauth/authorize", "")
	got := b.post(approve.action, approve.fields).redirectTo(t, http.StatusSeeOther, webCallback+"?", false)
	code := got.Get("code")
	g.keep(code)
	if code == "" || got.Get("state") != state || got.Get("iss") != issuer {
		t.Fatalf("got redirect parameters %v; want a code, state %q and iss %q", got, state, issuer)
	}

	tok, err := g.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange through x/oauth2: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "read write" {
		t.Errorf("got %s token, refresh %t, scope %v; want Bearer with a refresh token and scope read write",
			tok.TokenType, tok.RefreshToken != "", tok.Extra("scope"))
	}
	in := g.introspect(t, tok.AccessToken)
	if in["active"] != true || in["client_id"] != id || in["scope"] != "read write" {
		t.Errorf("introspection: got %v; want active for %s with read write", in, id)
	}
	g.tok = tok
}

// codeWithoutScreen authorizes conf for the logged-in user expecting no
// approval screen (the scopes are approved already) and returns the code
// and its PKCE verifier.
func (g *grantRun) codeWithoutScreen(t *testing.T, conf *oauth2.Config) (code, verifier string) {
	t.Helper()
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	got := g.browser.with(t).get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))).
		redirectTo(t, http.StatusFound, conf.RedirectURL+"?", false)
	code = got.Get("code")
	g.keep(code)
	if code == "" || got.Get("state") != state {
		t.Fatalf("got redirect parameters %v; want a code and state %q", got, state)
	}
	return code, verifier
}

// codeReuse: the second authorization skips the screen (the consent is
// durable), and a code presented twice is invalid_grant and revokes the
// tokens of its first exchange (RFC 6749 §4.1.2).
func (g *grantRun) codeReuse(t *testing.T) {
	ctx := context.Background()
	code, verifier := g.codeWithoutScreen(t, g.conf)
	tok, err := g.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	if !g.active(t, tok.AccessToken) {
		t.Fatal("the token of a fresh code is not active")
	}
	_, err = g.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	wantRetrieveError(t, "the code again", err, "invalid_grant")
	if g.active(t, tok.AccessToken) {
		t.Error("the access token of a reused code is still active")
	}
	a := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(tok.RefreshToken, ""))
	wantTokenError(t, "the refresh token of a reused code", a, "invalid_grant")
}

// denyAndRefusals: prompt=consent asks again and the user denies with
// _method=DELETE; a form without its screen token is refused; an
// unregistered redirect URI is an error page; prompt=none while logged
// out is login_required.
func (g *grantRun) denyAndRefusals(t *testing.T) {
	b := g.browser.with(t)
	state := rand.Text()
	p := b.get(g.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
	wantScreen(t, p, "/oauth/authorize", "<strong>Ledger</strong>", "Read your data", "Change your data")

	forged := p.form(t, "/oauth/authorize", "")
	forged.fields.Del("auth_token")
	if got := b.post(forged.action, forged.fields); got.status != http.StatusForbidden || got.header.Get("Location") != "" {
		t.Errorf("approval without auth_token: got %d to %q; want 403", got.status, got.header.Get("Location"))
	}

	deny := p.form(t, "/oauth/authorize", "DELETE")
	got := b.post(deny.action, deny.fields).redirectTo(t, http.StatusSeeOther, webCallback+"?", false)
	if got.Get("error") != "access_denied" || got.Get("state") != state || got.Get("iss") != issuer || got.Has("code") {
		t.Errorf("deny: got %v; want error=access_denied, state %q, iss and no code", got, state)
	}

	evil := *g.conf
	evil.RedirectURL = "https://evil.example.test/callback"
	p = b.get(evil.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.body, "redirect_uri") {
		t.Errorf("unregistered redirect_uri: got %d, Location %q; want a 400 page about redirect_uri and no redirect", p.status, p.header.Get("Location"))
	}

	state = rand.Text()
	got = newBrowser(t, g.n).get(g.conf.AuthCodeURL(state, oauth2.SetAuthURLParam("prompt", "none"))).
		redirectTo(t, http.StatusFound, webCallback+"?", false)
	if got.Get("error") != "login_required" || got.Get("state") != state || got.Has("code") {
		t.Errorf("prompt=none logged out: got %v; want error=login_required and state %q", got, state)
	}
}

// loopbackPublicClient: a native app registered with http://127.0.0.1/cb
// listens on a port of its choosing (RFC 8252 §7.3), which matches; it
// must use PKCE.
func (g *grantRun) loopbackPublicClient(t *testing.T) {
	e := g.e.with(t)
	id, secret := e.newClient(g.n, "--public", "--name", "Desk", "--redirect", "http://127.0.0.1/cb")
	if secret != "" {
		t.Fatalf("a public client got a secret")
	}
	received := make(chan url.Values, 1)
	native := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case received <- r.URL.Query():
		default:
		}
		fmt.Fprintln(w, "You may close this window.")
	}))
	t.Cleanup(native.Close)
	g.pub = &oauth2.Config{ClientID: id, RedirectURL: native.URL + "/cb", Scopes: []string{"read"},
		Endpoint: g.endpoint(oauth2.AuthStyleInParams)}
	b := g.browser.with(t)

	state := rand.Text()
	got := b.get(g.pub.AuthCodeURL(state)).redirectTo(t, http.StatusFound, g.pub.RedirectURL+"?", false)
	if got.Get("error") != "invalid_request" || got.Get("state") != state {
		t.Errorf("public client without PKCE: got %v; want error=invalid_request and state %q", got, state)
	}

	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	p := b.get(g.pub.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	wantScreen(t, p, "/oauth/authorize", "<strong>Desk</strong>", "Read your data")
	if strings.Contains(p.body, "Change your data") {
		t.Error("the screen lists write, which was not asked for")
	}
	approve := p.form(t, "/oauth/authorize", "")
	p = b.post(approve.action, approve.fields)
	p.redirectTo(t, http.StatusSeeOther, g.pub.RedirectURL+"?", false)
	// The browser follows the redirect to the app's listener.
	resp, err := http.Get(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var q url.Values
	select {
	case q = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("the native app's listener received nothing")
	}
	g.keep(q.Get("code"))
	if q.Get("code") == "" || q.Get("state") != state || q.Get("iss") != issuer {
		t.Fatalf("the native app received %v; want a code, state and iss", q)
	}
	tok, err := g.pub.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("public exchange: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	if in := g.introspect(t, tok.AccessToken); in["active"] != true || in["client_id"] != id || in["scope"] != "read" {
		t.Errorf("introspection: got %v; want active for %s with read", in, id)
	}
	g.pubTok = tok
}

// codeRace: 16 concurrent exchanges of one code, several times. Exactly
// one gets tokens; every other one presented a used code, so the
// winner's tokens are revoked once all have answered.
func (g *grantRun) codeRace(t *testing.T) {
	for round := range 5 {
		code, verifier := g.codeWithoutScreen(t, g.conf)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {g.conf.RedirectURL}, "code_verifier": {verifier}}
		w := oneWinner(t, fmt.Sprintf("round %d", round), race(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, form, 16))
		g.keepToken(w.AccessToken, w.RefreshToken)
		if g.active(t, w.AccessToken) {
			t.Errorf("round %d: the winner's access token is active after the code was reused", round)
		}
		a := mustToken(t, g.tokenURL(), g.conf.ClientID, g.conf.ClientSecret, refreshForm(w.RefreshToken, ""))
		wantTokenError(t, fmt.Sprintf("round %d: the winner's refresh token", round), a, "invalid_grant")
	}
}
