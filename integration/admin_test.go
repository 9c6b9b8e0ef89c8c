package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// adminOperation reports whether op ("METHOD /path") is one of the admin
// API's, which TestAdminAPI drives through openAPICheck (so
// TestOpenAPIDescribesRealAnswers need not).
func adminOperation(op string) bool {
	_, path, _ := strings.Cut(op, " ")
	return strings.HasPrefix(path, "/admin/")
}

// adminCall sends one admin API request through client with a JSON body
// (none when body is "") and decodes a JSON answer into out when not nil.
func adminCall(t *testing.T, client *http.Client, n *app.Node, method, path, body string, out any) int {
	t.Helper()
	status, _, b := send(t, client, method, n.HTTPURL()+path, nil, body)
	if out != nil && status < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, status, b, err)
		}
	}
	if status >= 400 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Description == "" {
			t.Errorf("%s %s: %d %q; want a JSON error with a description", method, path, status, b)
		}
	}
	return status
}

// TestAdminAPI is the story of an application that keeps its users and
// drives stamp from its backend: through x/oauth2's clientcredentials
// with the admin scope it creates a user with its own id, mints a
// personal access token that /auth/verify accepts with that id as the
// user, lists and revokes the user's consent to an application, logs the
// user out everywhere and the token is refused; it manages
// clients of every kind, regenerates a secret (the old one stops working),
// reads the audit, whose events name the application's client as their
// actor; and every refusal is JSON with the right status. Every request
// and answer is checked against openapi.json, and every admin operation
// is driven.
func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	var personalID string
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
		if strings.Contains(m[1], "Personal") {
			personalID = m[2]
		}
	}
	backendID, backendSecret := e.createClient(n, "Backend", "--scopes", "admin")
	readerID, readerSecret := e.createClient(n, "Reader", "--scopes", "read")
	anyID, anySecret := e.createClient(n, "Anything")

	chk := newOpenAPICheck(t, n)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, chk.client(t))
	cc := clientcredentials.Config{ClientID: backendID, ClientSecret: backendSecret, TokenURL: n.HTTPURL() + "/oauth/token", Scopes: []string{"admin"}}
	admin := cc.Client(ctx)

	// The application's user, with the application's id.
	var user struct{ ID, Email, Name string }
	if st := adminCall(t, admin, n, "POST", "/admin/users", `{"external_id":"app-user-42","email":"Ada@Example.com","name":"Ada"}`, &user); st != http.StatusCreated || user.ID != "app-user-42" || user.Email != "ada@example.com" {
		t.Fatalf("create a user: %d %+v; want 201 with id app-user-42", st, user)
	}
	if st := adminCall(t, admin, n, "GET", "/admin/users/app-user-42", "", &user); st != http.StatusOK || user.Name != "Ada" {
		t.Errorf("read the user: %d %+v", st, user)
	}
	if st := adminCall(t, admin, n, "PATCH", "/admin/users/app-user-42", `{"password":"a new long password"}`, nil); st != http.StatusOK {
		t.Errorf("change the password: %d; want 200", st)
	}

	// A consent, given the way a user gives one: the built-in login and
	// the approval screen.
	var ledger struct {
		ID string `json:"id"`
	}
	if st := adminCall(t, admin, n, "POST", "/admin/clients", `{"name":"Ledger","redirect_uris":["https://ledger.example/cb"]}`, &ledger); st != http.StatusCreated {
		t.Fatalf("create an authorization code client: %d", st)
	}
	browser := loggedIn(t, n, "ada@example.com", "a new long password")
	web := oauth2.Config{ClientID: ledger.ID, RedirectURL: "https://ledger.example/cb", Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: n.HTTPURL() + "/oauth/authorize"}}
	screen := browser.get(web.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	approve := screen.form(t, "/oauth/authorize", "")
	browser.post(approve.action, approve.fields).redirectTo(t, http.StatusSeeOther, "https://ledger.example/cb?", false)
	var consents []struct {
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
	}
	if st := adminCall(t, admin, n, "GET", "/admin/users/app-user-42/authorizations", "", &consents); st != http.StatusOK || len(consents) != 1 || consents[0].ClientID != ledger.ID || fmt.Sprint(consents[0].Scopes) != "[read]" {
		t.Errorf("list the consents: %d %+v; want Ledger's, for read", st, consents)
	}
	if st := adminCall(t, admin, n, "DELETE", "/admin/users/app-user-42/authorizations/"+ledger.ID, "", nil); st != http.StatusNoContent {
		t.Errorf("revoke an authorization: %d; want 204", st)
	}
	consents = nil
	if st := adminCall(t, admin, n, "GET", "/admin/users/app-user-42/authorizations", "", &consents); st != http.StatusOK || len(consents) != 0 {
		t.Errorf("the consents after the revocation: %d %+v; want none", st, consents)
	}

	// Passport's createToken: the token works at /auth/verify as the user.
	var pat struct {
		AccessToken string `json:"accessToken"`
		Token       struct{ ID string }
	}
	if st := adminCall(t, admin, n, "POST", "/admin/users/app-user-42/tokens", `{"name":"CLI","scopes":["read"]}`, &pat); st != http.StatusCreated || pat.AccessToken == "" {
		t.Fatalf("mint a token: %d; want 201 with a token", st)
	}
	verify := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n.HTTPURL()+"/auth/verify?scopes=read", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Stamp-User-Id")
	}
	if st, sub := verify(pat.AccessToken); st != http.StatusOK || sub != "app-user-42" {
		t.Fatalf("/auth/verify with the minted token: %d user %q; want 200 app-user-42", st, sub)
	}
	var second struct {
		AccessToken string `json:"accessToken"`
		Token       struct{ ID string }
	}
	adminCall(t, admin, n, "POST", "/admin/users/app-user-42/tokens", `{"name":"Other"}`, &second)
	var tokens []struct {
		ID        string `json:"id"`
		GrantType string `json:"grant_type"`
	}
	kinds := map[string]int{}
	if st := adminCall(t, admin, n, "GET", "/admin/users/app-user-42/tokens", "", &tokens); st == http.StatusOK {
		for _, tk := range tokens {
			kinds[tk.GrantType]++
		}
	}
	if len(tokens) != 3 || kinds["personal_access"] != 2 || kinds["session"] != 1 {
		t.Errorf("list the tokens: %+v; want the 2 personal access tokens and the login's cookie token", tokens)
	}
	if st := adminCall(t, admin, n, "DELETE", "/admin/users/app-user-42/tokens/"+second.Token.ID, "", nil); st != http.StatusNoContent {
		t.Errorf("revoke one token: %d; want 204", st)
	}
	if st, _ := verify(second.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("/auth/verify with the revoked token: %d; want 401", st)
	}
	var logout struct{ Clients []string }
	if st := adminCall(t, admin, n, "DELETE", "/admin/users/app-user-42/tokens", "", &logout); st != http.StatusOK || fmt.Sprint(logout.Clients) != fmt.Sprint([]string{personalID}) {
		t.Errorf("log out everywhere: %d %+v; want 200 naming the personal access client %s", st, logout, personalID)
	}
	if st, _ := verify(pat.AccessToken); st != http.StatusUnauthorized {
		t.Fatalf("/auth/verify after log out everywhere: %d; want 401", st)
	}

	// Clients of every kind, with every setting.
	var client struct {
		ID         string   `json:"id"`
		Name       string   `json:"name"`
		Secret     *string  `json:"secret"`
		Scopes     []string `json:"scopes"`
		FirstParty bool     `json:"first_party"`
		GrantTypes []string `json:"grant_types"`
	}
	if st := adminCall(t, admin, n, "POST", "/admin/clients", `{"name":"Shop","kind":"client","scopes":["read"],"first_party":true,"audiences":["https://api.example"]}`, &client); st != http.StatusCreated || client.Secret == nil || !client.FirstParty || fmt.Sprint(client.GrantTypes) != "[client_credentials]" {
		t.Fatalf("create a client: %d %+v", st, client)
	}
	shopID, oldSecret := client.ID, *client.Secret
	var public struct {
		Secret     *string  `json:"secret"`
		GrantTypes []string `json:"grant_types"`
	}
	if st := adminCall(t, admin, n, "POST", "/admin/clients", `{"name":"SPA","public":true,"redirect_uris":["https://spa.example/cb"],"user_id":"app-user-42"}`, &public); st != http.StatusCreated || public.Secret != nil {
		t.Errorf("create a public client: %d %+v; want 201 without a secret", st, public)
	}
	if st := adminCall(t, admin, n, "GET", "/admin/clients/"+shopID, "", &client); st != http.StatusOK || client.Name != "Shop" {
		t.Errorf("read the client: %d %+v", st, client)
	}
	if st := adminCall(t, admin, n, "PATCH", "/admin/clients/"+shopID, `{"name":"Shop 2"}`, &client); st != http.StatusOK || client.Name != "Shop 2" || fmt.Sprint(client.Scopes) != "[read]" {
		t.Errorf("rename the client: %d %+v; want the new name, the scopes kept", st, client)
	}
	if st := adminCall(t, admin, n, "POST", "/admin/clients/"+shopID+"/secret", "", &client); st != http.StatusOK || client.Secret == nil || *client.Secret == oldSecret {
		t.Fatalf("regenerate the secret: %d; want 200 with a new secret", st)
	}
	if st, _, _ := postForm(t, n.HTTPURL()+"/oauth/token", shopID, oldSecret, url.Values{"grant_type": {"client_credentials"}}); st != http.StatusUnauthorized {
		t.Errorf("the old secret after regeneration: %d; want 401", st)
	}
	if st, _, b := postForm(t, n.HTTPURL()+"/oauth/token", shopID, *client.Secret, url.Values{"grant_type": {"client_credentials"}}); st != http.StatusOK {
		t.Errorf("the new secret: %d %s; want 200", st, b)
	}

	// The audit names the application's client as the actor.
	var audit struct {
		History []struct {
			Type  string
			Actor struct{ Kind, ID string }
			Data  map[string]any
		}
	}
	if st := adminCall(t, admin, n, "GET", "/admin/clients/"+shopID+"/audit", "", &audit); st != http.StatusOK {
		t.Fatalf("client audit: %d", st)
	}
	types := map[string]bool{}
	for _, h := range audit.History {
		types[h.Type] = true
		if h.Type != "AccessTokenCreated" && (h.Actor.Kind != "client" || h.Actor.ID != backendID) {
			t.Errorf("client audit: %s by %+v; want the client %s", h.Type, h.Actor, backendID)
		}
		if _, ok := h.Data["secret_hash"]; ok {
			t.Errorf("client audit: %s shows the secret's hash", h.Type)
		}
	}
	for _, want := range []string{"ClientRegistered", "ClientUpdated", "ClientSecretRegenerated"} {
		if !types[want] {
			t.Errorf("client audit: no %s in %v", want, types)
		}
	}
	audit.History = nil
	if st := adminCall(t, admin, n, "GET", "/admin/users/app-user-42/audit", "", &audit); st != http.StatusOK || len(audit.History) == 0 {
		t.Fatalf("user audit: %d", st)
	}
	for _, h := range audit.History {
		if h.Type == "UserRegistered" && (h.Actor.Kind != "client" || h.Actor.ID != backendID || h.Data["email"] != "ada@example.com") {
			t.Errorf("user audit: UserRegistered by %+v with %v; want the client %s and the email revealed", h.Actor, h.Data, backendID)
		}
		if _, ok := h.Data["password_sealed"]; ok {
			t.Errorf("user audit: %s shows the sealed password", h.Type)
		}
	}

	// Refusals.
	readerToken := issueClientToken(t, n, readerID, readerSecret)
	_, _, b := postForm(t, n.HTTPURL()+"/oauth/token", anyID, anySecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"*"}})
	var wildcard struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(b, &wildcard)
	revokedTok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokedToken := revokedTok.AccessToken
	if st, _, b := postForm(t, n.HTTPURL()+"/oauth/revoke", backendID, backendSecret, url.Values{"token": {revokedToken}}); st != http.StatusOK {
		t.Fatalf("revoke the admin token: %d %s", st, b)
	}
	if _, _, b := postForm(t, n.HTTPURL()+"/oauth/token", anyID, anySecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}); !strings.Contains(string(b), "invalid_scope") {
		t.Errorf("a client without the admin scope asking for it: %s; want invalid_scope", b)
	}
	plain := chk.client(t)
	for _, tt := range []struct {
		name, method, path, body, bearer string
		client                           *http.Client
		status                           int
		code                             string
	}{
		{"no token", "GET", "/admin/users/app-user-42", "", "", plain, 401, "unauthorized"},
		{"a token without the admin scope", "GET", "/admin/users/app-user-42", "", readerToken, plain, 403, "insufficient_scope"},
		{"a * token", "GET", "/admin/users/app-user-42", "", wildcard.AccessToken, plain, 403, "insufficient_scope"},
		{"a revoked token", "GET", "/admin/users/app-user-42", "", revokedToken, plain, 401, "invalid_token"},
		{"a personal access token", "GET", "/admin/users/app-user-42", "", pat.AccessToken, plain, 401, "invalid_token"},
		{"wrong method", "PUT", "/admin/users/app-user-42", "", "", admin, 405, "method_not_allowed"},
		{"bad JSON", "POST", "/admin/users", `{"email":`, "", admin, 400, "invalid_request"},
		{"unknown field", "POST", "/admin/users", `{"mail":"x@example.com"}`, "", admin, 422, "invalid_request"},
		{"bad email", "POST", "/admin/users", `{"email":"not an email"}`, "", admin, 422, "invalid_request"},
		{"bad external id", "POST", "/admin/users", `{"external_id":"a/b","email":"b@example.com"}`, "", admin, 422, "invalid_request"},
		{"taken external id", "POST", "/admin/users", `{"external_id":"app-user-42","email":"c@example.com"}`, "", admin, 409, "conflict"},
		{"unknown user", "GET", "/admin/users/nobody", "", "", admin, 404, "not_found"},
		{"a token for an unknown user", "POST", "/admin/users/nobody/tokens", `{"name":"x"}`, "", admin, 404, "not_found"},
		{"unknown client", "PATCH", "/admin/clients/nothing", `{"name":"x"}`, "", admin, 404, "not_found"},
		{"unknown kind", "POST", "/admin/clients", `{"name":"x","kind":"robot"}`, "", admin, 422, "invalid_request"},
	} {
		header := []string{}
		if tt.bearer != "" {
			header = append(header, "Authorization", "Bearer "+tt.bearer)
		}
		st, h, b := send(t, tt.client, tt.method, n.HTTPURL()+tt.path, nil, tt.body, header...)
		var got struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &got)
		if st != tt.status || got.Error != tt.code {
			t.Errorf("%s: %d %s; want %d %s", tt.name, st, b, tt.status, tt.code)
		}
		if (st == 401 || st == 403) && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d without WWW-Authenticate", tt.name, st)
		}
	}

	// Deletions.
	if st := adminCall(t, admin, n, "DELETE", "/admin/clients/"+shopID, "", nil); st != http.StatusNoContent {
		t.Errorf("delete the client: %d; want 204", st)
	}
	if st := adminCall(t, admin, n, "GET", "/admin/clients/"+shopID, "", nil); st != http.StatusNotFound {
		t.Errorf("a deleted client: %d; want 404", st)
	}
	if st := adminCall(t, admin, n, "DELETE", "/admin/users/app-user-42", "", nil); st != http.StatusNoContent {
		t.Errorf("delete the user: %d; want 204", st)
	}
	if st := adminCall(t, admin, n, "POST", "/admin/users", `{"external_id":"app-user-42","email":"ada@example.com"}`, nil); st != http.StatusConflict {
		t.Errorf("a deleted user's id again: %d; want 409", st)
	}

	var missed []string
	for _, op := range documentedOperations(t) {
		if adminOperation(op) && !delegationOperation(op) && !chk.seen[op] { // TestDelegation drives delegation's
			missed = append(missed, op)
		}
	}
	if len(missed) > 0 {
		t.Errorf("admin operations of openapi.json not driven: %v", missed)
	}
}

// TestAdminAPIExpiredToken checks that an admin token is refused once it
// expires: 401 invalid_token, as a revoked one.
func TestAdminAPIExpiredToken(t *testing.T) {
	e := newEnv(t, "STAMP_CLIENT_CREDENTIALS_TTL", "1s")
	n := e.start()
	id, secret := e.createClient(n, "Backend", "--scopes", "admin")
	st, _, b := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || st != http.StatusOK {
		t.Fatalf("token: %d %s", st, b)
	}
	call := func() (int, string) {
		st, _, b := send(t, http.DefaultClient, "GET", n.HTTPURL()+"/admin/users/nobody", nil, "", "Authorization", "Bearer "+tok.AccessToken)
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		return st, e.Error
	}
	issued := time.Now()
	if st, code := call(); st != http.StatusNotFound {
		t.Fatalf("a fresh admin token: %d %s; want 404 (no such user)", st, code)
	}
	// Expiry is judged with the server's clock skew leeway: poll with a
	// deadline until it passes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, code := call()
		if st == http.StatusUnauthorized && code == "invalid_token" {
			t.Logf("refused %s after the token was issued", time.Since(issued))
			return
		}
		if st != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("an expiring admin token: %d %s; want 404 until it expires, then 401 invalid_token", st, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
