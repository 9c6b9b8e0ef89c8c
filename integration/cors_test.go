package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// corsDo sends one request with an Origin header and returns its status
// and headers. A preflight (method OPTIONS) asks for POST with the
// headers a single-page app's token request sends.
func corsDo(t *testing.T, method, u, origin, clientID, secret string, form url.Values) (int, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// TestCORS: the token and revocation endpoints answer CORS for the web
// origins clients registered (README "Browser apps: CORS"): a preflight
// for an origin any live client registered, an actual answer only for the
// origin of the client the request identifies; the JWKS and the metadata
// for any origin; nothing else for any.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	const app1, app2, evil = "https://app.example", "http://localhost:5173", "https://evil.example"
	const other = "https://other.example"
	a, aSecret := e.createClient(n, "spa backend", "--web-origin", app1, "--web-origin", app2)
	b, bSecret := e.createClient(n, "other", "--web-origin", other)
	c, cSecret := e.createClient(n, "no origins")
	base := n.HTTPURL()
	for _, bad := range []string{"*", "https://app.example/spa", "https://App.example", "app.example"} {
		code, _, errOut := e.run("client", "create", "--client", "--name", "bad", "--web-origin", bad)
		if code == 0 || !strings.Contains(errOut, "web_origins") {
			t.Errorf("client create --web-origin %q: exit %d, %q; want a refusal naming web_origins", bad, code, errOut)
		}
	}
	cc := url.Values{"grant_type": {"client_credentials"}}

	t.Run("preflight", func(t *testing.T) {
		for _, path := range []string{"/oauth/token", "/oauth/revoke"} {
			for _, origin := range []string{app1, app2, other} {
				status, h := corsDo(t, http.MethodOptions, base+path, origin, "", "", nil)
				if status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
					!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
					!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
					!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
					h.Get("Access-Control-Max-Age") != "600" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
					t.Errorf("OPTIONS %s from %s: %d %v; want 204 granting the origin, POST, its headers, a max age and Vary: Origin", path, origin, status, h)
				}
				if h.Get("Access-Control-Allow-Credentials") != "" {
					t.Errorf("OPTIONS %s: credentials allowed; no cookie is involved", path)
				}
			}
		}
	})

	refused := []struct {
		name, method, path, origin string
	}{
		{"unregistered origin, token", http.MethodOptions, "/oauth/token", evil},
		{"unregistered origin, revoke", http.MethodOptions, "/oauth/revoke", evil},
		{"a registered origin with a path", http.MethodOptions, "/oauth/token", app1 + "/"},
		{"the origin's default port spelt out", http.MethodOptions, "/oauth/token", app1 + ":443"},
		{"introspection", http.MethodOptions, "/oauth/introspect", app1},
		{"the JSON API", http.MethodOptions, "/oauth/clients", app1},
		{"the scopes", http.MethodOptions, "/oauth/scopes", app1},
		{"the authorize page", http.MethodOptions, "/oauth/authorize", app1},
		{"forward auth", http.MethodOptions, "/auth/verify", app1},
		{"device code", http.MethodOptions, "/oauth/device/code", app1},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			_, h := corsDo(t, tt.method, base+tt.path, tt.origin, "", "", nil)
			for k := range h {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s from %s: header %s: %q; want no CORS header", tt.method, tt.path, tt.origin, k, h.Get(k))
				}
			}
		})
	}

	t.Run("actual", func(t *testing.T) {
		for _, tt := range []struct {
			name, origin, id, secret string
			status                   int
			allow                    string
		}{
			{"the client's origin", app1, a, aSecret, http.StatusOK, app1},
			{"the client's other origin", app2, a, aSecret, http.StatusOK, app2},
			{"a failed authentication of the client from its origin", app1, a, "wrong", http.StatusUnauthorized, app1},
			{"another client's origin", other, a, aSecret, http.StatusOK, ""},
			{"an unregistered origin", evil, a, aSecret, http.StatusOK, ""},
			{"the other client from its own origin", other, b, bSecret, http.StatusOK, other},
			{"a client without origins", app1, c, cSecret, http.StatusOK, ""},
			{"an unknown client", app1, "no-such-client", "x", http.StatusUnauthorized, ""},
		} {
			status, h := corsDo(t, http.MethodPost, base+"/oauth/token", tt.origin, tt.id, tt.secret, cc)
			if status != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allow || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("%s: POST /oauth/token: %d, Access-Control-Allow-Origin %q, Vary %q; want %d, %q, Origin",
					tt.name, status, h.Get("Access-Control-Allow-Origin"), h.Values("Vary"), tt.status, tt.allow)
			}
		}
		// Revocation, with a real token of the client.
		status, _, body := postForm(t, base+"/oauth/token", a, aSecret, cc)
		if status != http.StatusOK {
			t.Fatalf("token: %d %s", status, body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("token: %s (%v)", body, err)
		}
		token := tok.AccessToken
		status, h := corsDo(t, http.MethodPost, base+"/oauth/revoke", app1, a, aSecret, url.Values{"token": {token}})
		if status != http.StatusOK || h.Get("Access-Control-Allow-Origin") != app1 {
			t.Errorf("POST /oauth/revoke from the client's origin: %d %v; want 200 granting %s", status, h, app1)
		}
		status, h = corsDo(t, http.MethodPost, base+"/oauth/revoke", other, a, aSecret, url.Values{"token": {token}})
		if status != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("POST /oauth/revoke from another client's origin: %d %v; want 200 without CORS", status, h)
		}
		// Introspection is for confidential back ends, never a browser.
		status, h = corsDo(t, http.MethodPost, base+"/oauth/introspect", app1, a, aSecret, url.Values{"token": {token}})
		if status != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("POST /oauth/introspect from the client's origin: %d %v; want 200 without CORS", status, h)
		}
	})

	t.Run("public documents", func(t *testing.T) {
		for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server"} {
			status, h := corsDo(t, http.MethodGet, base+path, evil, "", "", nil)
			if status != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("GET %s from %s: %d %v; want 200 for any origin", path, evil, status, h)
			}
			req, _ := http.NewRequest(http.MethodOptions, base+path, nil)
			req.Header.Set("Origin", evil)
			req.Header.Set("Access-Control-Request-Method", http.MethodGet)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
				t.Errorf("OPTIONS %s: %d %v; want 204 granting GET to any origin", path, resp.StatusCode, resp.Header)
			}
		}
	})

	t.Run("deleted client", func(t *testing.T) {
		if code, _, errOut := e.run("client", "delete", b); code != 0 {
			t.Fatalf("client delete: %s", errOut)
		}
		waitFor(t, "the deletion to be applied", func() bool {
			c, err := n.Views().Client(context.Background(), b)
			return err == nil && c.Deleted
		})
		if _, h := corsDo(t, http.MethodOptions, base+"/oauth/token", other, "", "", nil); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from a deleted client's origin: %v; want refused", h)
		}
		if _, h := corsDo(t, http.MethodOptions, base+"/oauth/token", app1, "", "", nil); h.Get("Access-Control-Allow-Origin") != app1 {
			t.Errorf("preflight from a live client's origin after another's deletion: %v; want granted", h)
		}
	})
}
