package integration

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// verifyWithCookies asks base's /auth/verify with the stamp_token and
// XSRF-TOKEN cookies (each when not empty), the X-CSRF-TOKEN header and a
// bearer token (when set); it returns the status and the user the answer
// names.
func verifyWithCookies(t *testing.T, base, query, token, xsrf, csrf, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/auth/verify"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "stamp_token", Value: token})
	}
	if xsrf != "" {
		req.AddCookie(&http.Cookie{Name: "XSRF-TOKEN", Value: xsrf})
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-TOKEN", csrf)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Stamp-User-Id")
}

// TestVerifyAcceptsCookie: /auth/verify accepts the dashboard's cookie
// token with its CSRF header only when verify_accepts_cookie is on; the
// cookie alone, or with a wrong header, is 401 either way, and so is
// another kind of token put in the cookie, or a revoked cookie token.
func TestVerifyAcceptsCookie(t *testing.T) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if on {
				e.vars["STAMP_VERIFY_ACCEPTS_COOKIE"] = "true"
			}
			n := e.start()
			base := n.HTTPURL()
			code, out, errOut := e.run("install")
			if code != 0 {
				t.Fatalf("install: exit %d: %s", code, errOut)
			}
			for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
				e.awaitClient(n, m[2])
			}
			userID := e.createUser(n, "ada@example.com", "a long enough password")
			ada := loggedIn(t, n, "ada@example.com", "a long enough password")
			csrf, token := cookie(ada, "XSRF-TOKEN"), cookie(ada, "stamp_token")
			if csrf == "" || token == "" {
				t.Fatalf("after login: XSRF-TOKEN %q, stamp_token %q; want both", csrf, token)
			}

			status, user := verifyWithCookies(t, base, "?scopes=orders:read", token, csrf, csrf, "")
			if on && (status != http.StatusOK || user != userID) {
				t.Errorf("cookie token with its CSRF header, opted in: %d user %q; want 200 for %s", status, user, userID)
			}
			if !on && status != http.StatusUnauthorized {
				t.Errorf("cookie token with its CSRF header, not opted in: %d; want 401", status)
			}
			for _, c := range []struct {
				name                      string
				token, xsrf, csrf, bearer string
			}{
				{"the cookie alone", token, "", "", ""},
				{"without the CSRF header", token, csrf, "", ""},
				{"with a wrong CSRF header", token, csrf, "wrong", ""},
				{"the header without the XSRF-TOKEN cookie", token, "", csrf, ""},
				{"an invalid bearer token beside a good cookie (the bearer decides)", token, csrf, csrf, "not-a-token"},
			} {
				if status, _ := verifyWithCookies(t, base, "", c.token, c.xsrf, c.csrf, c.bearer); status != http.StatusUnauthorized {
					t.Errorf("%s: %d; want 401", c.name, status)
				}
			}

			// Only cookie tokens ride in the cookie: a client-credentials
			// token put there is refused, though it is valid as a bearer.
			id, secret := e.createClient(n, "machine")
			st, _, body := postForm(t, base+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(body, &tok); st != http.StatusOK || tok.AccessToken == "" {
				t.Fatalf("token: %d %s", st, body)
			}
			if status, _ := verifyWithCookies(t, base, "", tok.AccessToken, csrf, csrf, ""); status != http.StatusUnauthorized {
				t.Errorf("a client-credentials token in the cookie: %d; want 401", status)
			}
			if status, _ := verifyWithCookies(t, base, "", "", "", "", tok.AccessToken); status != http.StatusOK {
				t.Errorf("the same token as a bearer: %d; want 200", status)
			}

			// Logout revokes the cookie token: refused at once.
			logout := ada.get("/").form(t, "/logout", "")
			if p := ada.post(logout.action, logout.fields); p.url.Path != "/login" {
				t.Fatalf("logout led to %s; want /login", p.url)
			}
			if status, _ := verifyWithCookies(t, base, "", token, csrf, csrf, ""); status != http.StatusUnauthorized {
				t.Errorf("a logged-out cookie token with its CSRF header: %d; want 401", status)
			}
		})
	}
}
