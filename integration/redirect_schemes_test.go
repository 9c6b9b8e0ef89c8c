package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRedirectURISchemesRefused: a redirect URI that is not http(s) or a
// private-use scheme with a '.' (RFC 8252 §7.1) is refused at
// registration: the CLI exits non-zero with a message naming the
// redirect URI, the JSON API answers 422 naming the field, and nothing is
// registered; a native app's reverse-domain scheme is accepted.
func TestRedirectURISchemesRefused(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	bad := []string{"javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "myapp:/cb"}
	for _, uri := range bad {
		code, out, errOut := e.run("client", "create", "--public", "--name", "Bad", "--redirect", uri)
		if code == 0 || !strings.Contains(errOut, "redirect") || strings.Contains(errOut, "panic") {
			t.Errorf("CLI with --redirect %s: exit %d, stdout %q, stderr %q; want a non-zero exit and a message about the redirect URI", uri, code, out, errOut)
		}
	}
	if _, secret := e.newClient(n, "--public", "--name", "Native", "--redirect", "com.example.app:/oauth2redirect"); secret != "" {
		t.Errorf("a public client got a secret")
	}

	e.createUser(n, "ada@example.test", "a long enough password")
	b := loggedIn(t, n, "ada@example.test", "a long enough password")
	csrf := cookie(b, "XSRF-TOKEN")
	for _, uri := range bad {
		body, _ := json.Marshal(map[string]string{"name": "Bad", "redirect": uri})
		status, got := apiCall(t, b, "POST", "/oauth/clients", string(body), csrf, "")
		var v struct {
			Errors map[string][]string `json:"errors"`
		}
		if json.Unmarshal([]byte(got), &v); status != http.StatusUnprocessableEntity || len(v.Errors["redirect"]) == 0 {
			t.Errorf("API with redirect %s: got %d %s; want 422 naming redirect", uri, status, got)
		}
	}
	status, got := apiCall(t, b, "GET", "/oauth/clients", "", csrf, "")
	if status != http.StatusOK || strings.Contains(got, "Bad") {
		t.Errorf("clients after the refusals: got %d %s; want none named Bad", status, got)
	}
}
