package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"golang.org/x/oauth2"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/httpapi"
)

// openAPICheck is an http.RoundTripper that validates every request to
// the node and its response against the OpenAPI document the node serves
// (httpapi/openapi.json), and fails the test on a mismatch: an
// undocumented status, a body off its schema, a missing required header,
// a request the document does not describe. The request of a 4xx answer
// is not validated (the test sends bad ones on purpose), its answer is. A request to a path or
// method the document does not list must be answered 404 or 405 with the
// RFC 6749 error JSON. It records which operations it saw. Safe for
// concurrent use.
type openAPICheck struct {
	t     *testing.T
	v     validator.Validator
	model *v3.Document
	host  string
	next  http.RoundTripper

	mu   sync.Mutex
	seen map[string]bool // "METHOD /path" of the operations answered, the path as documented
}

func newOpenAPICheck(t *testing.T, n *app.Node) *openAPICheck {
	t.Helper()
	doc, err := libopenapi.NewDocument(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	v := validator.NewValidatorFromV3Model(&model.Model, config.WithURLEncodedBodyValidation())
	u, err := url.Parse(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	return &openAPICheck{t: t, v: v, model: &model.Model, host: u.Host, next: http.DefaultTransport, seen: map[string]bool{}}
}

// RoundTrip sends req and validates the pair; both bodies are buffered and
// handed on unread.
func (c *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.URL.Host != c.host {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	c.check(req, reqBody, resp, respBody)
	return resp, nil
}

func (c *openAPICheck) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	c.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	vresp := *resp
	vresp.Body = io.NopCloser(bytes.NewReader(respBody))
	vresp.Request = vreq
	what := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	// A request the server refuses (4xx) may be one the document rules
	// out (a missing parameter, bad JSON): only its answer must match.
	validate := c.v.ValidateHttpRequestResponse
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		validate = c.v.ValidateHttpResponse
	}
	ok, errs := validate(vreq, &vresp)
	if !ok && undocumented(errs) {
		// No such operation: the answer must be the router's 404 or 405.
		var e struct {
			Error string `json:"error"`
		}
		if (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed) ||
			json.Unmarshal(respBody, &e) != nil || e.Error == "" {
			c.t.Errorf("openapi: %s: an operation openapi.json does not describe answered %.200q; want 404 or 405 with an error", what, respBody)
		}
		return
	}
	for _, e := range errs {
		c.t.Errorf("openapi: %s: %s: %s (%s)", what, e.Message, e.Reason, e.HowToFix)
		for _, f := range e.SchemaValidationErrors {
			c.t.Errorf("openapi:   %s at %s (body %.300q)", f.Reason, f.FieldPath, respBody)
		}
	}
	_, _, path := paths.FindPath(vreq, c.model, nil)
	c.mu.Lock()
	c.seen[req.Method+" "+path] = true
	c.mu.Unlock()
}

// undocumented reports whether errs say only that the document has no
// such path or method.
func undocumented(errs []*verrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType != "path" {
			return false
		}
	}
	return len(errs) > 0
}

// client returns an HTTP client through c that keeps cookies and stops at
// redirects away from the node.
func (c *openAPICheck) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: c, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != c.host || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// send sends one request through client and returns the status and body.
// form sets a form body, jsonBody a JSON one; header adds headers.
func send(t *testing.T, client *http.Client, method, u string, form url.Values, jsonBody string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	switch {
	case form != nil:
		body = strings.NewReader(form.Encode())
	case jsonBody != "":
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case form != nil:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case jsonBody != "":
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// notDriven are the documented operations TestOpenAPIDescribesRealAnswers
// does not call, each with its reason.
var notDriven = map[string]string{
	"PUT /auth/verify":        "answers as GET /auth/verify does (one handler)",
	"PATCH /auth/verify":      "answers as GET /auth/verify does (one handler)",
	"DELETE /auth/verify":     "answers as GET /auth/verify does (one handler)",
	"OPTIONS /auth/verify":    "answers as GET /auth/verify does (one handler)",
	"POST /oauth/device/deny": "the device approval page's other button; grants_device_test denies",
	"POST /dev/tokens":        "exists only with stamp serve --dev; TestDevTokens drives it",
}

// TestOpenAPIDescribesRealAnswers drives every operation of the OpenAPI
// document once on a real node, through openAPICheck: each grant at the
// token endpoint, introspection, revocation, device authorization,
// discovery, forward auth, the pages, the JSON API by session cookie with
// CSRF and by bearer token, and their error answers. Every request and
// response must match the document, and every documented operation but
// those of notDriven must have been answered.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	e := newEnv(t, "STAMP_PASSWORD_GRANT", "true")
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	var passwordID, passwordSecret string
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
		if strings.Contains(strings.ToLower(m[1]), "password") {
			passwordID, passwordSecret = m[2], m[3]
		}
	}
	if passwordID == "" {
		t.Fatalf("install printed no password client: %s", out)
	}
	email, password := "ada@example.test", "correct horse battery staple"
	e.createUser(n, email, password)
	machineID, machineSecret := e.createClient(n, "machine")
	webID, webSecret := e.newClient(n, "--name", "Ledger", "--redirect", webCallback)
	deviceID, _ := e.newClient(n, "--device", "--public", "--name", "TV")

	chk := newOpenAPICheck(t, n)
	c := chk.client(t)
	base := n.HTTPURL()
	want := func(what string, got, want int, body []byte) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %d %.300q; want %d", what, got, body, want)
		}
	}
	basic := func(id, secret string) []string {
		r, _ := http.NewRequest(http.MethodGet, base, nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return []string{"Authorization", r.Header.Get("Authorization")}
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	token := func(what string, status int, form url.Values, header ...string) {
		t.Helper()
		st, _, b := send(t, c, http.MethodPost, base+"/oauth/token", form, "", header...)
		want(what, st, status, b)
		tok.AccessToken, tok.RefreshToken = "", ""
		if status == http.StatusOK {
			if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
				t.Fatalf("%s: %s (%v)", what, b, err)
			}
		}
	}

	for _, p := range []string{"/openapi.json", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json",
		"/.well-known/stamp-log-keys.json", "/oauth/scopes", "/healthz", "/health/alive", "/health/ready", "/metrics"} {
		st, _, b := send(t, c, http.MethodGet, base+p, nil, "")
		want("GET "+p, st, http.StatusOK, b)
	}

	// The token endpoint: each grant, and its refusals.
	token("client credentials", http.StatusOK, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, basic(machineID, machineSecret)...)
	machineToken := tok.AccessToken
	token("password", http.StatusOK, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password},
		"scope": {"*"}, "client_id": {passwordID}, "client_secret": {passwordSecret}})
	userToken, refresh := tok.AccessToken, tok.RefreshToken
	token("refresh", http.StatusOK, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, basic(passwordID, passwordSecret)...)
	userToken = tok.AccessToken
	token("no grant_type", http.StatusBadRequest, url.Values{"scope": {"read"}}, basic(machineID, machineSecret)...)
	token("an unknown grant", http.StatusBadRequest, url.Values{"grant_type": {"magic"}}, basic(machineID, machineSecret)...)
	token("a wrong secret", http.StatusUnauthorized, url.Values{"grant_type": {"client_credentials"}}, basic(machineID, "wrong")...)

	// Introspection and revocation.
	st, _, b := send(t, c, http.MethodPost, base+"/oauth/introspect", url.Values{"token": {machineToken}}, "", basic(machineID, machineSecret)...)
	want("introspect", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/introspect", url.Values{"token": {"not-a-token"}}, "", basic(machineID, machineSecret)...)
	want("introspect garbage", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/introspect", url.Values{}, "", basic(machineID, machineSecret)...)
	want("introspect without a token", st, http.StatusBadRequest, b)

	// Device authorization, the first poll pending.
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/device/code", url.Values{"client_id": {deviceID}, "scope": {"read"}}, "")
	want("device code", st, http.StatusOK, b)
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if err := json.Unmarshal(b, &da); err != nil {
		t.Fatal(err)
	}
	token("a pending device", http.StatusBadRequest, url.Values{"grant_type": {deviceGrant}, "device_code": {da.DeviceCode}, "client_id": {deviceID}})

	// Forward auth.
	verify := base + "/auth/verify"
	st, h, b := send(t, c, http.MethodGet, verify+"?scopes=read", nil, "", "Authorization", "Bearer "+machineToken)
	want("verify", st, http.StatusOK, b)
	if h.Get("X-Stamp-Client-Id") != machineID {
		t.Errorf("verify: X-Stamp-Client-Id %q; want %s", h.Get("X-Stamp-Client-Id"), machineID)
	}
	st, _, b = send(t, c, http.MethodHead, verify, nil, "", "Authorization", "Bearer "+machineToken)
	want("verify HEAD", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodPost, verify+"?scopes=write", nil, "", "Authorization", "Bearer "+machineToken)
	want("verify a missing scope", st, http.StatusForbidden, b)
	st, _, b = send(t, c, http.MethodGet, verify, nil, "")
	want("verify without a token", st, http.StatusUnauthorized, b)
	st, _, b = send(t, c, http.MethodGet, verify+"?scoeps=read", nil, "", "Authorization", "Bearer "+machineToken)
	want("verify an unknown parameter", st, http.StatusBadRequest, b)

	// The JSON API by bearer token: a user's * token, and a token without
	// a user.
	st, _, b = send(t, c, http.MethodGet, base+"/oauth/clients", nil, "", "Authorization", "Bearer "+userToken, "Accept", "application/json")
	want("clients by bearer", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodGet, base+"/oauth/clients", nil, "", "Authorization", "Bearer "+machineToken, "Accept", "application/json")
	want("clients by a client's token", st, http.StatusForbidden, b)

	// The pages: log in, the dashboard and its assets.
	st, _, b = send(t, c, http.MethodGet, base+"/login?next=/", nil, "")
	want("login page", st, http.StatusOK, b)
	login := pageForm(t, b, "/login", "")
	login.Set("email", email)
	login.Set("password", "wrong password")
	st, _, b = send(t, c, http.MethodPost, base+"/login", login, "")
	want("a wrong password", st, http.StatusUnprocessableEntity, b)
	login.Set("password", password)
	st, _, b = send(t, c, http.MethodPost, base+"/login", login, "") // 303 to the dashboard
	want("login", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodGet, base+"/dashboard/app.js", nil, "")
	want("dashboard script", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodGet, base+"/dashboard/nothing.js", nil, "")
	want("no such asset", st, http.StatusNotFound, b)

	// The authorization code grant: the approval screen, approve, exchange;
	// then a denial.
	verifier := oauth2.GenerateVerifier()
	conf := &oauth2.Config{ClientID: webID, ClientSecret: webSecret, RedirectURL: webCallback, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	st, _, b = send(t, c, http.MethodGet, conf.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(verifier)), nil, "")
	want("approval screen", st, http.StatusOK, b)
	st, h, b = send(t, c, http.MethodPost, base+"/oauth/authorize", pageForm(t, b, "/oauth/authorize", ""), "")
	want("approve", st, http.StatusSeeOther, b)
	loc, err := url.Parse(h.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("approve redirected to %q; want a code", h.Get("Location"))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c)
	if _, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	conf.Scopes = []string{"read", "write"} // not yet approved: the screen again
	st, _, b = send(t, c, http.MethodGet, conf.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(verifier)), nil, "")
	want("approval screen for more", st, http.StatusOK, b)
	deny := pageForm(t, b, "/oauth/authorize", http.MethodDelete)
	deny.Del("_method")
	st, h, b = send(t, c, http.MethodDelete, base+"/oauth/authorize", deny, "")
	want("deny", st, http.StatusSeeOther, b)
	if !strings.Contains(h.Get("Location"), "error=access_denied") {
		t.Errorf("deny redirected to %q; want access_denied", h.Get("Location"))
	}

	// The device verification pages.
	st, _, b = send(t, c, http.MethodGet, base+"/oauth/device?user_code="+url.QueryEscape(da.UserCode), nil, "")
	want("device page", st, http.StatusOK, b)
	f := pageForm(t, b, "/oauth/device", "")
	f.Set("user_code", da.UserCode)
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/device", f, "")
	want("device confirmation", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/device/approve", pageForm(t, b, "/oauth/device/approve", ""), "")
	want("device approve", st, http.StatusOK, b)

	// The JSON API by session cookie and CSRF header.
	u, _ := url.Parse(base)
	var csrf string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "XSRF-TOKEN" {
			csrf = ck.Value
		}
	}
	api := func(what, method, path, body string, status int) []byte {
		t.Helper()
		st, _, b := send(t, c, method, base+path, nil, body, "X-CSRF-TOKEN", csrf, "Accept", "application/json")
		want(what, st, status, b)
		return b
	}
	st, _, b = send(t, c, http.MethodGet, base+"/oauth/clients", nil, "", "Accept", "application/json")
	want("clients without CSRF", st, http.StatusUnauthorized, b)
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(api("create a client", http.MethodPost, "/oauth/clients", `{"name":"Ada's app","redirect":"https://app.example/cb"}`, http.StatusCreated), &created); err != nil {
		t.Fatal(err)
	}
	api("create a public client", http.MethodPost, "/oauth/clients", `{"name":"SPA","redirect_uris":["https://spa.example/cb"],"confidential":false}`, http.StatusCreated)
	api("bad JSON", http.MethodPost, "/oauth/clients", `{"name":`, http.StatusBadRequest)
	api("list clients", http.MethodGet, "/oauth/clients", "", http.StatusOK)
	api("update a client", http.MethodPut, "/oauth/clients/"+created.ID, `{"name":"Ada's app 2","redirect":"https://app.example/cb"}`, http.StatusOK)
	api("an empty name", http.MethodPut, "/oauth/clients/"+created.ID, `{"name":"","redirect":"https://app.example/cb"}`, http.StatusUnprocessableEntity)
	api("delete a client", http.MethodDelete, "/oauth/clients/"+created.ID, "", http.StatusNoContent)
	api("delete it again", http.MethodDelete, "/oauth/clients/"+created.ID, "", http.StatusNotFound)
	var tokens []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(api("list tokens", http.MethodGet, "/oauth/tokens", "", http.StatusOK), &tokens); err != nil || len(tokens) == 0 {
		t.Fatalf("list tokens: %v, %d tokens; want the authorized ones", err, len(tokens))
	}
	api("revoke a token", http.MethodDelete, "/oauth/tokens/"+tokens[0].ID, "", http.StatusNoContent)
	var pat struct {
		Token struct {
			ID string `json:"id"`
		} `json:"token"`
	}
	if err := json.Unmarshal(api("create a personal access token", http.MethodPost, "/oauth/personal-access-tokens", `{"name":"cli","scopes":["read"]}`, http.StatusOK), &pat); err != nil {
		t.Fatal(err)
	}
	api("list personal access tokens", http.MethodGet, "/oauth/personal-access-tokens", "", http.StatusOK)
	api("revoke a personal access token", http.MethodDelete, "/oauth/personal-access-tokens/"+pat.Token.ID, "", http.StatusNoContent)
	api("renew the cookie token", http.MethodPost, "/oauth/token/refresh", "", http.StatusOK)

	// Wrong passwords run into the rate limit: 429 with Retry-After.
	wrong := url.Values{"grant_type": {"password"}, "username": {email}, "password": {"wrong"}, "scope": {"read"}}
	for i := range 10 {
		token(fmt.Sprint("wrong password ", i+1), http.StatusBadRequest, wrong, basic(passwordID, passwordSecret)...)
	}
	token("the 11th wrong password", http.StatusTooManyRequests, wrong, basic(passwordID, passwordSecret)...)

	// Revocation, the router's own answers, and logout.
	st, _, b = send(t, c, http.MethodPost, base+"/oauth/revoke", url.Values{"token": {machineToken}}, "", basic(machineID, machineSecret)...)
	want("revoke", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodGet, base+"/no/such/path", nil, "", "Accept", "application/json")
	want("an unknown path", st, http.StatusNotFound, b)
	st, _, b = send(t, c, http.MethodPut, base+"/oauth/token", nil, "")
	want("a wrong method", st, http.StatusMethodNotAllowed, b)
	st, _, b = send(t, c, http.MethodGet, base+"/", nil, "")
	want("dashboard", st, http.StatusOK, b)
	st, _, b = send(t, c, http.MethodPost, base+"/logout", pageForm(t, b, "/logout", ""), "") // 303 to the login page
	want("logout", st, http.StatusOK, b)

	var missed []string
	for _, op := range documentedOperations(t) {
		if !chk.seen[op] && notDriven[op] == "" && !adminOperation(op) { // TestAdminAPI drives the admin API
			missed = append(missed, op)
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("operations of openapi.json the test did not drive: %v", missed)
	}
}

// documentedOperations returns "METHOD /path" of each operation the
// OpenAPI document describes.
func documentedOperations(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for p, item := range doc.Paths {
		for m := range item {
			switch m {
			case "get", "head", "post", "put", "patch", "delete", "options":
				ops = append(ops, strings.ToUpper(m)+" "+p)
			}
		}
	}
	return ops
}

// pageForm returns the hidden fields of the form of an HTML page that
// posts to action (with _method set to method, when not empty).
func pageForm(t *testing.T, body []byte, action, method string) url.Values {
	t.Helper()
	return page{body: string(body), url: &url.URL{Path: "(page)"}}.form(t, action, method).fields
}
