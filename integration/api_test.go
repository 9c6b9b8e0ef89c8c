package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// apiCall sends a JSON API request with b's cookies and, when csrf is not
// empty, the X-CSRF-TOKEN header; bearer, when set, replaces the cookies.
func apiCall(t *testing.T, b *browser, method, path, body, csrf, bearer string) (int, string) {
	t.Helper()
	u, _ := b.base.Parse(path)
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-TOKEN", csrf)
	}
	client := b.client
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b2, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b2)
}

func cookie(b *browser, name string) string {
	for _, c := range b.client.Jar.Cookies(b.base) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// loggedIn logs a new browser in as email and returns it.
func loggedIn(t *testing.T, n *app.Node, email, password string) *browser {
	t.Helper()
	b := newBrowser(t, n)
	p := b.login(b.get("/login?next=/"), email, password)
	if p.status != http.StatusOK || p.url.Path != "/" {
		t.Fatalf("login led to %d at %s; want the dashboard", p.status, p.url)
	}
	return b
}

// TestJSONAPIAndCookieToken drives Passport's JSON API on a real node the
// way the dashboard does: the cookie token with the CSRF header, refused
// without it; someone else's client is not found; the cookie token works
// as a bearer at /auth/verify and fails at once after logout; a deleted
// client's token is refused by /auth/verify.
func TestJSONAPIAndCookieToken(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
	}
	e.createUser(n, "ada@example.com", "a long enough password")
	e.createUser(n, "bob@example.com", "another long password")

	ada := loggedIn(t, n, "ada@example.com", "a long enough password")
	csrf, token := cookie(ada, "XSRF-TOKEN"), cookie(ada, "stamp_token")
	if csrf == "" || token == "" {
		t.Fatalf("after login: XSRF-TOKEN %q, stamp_token %q; want both", csrf, token)
	}
	if status, body := apiCall(t, ada, "GET", "/oauth/clients", "", "", ""); status != http.StatusUnauthorized {
		t.Errorf("the cookie path without X-CSRF-TOKEN: got %d %s; want 401", status, body)
	}
	if status, body := apiCall(t, ada, "GET", "/oauth/clients", "", "wrong", ""); status != http.StatusUnauthorized {
		t.Errorf("a wrong X-CSRF-TOKEN: got %d %s; want 401", status, body)
	}
	status, body := apiCall(t, ada, "POST", "/oauth/clients", `{"name":"Ada's app","redirect":"https://app.example/cb"}`, csrf, "")
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if json.Unmarshal([]byte(body), &created); status != http.StatusCreated || created.ID == "" || created.Secret == "" {
		t.Fatalf("create a client: got %d %s; want 201 with an id and a secret", status, body)
	}
	if status, body := apiCall(t, ada, "PUT", "/oauth/clients/"+created.ID, `{"name":"","redirect":"https://app.example/cb"}`, csrf, ""); status != http.StatusUnprocessableEntity || !strings.Contains(body, `"name"`) {
		t.Errorf("an empty name: got %d %s; want 422 naming the field", status, body)
	}
	if status, body := apiCall(t, ada, "GET", "/oauth/clients", "", csrf, ""); status != http.StatusOK || !strings.Contains(body, created.ID) || strings.Contains(body, "secret_hash") {
		t.Errorf("list clients: got %d %s; want the client, without its hash", status, body)
	}

	bob := loggedIn(t, n, "bob@example.com", "another long password")
	bobCSRF := cookie(bob, "XSRF-TOKEN")
	if status, _ := apiCall(t, bob, "DELETE", "/oauth/clients/"+created.ID, "", bobCSRF, ""); status != http.StatusNotFound {
		t.Errorf("someone else's client: got %d; want 404", status)
	}

	// The cookie token is a real access token: a reverse proxy accepts it…
	status, _ = apiCall(t, ada, "GET", "/auth/verify", "", "", token)
	if status != http.StatusOK {
		t.Fatalf("/auth/verify with the cookie token: got %d; want 200", status)
	}
	// …until logout, which revokes it at once.
	page := ada.get("/")
	logout := page.form(t, "/logout", "")
	if p := ada.post(logout.action, logout.fields); p.url.Path != "/login" {
		t.Fatalf("logout led to %s; want /login", p.url)
	}
	if status, _ := apiCall(t, ada, "GET", "/auth/verify", "", "", token); status != http.StatusUnauthorized {
		t.Errorf("the cookie token right after logout: got %d; want 401", status)
	}

	// A deleted client's token is refused.
	id, secret := e.createClient(n, "machine")
	st, _, tokBody := postForm(t, n.HTTPURL()+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(tokBody, &tok); st != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", st, tokBody)
	}
	if code, _, errOut := e.run("client", "delete", id); code != 0 {
		t.Fatalf("client delete: %s", errOut)
	}
	waitFor(t, "the server to refuse a deleted client's token", func() bool {
		status, _ := apiCall(t, ada, "GET", "/auth/verify", "", "", tok.AccessToken)
		return status == http.StatusUnauthorized
	})
}
