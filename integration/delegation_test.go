package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// delegationOperation reports whether op is one of the delegation routes
// of the admin API, which TestDelegation drives (TestAdminAPI need not).
func delegationOperation(op string) bool {
	_, path, _ := strings.Cut(op, " ")
	return strings.HasPrefix(path, "/admin/login/") || strings.HasPrefix(path, "/admin/consent/")
}

// delegationApp is the application of TestDelegation: its login page
// and consent page answer stamp's challenges through the admin API, as
// a real application's backend would. What it answers is set per
// scenario (mode); it records what it saw.
type delegationApp struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	admin *http.Client // x/oauth2 clientcredentials, admin scope
	stamp string       // the node's URL, where redirect_to is sent
	mode  appMode
	seen  appSeen
}

// appMode is how the app answers.
type appMode struct {
	subject       string
	remember      bool
	rejectLogin   bool
	grantScope    []string
	rejectConsent bool
	ext           string
	// hold: answer the challenge but show redirect_to instead of
	// redirecting (the test takes it from there); noAnswer: not even
	// answer.
	hold, noAnswer bool
}

// appSeen is what the app saw: its pages' visits, the last challenges,
// the last redirect_to and the status of the last admin answer.
type appSeen struct {
	logins, consents         int
	loginChallenge, consentC string
	redirectTo               string
	answerStatus             int
	answerBody               string
}

func newDelegationApp(t *testing.T) *delegationApp {
	a := &delegationApp{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { a.page(w, r, "login") })
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) { a.page(w, r, "consent") })
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *delegationApp) set(m appMode) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mode, a.seen = m, appSeen{}
}

func (a *delegationApp) state() appSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen
}

// page is the app's login or consent page: read the challenge, answer
// it, send the browser to redirect_to (on the node: the test issuer's
// host is not served).
func (a *delegationApp) page(w http.ResponseWriter, r *http.Request, kind string) {
	a.mu.Lock()
	m, admin, stamp := a.mode, a.admin, a.stamp
	a.mu.Unlock()
	challenge := r.URL.Query().Get(kind + "_challenge")
	var view struct {
		Challenge string   `json:"challenge"`
		ClientID  string   `json:"client_id"`
		Scopes    []string `json:"requested_scope"`
		Subject   string   `json:"subject"`
	}
	base := stamp + "/admin/" + kind + "/requests/" + url.PathEscape(challenge)
	status, body := adminDo(admin, "GET", base, "")
	if status != http.StatusOK || json.Unmarshal(body, &view) != nil || view.Challenge != challenge || view.ClientID == "" {
		http.Error(w, fmt.Sprintf("read the challenge: %d %s", status, body), http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	if kind == "login" {
		a.seen.logins++
		a.seen.loginChallenge = challenge
	} else {
		a.seen.consents++
		a.seen.consentC = challenge
	}
	a.mu.Unlock()
	if m.noAnswer {
		fmt.Fprint(w, "waiting")
		return
	}
	var answer, path string
	switch {
	case kind == "login" && m.rejectLogin, kind == "consent" && m.rejectConsent:
		path, answer = "/reject", `{"error":"access_denied","error_description":"the user said no"}`
	case kind == "login":
		path, answer = "/accept", fmt.Sprintf(`{"subject":%q,"remember":%t,"acr":"urn:test:password"}`, m.subject, m.remember)
	default:
		grant := m.grantScope
		if grant == nil {
			grant = view.Scopes
		}
		g, _ := json.Marshal(grant)
		ext := m.ext
		if ext == "" {
			ext = "{}"
		}
		path, answer = "/accept", fmt.Sprintf(`{"grant_scope":%s,"remember":%t,"session":{"access_token":%s}}`, g, m.remember, ext)
	}
	status, body = adminDo(admin, "PUT", base+path, answer)
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	a.mu.Lock()
	a.seen.answerStatus, a.seen.answerBody = status, string(body)
	a.mu.Unlock()
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		http.Error(w, string(body), status)
		return
	}
	u, err := url.Parse(out.RedirectTo)
	if err != nil || u.Path != "/oauth/authorize" {
		http.Error(w, "redirect_to: "+out.RedirectTo, http.StatusBadGateway)
		return
	}
	back := stamp + u.Path + "?" + u.RawQuery
	a.mu.Lock()
	a.seen.redirectTo = back
	a.mu.Unlock()
	if m.hold {
		fmt.Fprint(w, back)
		return
	}
	http.Redirect(w, r, back, http.StatusFound)
}

// adminDo sends one admin API request; a transport failure is status 0.
func adminDo(client *http.Client, method, u, body string) (int, []byte) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// delegationBrowser is a browser: a cookie jar, redirects followed
// between stamp and the app, and stopped at the client's redirect URI
// (the answer is then that redirect).
func delegationBrowser(t *testing.T, clientHost string) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == clientHost || len(via) >= 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// visit GETs u with b and returns the status, the Location and the body.
func visit(t *testing.T, b *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// delegationNode starts a node whose login and consent go to app, with
// extra settings, creates its backend client (admin scope) and gives the
// app its admin client through chk, and returns the node.
func delegationNode(t *testing.T, a *delegationApp, chk func(*app.Node) *openAPICheck, extra ...string) (*app.Node, *env) {
	e := newEnv(t, append([]string{"STAMP_LOGIN_URL", a.srv.URL + "/login", "STAMP_CONSENT_URL", a.srv.URL + "/consent"}, extra...)...)
	n := e.start()
	backendID, backendSecret := e.createClient(n, "Backend", "--scopes", "admin")
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, chk(n).client(t))
	cc := clientcredentials.Config{ClientID: backendID, ClientSecret: backendSecret, TokenURL: n.HTTPURL() + "/oauth/token", Scopes: []string{"admin"}}
	a.mu.Lock()
	a.admin, a.stamp = cc.Client(ctx), n.HTTPURL()
	a.mu.Unlock()
	return n, e
}

// TestDelegation is the story of an application that keeps its login
// and consent pages: a user of the app (created with the app's id)
// authorizes a client; stamp sends the browser to the app's login page,
// then its consent page, each answering through the admin API, and the
// client gets a code whose exchange (x/oauth2) yields a token for the
// app's user, with the granted scope and the app's extra claim. A second
// authorization skips both pages (remember). Then the refusals: a
// replayed challenge, a challenge from another browser, an expired one,
// a consent granting more than requested, a rejection (the client gets
// access_denied), the admin API without the admin scope. Every admin
// request and answer is checked against openapi.json, and every
// delegation operation is driven.
func TestDelegation(t *testing.T) {
	a := newDelegationApp(t)
	var chk *openAPICheck
	n, e := delegationNode(t, a, func(n *app.Node) *openAPICheck { chk = newOpenAPICheck(t, n); return chk })
	admin := a.admin

	if st, b := adminDo(admin, "POST", n.HTTPURL()+"/admin/users", `{"external_id":"app-user-7","email":"grace@example.com","name":"Grace"}`); st != http.StatusCreated {
		t.Fatalf("create the app's user: %d %s", st, b)
	}
	var ledger struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	st, b := adminDo(admin, "POST", n.HTTPURL()+"/admin/clients", `{"name":"Ledger","redirect_uris":["https://ledger.example/cb"]}`)
	if st != http.StatusCreated || json.Unmarshal(b, &ledger) != nil || ledger.Secret == "" {
		t.Fatalf("create the client: %d %s", st, b)
	}
	conf := oauth2.Config{ClientID: ledger.ID, ClientSecret: ledger.Secret, RedirectURL: "https://ledger.example/cb", Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: n.HTTPURL() + "/oauth/authorize", TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}

	// authorize runs an authorization through browser b: it returns the
	// final status and Location, and the verifier.
	authorize := func(b *http.Client, scopes ...string) (int, *url.URL, string, string) {
		c := conf
		if len(scopes) > 0 {
			c.Scopes = scopes
		}
		verifier := oauth2.GenerateVerifier()
		st, loc, body := visit(t, b, c.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)))
		u, _ := url.Parse(loc)
		return st, u, verifier, body
	}

	// The whole flow: login (remembered), consent granting read with an
	// extra claim (remembered), the code, the exchange.
	a.set(appMode{subject: "app-user-7", remember: true, ext: `{"tenant":"acme"}`})
	alice := delegationBrowser(t, "ledger.example")
	st, loc, verifier, body := authorize(alice)
	if st != http.StatusFound || loc == nil || loc.Host != "ledger.example" || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("the flow through the app: %d %v %.300s; want 302 to the client with a code and the state", st, loc, body)
	}
	if s := a.state(); s.logins != 1 || s.consents != 1 {
		t.Errorf("the app's pages: %d logins, %d consents; want one each", s.logins, s.consents)
	}
	firstConsent := a.state().redirectTo
	// What must never be in the log: the challenges, the browser's
	// cookie, the code and the tokens.
	secrets := []string{a.state().loginChallenge, a.state().consentC, loc.Query().Get("code"), ledger.Secret}
	nodeURL, _ := url.Parse(n.HTTPURL())
	for _, c := range alice.Jar.Cookies(nodeURL) {
		if c.Name == "stamp_browser" {
			secrets = append(secrets, c.Value)
		}
	}
	if len(secrets) != 5 {
		t.Errorf("alice's browser holds no stamp_browser cookie for the node")
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the code exchange: %v", err)
	}
	secrets = append(secrets, tok.AccessToken)
	if tok.RefreshToken != "" {
		secrets = append(secrets, tok.RefreshToken)
	}
	claims := jwtClaims(t, tok.AccessToken)
	if claims["sub"] != "app-user-7" || claims["scope"] != "read" || fmt.Sprint(claims["ext"]) != "map[tenant:acme]" {
		t.Errorf("the access token's claims: %v; want sub app-user-7, scope read, ext {tenant: acme}", claims)
	}

	// remember: the next authorization in this browser asks neither page.
	a.set(appMode{subject: "app-user-7"})
	if st, loc, _, body := authorize(alice); st != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Errorf("a second authorization: %d %v %.300s; want a code at once", st, loc, body)
	}
	if s := a.state(); s.logins != 0 || s.consents != 0 {
		t.Errorf("a second authorization went through the app's pages (%d logins, %d consents); want neither", s.logins, s.consents)
	}

	// Replay: the consent's redirect_to again is refused, no second code.
	if st, loc, body := visit(t, alice, firstConsent); st != http.StatusBadRequest || loc != "" || !strings.Contains(body, "used already") {
		t.Errorf("a replayed consent challenge: %d %q %.300s; want 400 saying it was used", st, loc, body)
	}

	// Another browser: bob brings a challenge answered for carol.
	a.set(appMode{subject: "app-user-7", hold: true})
	carol := delegationBrowser(t, "ledger.example")
	if st, _, _, body := authorize(carol); st != http.StatusOK {
		t.Fatalf("carol's login (held): %d %.300s", st, body)
	}
	held := a.state().redirectTo
	bob := delegationBrowser(t, "ledger.example")
	if st, loc, body := visit(t, bob, held); st != http.StatusBadRequest || loc != "" || !strings.Contains(body, "another browser") {
		t.Errorf("a challenge from another browser: %d %q %.300s; want 400 saying so", st, loc, body)
	}
	a.set(appMode{subject: "app-user-7"})
	if st, loc, body := visit(t, carol, held); st != http.StatusFound || !strings.Contains(loc, "code=") {
		t.Errorf("the same challenge from its own browser: %d %q %.300s; want the code", st, loc, body)
	}
	if st, _, body := visit(t, carol, held); st != http.StatusBadRequest || !strings.Contains(body, "used already") {
		t.Errorf("a replayed login challenge: %d %.300s; want 400", st, body)
	}

	// A consent granting more than requested: 422 naming grant_scope.
	// (write alone: read is remembered, so a request for it skips the
	// consent page.)
	a.set(appMode{subject: "app-user-7", grantScope: []string{"read", "write"}})
	dave := delegationBrowser(t, "ledger.example")
	authorize(dave, "write")
	if s := a.state(); s.answerStatus != http.StatusUnprocessableEntity || !strings.Contains(s.answerBody, `"field":"grant_scope"`) {
		t.Errorf("a consent granting more than requested: %d %s; want 422 naming grant_scope", s.answerStatus, s.answerBody)
	}
	// A second answer to that challenge is 409 once the first stood.
	c := a.state().consentC
	if st, b := adminDo(admin, "PUT", n.HTTPURL()+"/admin/consent/requests/"+c+"/reject", `{}`); st != http.StatusOK {
		t.Errorf("reject the consent: %d %s", st, b)
	}
	if st, b := adminDo(admin, "PUT", n.HTTPURL()+"/admin/consent/requests/"+c+"/accept", `{"grant_scope":["read"]}`); st != http.StatusConflict {
		t.Errorf("a second answer: %d %s; want 409", st, b)
	}

	// Rejections: the client gets access_denied, for the login and for
	// the consent.
	for _, m := range []appMode{{rejectLogin: true}, {subject: "app-user-7", rejectConsent: true}} {
		a.set(m)
		st, loc, _, body := authorize(delegationBrowser(t, "ledger.example"), "read", "write")
		if st != http.StatusFound || loc == nil || loc.Host != "ledger.example" || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" {
			t.Errorf("%+v: %d %v %.300s; want 302 to the client with access_denied", m, st, loc, body)
		}
	}

	// Unknown challenges are 404 on every route.
	for _, op := range []struct{ method, path, body string }{
		{"GET", "/admin/login/requests/nope", ""}, {"PUT", "/admin/login/requests/nope/accept", `{"subject":"app-user-7"}`},
		{"PUT", "/admin/login/requests/nope/reject", `{}`}, {"GET", "/admin/consent/requests/nope", ""},
	} {
		if st, b := adminDo(admin, op.method, n.HTTPURL()+op.path, op.body); st != http.StatusNotFound {
			t.Errorf("%s %s: %d %s; want 404", op.method, op.path, st, b)
		}
	}

	// Without the admin scope: 403 insufficient_scope.
	readerID, readerSecret := e.createClient(n, "Reader", "--scopes", "read")
	reader := (&clientcredentials.Config{ClientID: readerID, ClientSecret: readerSecret, TokenURL: n.HTTPURL() + "/oauth/token", Scopes: []string{"read"}}).
		Client(context.WithValue(context.Background(), oauth2.HTTPClient, chk.client(t)))
	if st, b := adminDo(reader, "GET", n.HTTPURL()+"/admin/login/requests/"+a.state().loginChallenge, ""); st != http.StatusForbidden || !strings.Contains(string(b), "insufficient_scope") {
		t.Errorf("without the admin scope: %d %s; want 403 insufficient_scope", st, b)
	}

	assertNoSecretInStream(t, n, secrets...)

	var missed []string
	for _, op := range documentedOperations(t) {
		if delegationOperation(op) && !chk.seen[op] {
			missed = append(missed, op)
		}
	}
	if len(missed) > 0 {
		t.Errorf("delegation operations of openapi.json not driven: %v", missed)
	}
}

// TestDelegationExpiredChallenge: a challenge past challenge_ttl can no
// longer be read or answered (404), and its return is refused.
func TestDelegationExpiredChallenge(t *testing.T) {
	a := newDelegationApp(t)
	n, _ := delegationNode(t, a, func(n *app.Node) *openAPICheck { return newOpenAPICheck(t, n) }, "STAMP_CHALLENGE_TTL", "1s")
	admin := a.admin
	var client struct {
		ID string `json:"id"`
	}
	st, b := adminDo(admin, "POST", n.HTTPURL()+"/admin/clients", `{"name":"Ledger","redirect_uris":["https://ledger.example/cb"]}`)
	if st != http.StatusCreated || json.Unmarshal(b, &client) != nil {
		t.Fatalf("create the client: %d %s", st, b)
	}
	adminDo(admin, "POST", n.HTTPURL()+"/admin/users", `{"external_id":"app-user-7","email":"grace@example.com"}`)
	a.set(appMode{noAnswer: true})
	browser := delegationBrowser(t, "ledger.example")
	conf := oauth2.Config{ClientID: client.ID, RedirectURL: "https://ledger.example/cb", Endpoint: oauth2.Endpoint{AuthURL: n.HTTPURL() + "/oauth/authorize"}}
	if st, _, body := visit(t, browser, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); st != http.StatusOK || body != "waiting" {
		t.Fatalf("the login page: %d %.300s", st, body)
	}
	challenge := a.state().loginChallenge
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := adminDo(admin, "GET", n.HTTPURL()+"/admin/login/requests/"+challenge, "")
		if st == http.StatusNotFound {
			break
		}
		if st != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("reading the challenge: %d; want 200 until it expires, then 404", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, b := adminDo(admin, "PUT", n.HTTPURL()+"/admin/login/requests/"+challenge+"/accept", `{"subject":"app-user-7"}`); st != http.StatusNotFound {
		t.Errorf("accepting an expired challenge: %d %s; want 404", st, b)
	}
	back := n.HTTPURL() + "/oauth/authorize?" + url.Values{"login_challenge": {challenge}}.Encode()
	if st, loc, body := visit(t, browser, back); st != http.StatusBadRequest || loc != "" || !strings.Contains(body, "expired") {
		t.Errorf("returning with an expired challenge: %d %q %.300s; want 400 saying it expired", st, loc, body)
	}
}

// jwtClaims decodes a JWT's claims without checking it (stamp's tests of
// signatures are elsewhere).
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
