package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// device: RFC 8628 with x/oauth2. The device polls (pending, then
// slow_down for polling at once); the user logs in at the verification
// URI, types the code, approves; x/oauth2 polls after the interval and
// gets tokens. A device the user denies gets access_denied.
func (g *grantRun) device(t *testing.T) {
	e := g.e.with(t)
	ctx := context.Background()
	id, _ := e.newClient(g.n, "--device", "--public", "--name", "Living room TV")
	dc := &oauth2.Config{ClientID: id, Scopes: []string{"read"}, Endpoint: g.endpoint(oauth2.AuthStyleInParams)}
	da, err := dc.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization through x/oauth2: %v", err)
	}
	g.keep(da.DeviceCode, da.UserCode, strings.ReplaceAll(da.UserCode, "-", ""))
	if da.Interval != 5 || da.VerificationURI != issuer+"/oauth/device" ||
		da.VerificationURIComplete != issuer+"/oauth/device?user_code="+da.UserCode || len(da.UserCode) != 9 {
		t.Errorf("got %+v; want interval 5, the issuer's /oauth/device and a XXXX-XXXX code", da)
	}
	poll := func(deviceCode string) tokenAnswer {
		return mustToken(t, g.tokenURL(), id, "", url.Values{"grant_type": {deviceGrant}, "device_code": {deviceCode}})
	}
	wantTokenError(t, "the first poll", poll(da.DeviceCode), "authorization_pending")
	wantTokenError(t, "a poll at once", poll(da.DeviceCode), "slow_down")

	// The user opens verification_uri_complete (at the node's address, not
	// the issuer's, which does not resolve) in a browser of their own.
	b := newBrowser(t, g.n)
	p := b.login(b.get("/oauth/device?user_code="+url.QueryEscape(da.UserCode)), g.email, g.password)
	if p.status != http.StatusOK || p.url.Path != "/oauth/device" || !strings.Contains(p.body, `value="`+da.UserCode+`"`) {
		t.Fatalf("after login: got %d at %s; want the code form prefilled with %s", p.status, p.url, da.UserCode)
	}
	p = b.enterUserCode(p, da.UserCode)
	wantScreen(t, p, "/oauth/device", "<strong>Living room TV</strong>", "Read your data", da.UserCode)
	approve := p.form(t, "/oauth/device/approve", "")
	if p = b.post(approve.action, approve.fields); p.status != http.StatusOK || !strings.Contains(p.body, "Device connected") {
		t.Fatalf("approve: got %d %.300q; want the device connected page", p.status, p.body)
	}

	// x/oauth2 waits the interval before it polls (RFC 8628 §3.4): the
	// one wait of this flow, and it is the library's.
	tok, err := dc.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("device token through x/oauth2: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	if tok.RefreshToken == "" {
		t.Error("the device client has the refresh grant but got no refresh token")
	}
	if in := g.introspect(t, tok.AccessToken); in["active"] != true || in["client_id"] != id || in["scope"] != "read" {
		t.Errorf("introspection: got %v; want active for %s with read", in, id)
	}
	wantTokenError(t, "the redeemed device code", poll(da.DeviceCode), "invalid_grant")

	denied, err := dc.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g.keep(denied.DeviceCode, denied.UserCode, strings.ReplaceAll(denied.UserCode, "-", ""))
	// Typed without the dash, in lower case: the form takes it.
	p = b.enterUserCode(b.get("/oauth/device"), strings.ToLower(strings.ReplaceAll(denied.UserCode, "-", "")))
	wantScreen(t, p, "/oauth/device", denied.UserCode)
	deny := p.form(t, "/oauth/device/deny", "")
	if p = b.post(deny.action, deny.fields); p.status != http.StatusOK || !strings.Contains(p.body, "Request denied") {
		t.Fatalf("deny: got %d %.300q; want the request denied page", p.status, p.body)
	}
	// The first poll of this code: nothing to slow down.
	wantTokenError(t, "a denied device", poll(denied.DeviceCode), "access_denied")
}

// enterUserCode posts the code form p shows with code, and returns the
// confirmation screen.
func (b *browser) enterUserCode(p page, code string) page {
	b.t.Helper()
	f := p.form(b.t, "/oauth/device", "")
	f.fields.Set("user_code", code)
	return b.post(f.action, f.fields)
}

var installedRE = regexp.MustCompile(`(?m)^(.+) created\.\nClient ID: (\S+)\nClient secret: (\S+)$`)

// passwordGrant: `stamp install` creates the password client; with the
// grant enabled x/oauth2's PasswordCredentialsToken works and may ask for
// "*"; a wrong password is invalid_grant.
func (g *grantRun) passwordGrant(t *testing.T) {
	e := g.e.with(t)
	ctx := context.Background()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	created := map[string][2]string{}
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		created[m[1]] = [2]string{m[2], m[3]}
		g.keep(m[3])
		e.awaitClient(g.n, m[2])
	}
	pw, pac := created["Password Grant Client"], created["Personal Access Client"]
	if pw[0] == "" || pac[0] == "" {
		t.Fatalf("install printed %q; want a password grant client and a personal access client with ids and secrets", out)
	}
	g.personalClient = pac[0]

	conf := &oauth2.Config{ClientID: pw[0], ClientSecret: pw[1], Scopes: []string{"*"}, Endpoint: g.endpoint(oauth2.AuthStyleInHeader)}
	tok, err := conf.PasswordCredentialsToken(ctx, g.email, g.password)
	if err != nil {
		t.Fatalf("password grant through x/oauth2: %v", err)
	}
	g.keepToken(tok.AccessToken, tok.RefreshToken)
	if tok.Extra("scope") != "*" || tok.RefreshToken == "" {
		t.Errorf("got scope %v, refresh %t; want * and a refresh token", tok.Extra("scope"), tok.RefreshToken != "")
	}
	if in := g.introspect(t, tok.AccessToken); in["active"] != true || in["scope"] != "*" || in["client_id"] != pw[0] {
		t.Errorf("introspection: got %v; want active for %s with *", in, pw[0])
	}
	g.userToken = tok.AccessToken
	_, err = conf.PasswordCredentialsToken(ctx, g.email, "not the password")
	wantRetrieveError(t, "a wrong password", err, "invalid_grant")
}

// authorizeURL is the node's authorization endpoint with params.
func authorizeURL(base string, params url.Values) string {
	return base + "/oauth/authorize?" + params.Encode()
}

// implicit: response_type=token, approved on the screen, puts the access
// token and state in the redirect's fragment.
func (g *grantRun) implicit(t *testing.T) {
	e := g.e.with(t)
	id, _ := e.newClient(g.n, "--implicit", "--public", "--name", "Widget", "--redirect", widgetCallback)
	b := g.browser.with(t)
	state := rand.Text()
	p := b.get(authorizeURL(g.n.HTTPURL(), url.Values{"response_type": {"token"}, "client_id": {id},
		"redirect_uri": {widgetCallback}, "scope": {"read"}, "state": {state}}))
	wantScreen(t, p, "/oauth/authorize", "<strong>Widget</strong>", "Read your data")
	approve := p.form(t, "/oauth/authorize", "")
	p = b.post(approve.action, approve.fields)
	got := p.redirectTo(t, http.StatusSeeOther, widgetCallback+"#", true)
	g.keep(tokenSecrets(got.Get("access_token"))...)
	if got.Get("access_token") == "" || got.Get("token_type") != "Bearer" || got.Get("state") != state || got.Has("refresh_token") {
		t.Fatalf("got fragment %v; want an access token, Bearer, state %q and no refresh token", got, state)
	}
	if u, _ := url.Parse(p.header.Get("Location")); u.RawQuery != "" {
		t.Errorf("the implicit redirect has a query %q; want everything in the fragment", u.RawQuery)
	}
	if in := g.introspect(t, got.Get("access_token")); in["active"] != true || in["client_id"] != id || in["scope"] != "read" {
		t.Errorf("introspection: got %v; want active for %s with read", in, id)
	}
}

// personalAccess: `stamp token create` issues a personal access token
// through the client install created; deleting its user with `stamp user
// delete` makes it inactive, and nobody else's.
func (g *grantRun) personalAccess(t *testing.T) {
	e := g.e.with(t)
	ctx := context.Background()
	email, password := "grace@example.test", "another horse battery staple"
	g.keep(password)
	userID := e.createUser(g.n, email, password)
	code, out, errOut := e.run("token", "create", "--user", email, "--name", "cli", "--scopes", "read", "--json")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	var pat struct {
		AccessToken string `json:"access_token"`
		Token       struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &pat); err != nil || pat.AccessToken == "" || pat.Token.ID == "" {
		t.Fatalf("token create printed %q (%v); want JSON with the token and its id", out, err)
	}
	g.keep(tokenSecrets(pat.AccessToken)...)
	if pat.Token.Name != "cli" {
		t.Errorf("got name %q; want cli", pat.Token.Name)
	}
	// The CLI appended the token; the node applies it within milliseconds.
	waitFor(t, "the server to apply the personal access token", func() bool {
		_, err := g.n.Views().AccessToken(ctx, pat.Token.ID)
		return err == nil
	})
	in := g.introspect(t, pat.AccessToken)
	if in["active"] != true || in["scope"] != "read" || in["sub"] != userID || in["client_id"] != g.personalClient {
		t.Errorf("introspection: got %v; want active for user %s through %s with read", in, userID, g.personalClient)
	}

	if code, _, errOut := e.run("user", "delete", email); code != 0 {
		t.Fatalf("user delete: exit %d: %s", code, errOut)
	}
	waitFor(t, "the server to apply the deletion", func() bool {
		u, err := g.n.Views().User(ctx, userID)
		return err != nil || !u.Exists()
	})
	if g.active(t, pat.AccessToken) {
		t.Error("the personal access token of a deleted user is still active")
	}
	if !g.active(t, g.userToken) {
		t.Error("deleting one user made another user's token inactive")
	}
}

// TestGrantsOffByDefault: without STAMP_PASSWORD_GRANT and
// STAMP_IMPLICIT_GRANT neither grant is announced or answered, even for
// clients registered with them.
func TestGrantsOffByDefault(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	var meta struct {
		GrantTypes    []string `json:"grant_types_supported"`
		ResponseTypes []string `json:"response_types_supported"`
	}
	getJSON(t, n.HTTPURL()+"/.well-known/oauth-authorization-server", &meta)
	if slices.Contains(meta.GrantTypes, "password") || slices.Contains(meta.GrantTypes, "implicit") || slices.Contains(meta.ResponseTypes, "token") {
		t.Errorf("the metadata announces %v and %v; want neither password, implicit nor response type token", meta.GrantTypes, meta.ResponseTypes)
	}

	email, password := "ada@example.test", "correct horse battery staple"
	e.createUser(n, email, password)
	id, secret := e.newClient(n, "--password", "--name", "Legacy")
	conf := &oauth2.Config{ClientID: id, ClientSecret: secret,
		Endpoint: oauth2.Endpoint{TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	_, err := conf.PasswordCredentialsToken(context.Background(), email, password)
	wantRetrieveError(t, "the password grant while off", err, "unsupported_grant_type")

	widget, _ := e.newClient(n, "--implicit", "--public", "--name", "Widget", "--redirect", widgetCallback)
	state := rand.Text()
	got := newBrowser(t, n).get(authorizeURL(n.HTTPURL(), url.Values{"response_type": {"token"}, "client_id": {widget},
		"redirect_uri": {widgetCallback}, "scope": {"read"}, "state": {state}})).
		redirectTo(t, http.StatusFound, widgetCallback+"#", true)
	if got.Get("error") != "unsupported_response_type" || got.Get("state") != state || got.Has("access_token") {
		t.Errorf("implicit while off: got fragment %v; want error=unsupported_response_type, state %q and no token", got, state)
	}
}
