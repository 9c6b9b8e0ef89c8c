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

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// verifyCall sends method to the node's target (a path and query, sent
// verbatim) with token as the bearer, without following redirects, and
// returns the status and the WWW-Authenticate header.
func verifyCall(t *testing.T, n *app.Node, method, target, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.HTTPURL()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Opaque keeps the path as written: no cleaning, no re-escaping.
	req.URL.Path, req.URL.RawQuery = "", ""
	req.URL.Opaque = "//" + req.URL.Host + target
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestVerifyFailsClosed reproduces finding 7 of issue 8 against the
// running program: a path that is not exactly /auth/verify (one slash too
// many or too few in a proxy's configuration) or a query parameter it does
// not know must not turn the scope check off. A token with "read" passes
// only /auth/verify?scopes=read; every other variant of a request for
// "admin" is refused, and none is a redirect a proxy might follow.
func TestVerifyFailsClosed(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "Reader", "--scopes", "read")
	token := issueClientToken(t, n, id, secret)

	if status, _ := verifyCall(t, n, http.MethodGet, "/auth/verify?scopes=read", token); status != http.StatusOK {
		t.Fatalf("/auth/verify?scopes=read: got %d; want 200", status)
	}
	if status, challenge := verifyCall(t, n, http.MethodGet, "/auth/verify?scopes=admin", token); status != http.StatusForbidden {
		t.Fatalf("/auth/verify?scopes=admin: got %d (%s); want 403", status, challenge)
	}

	paths := []string{
		"/auth/verify/?scopes=admin",
		"//auth/verify?scopes=admin",
		"/auth//verify?scopes=admin",
		"/auth/verify/x/..?scopes=admin",
		"/auth/verify/./?scopes=admin",
		"/auth/./verify?scopes=admin",
		"/auth/verify/api/orders?scopes=admin",
		"/auth/verify/%2e%2e?scopes=admin",
		"/AUTH/VERIFY?scopes=admin",
		"/auth/verify;x?scopes=admin",
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, p := range paths {
			if status, _ := verifyCall(t, n, method, p, token); status != http.StatusNotFound {
				t.Errorf("%s %s: got %d; want 404", method, p, status)
			}
		}
	}

	queries := []string{
		"?scope=admin&scopez=read",
		"?Scopes=admin",
		"?SCOPES=admin",
		"?scopess=admin",
		"?scopes[]=admin",
		"?scopes=read&audiance=https://api.example",
		"?scopes=read&scopes=admin",
		"?=admin",
		"?scopes=%zz",
	}
	for _, q := range queries {
		if status, _ := verifyCall(t, n, http.MethodGet, "/auth/verify"+q, token); status != http.StatusBadRequest {
			t.Errorf("/auth/verify%s: got %d; want 400", q, status)
		}
	}
}

// TestResourceIndicatorsEndToEnd: a client registered with two APIs'
// audiences (stamp client create --audience) gets tokens for either with
// RFC 8707's resource parameter; /auth/verify?audience= and a guard
// configured with an audience accept a token only where it was requested
// for, a resource the client lacks is invalid_target, and a token
// requested without a resource keeps today's aud (the client id).
func TestResourceIndicatorsEndToEnd(t *testing.T) {
	const orders, billing = "https://orders.example/api", "https://billing.example"
	e := newEnv(t)
	n := e.start()
	code, _, errOut := e.run("client", "create", "--client", "--name", "Bad", "--audience", "orders")
	if code == 0 || !strings.Contains(errOut, "audiences") {
		t.Errorf("client create with a relative audience: exit %d, %q; want a failure naming audiences", code, errOut)
	}
	id, secret := e.createClient(n, "Machine", "--scopes", "read", "--audience", orders, "--audience", billing+", ")
	token := func(resources ...string) (int, string, string) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "resource": resources}
		status, _, body := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, form)
		var tok struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
		}
		if err := json.Unmarshal(body, &tok); err != nil {
			t.Fatalf("token: %d %s", status, body)
		}
		return status, tok.AccessToken, tok.Error
	}
	_, forOrders, _ := token(orders)
	_, forBoth, _ := token(orders, billing)
	_, plain, _ := token()
	if status, _, errCode := token("https://admin.example"); status != http.StatusBadRequest || errCode != "invalid_target" {
		t.Errorf("unregistered resource: got %d %q; want 400 invalid_target", status, errCode)
	}
	if status, _, errCode := token(orders, "https://admin.example"); status != http.StatusBadRequest || errCode != "invalid_target" {
		t.Errorf("one unregistered resource of two: got %d %q; want 400 invalid_target", status, errCode)
	}
	if got := introspect(t, n, id, secret, forBoth)["aud"]; fmt.Sprint(got) != fmt.Sprint([]any{billing, orders}) {
		t.Errorf("introspected aud: got %v; want both resources", got)
	}
	if got := introspect(t, n, id, secret, plain)["aud"]; got != id {
		t.Errorf("aud without a resource: got %v; want the client id %s", got, id)
	}

	q := func(aud string) string { return "/auth/verify?scopes=read&audience=" + url.QueryEscape(aud) }
	tests := []struct {
		name, target, token string
		want                int
	}{
		{"orders token at orders", q(orders), forOrders, http.StatusOK},
		{"orders token at billing", q(billing), forOrders, http.StatusUnauthorized},
		{"token for both at billing", q(billing), forBoth, http.StatusOK},
		{"token without a resource at orders", q(orders), plain, http.StatusUnauthorized},
		{"token without a resource, its client id as audience", q(id), plain, http.StatusOK},
		{"no audience asked: any token", "/auth/verify?scopes=read", forOrders, http.StatusOK},
	}
	for _, tt := range tests {
		status, challenge := verifyCall(t, n, http.MethodGet, tt.target, tt.token)
		if status != tt.want {
			t.Errorf("%s: got %d (%s); want %d", tt.name, status, challenge, tt.want)
		}
		if status == http.StatusUnauthorized && !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("%s: challenge %q; want invalid_token", tt.name, challenge)
		}
	}

	// A guard for the billing API, configured with its audience.
	feed := openFeed(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := guard.New(ctx, guard.Options{Issuer: e.getenv("STAMP_ISSUER"), JWKSURL: n.HTTPURL() + "/.well-known/jwks.json", Feed: feed, Audience: billing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	if err := g.WaitCurrent(ctx); err != nil {
		t.Fatal(err)
	}
	rs := resourceServer(t, g)
	for _, tt := range []struct {
		name, token string
		want        int
	}{
		{"orders token", forOrders, http.StatusUnauthorized},
		{"token for both", forBoth, http.StatusOK},
		{"token without a resource", plain, http.StatusUnauthorized},
	} {
		if got := call(t, rs, "/read", tt.token); got != tt.want {
			t.Errorf("billing guard, %s: got %d; want %d", tt.name, got, tt.want)
		}
	}
}
