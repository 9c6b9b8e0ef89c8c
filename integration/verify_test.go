package integration

import (
	"net/http"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
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
