package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/httpapi/guard/guardtest"
)

// TestRoutes drives the server's routes with guardtest's tokens: no stamp,
// no NATS.
func TestRoutes(t *testing.T) {
	a := guardtest.New(t)
	srv := httptest.NewServer(routes(a.Guard))
	defer srv.Close()

	reader := a.ActingAs("user-1", "orders:read")
	writer := a.ActingAs("user-1", "orders:read", "orders:write")
	machine := a.ActingAsClient("billing")
	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"public needs no token", "/public", "", http.StatusOK},
		{"me without a token", "/me", "", http.StatusUnauthorized},
		{"me with a user token", "/me", reader, http.StatusOK},
		{"orders with the scope", "/orders", reader, http.StatusOK},
		{"orders without the scope", "/orders", a.ActingAs("user-1", "profile"), http.StatusForbidden},
		{"orders with a client token without the scope", "/orders", machine, http.StatusForbidden},
		{"admin with the admin scope", "/admin", a.ActingAs("user-1", "admin"), http.StatusOK},
		{"admin with every scope", "/admin", a.ActingAs("user-1", "*"), http.StatusOK},
		{"admin without", "/admin", reader, http.StatusForbidden},
		{"machine with a client token", "/machine", machine, http.StatusOK},
		{"machine with a user token", "/machine", reader, http.StatusUnauthorized},
		{"healthz", "/healthz", "", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := get(t, srv.URL+c.path, c.token, nil); got != c.want {
				t.Errorf("GET %s: status %d, want %d", c.path, got, c.want)
			}
		})
	}

	var orders struct {
		For      string `json:"for"`
		CanWrite bool   `json:"can_write"`
	}
	get(t, srv.URL+"/orders", writer, &orders)
	if orders.For != "user user-1" || !orders.CanWrite {
		t.Errorf("orders for a writer: %+v, want for user user-1 and can_write", orders)
	}
	get(t, srv.URL+"/orders", reader, &orders)
	if orders.CanWrite {
		t.Errorf("orders for a reader: can_write is true")
	}
	var me struct {
		ClientID string `json:"client_id"`
		UserID   string `json:"user_id"`
	}
	get(t, srv.URL+"/me", machine, &me)
	if me.ClientID != "billing" || me.UserID != "" {
		t.Errorf("me for a client token: %+v, want client billing and no user", me)
	}
}

// TestRoutesRevocation: a revoked token, a deleted user's and a deleted
// client's are refused at once; unavailable revocations fail closed.
func TestRoutesRevocation(t *testing.T) {
	a := guardtest.New(t)
	srv := httptest.NewServer(routes(a.Guard))
	defer srv.Close()

	tok, other, machine := a.ActingAs("user-1", "orders:read"), a.ActingAs("user-1", "orders:read"), a.ActingAsClient("billing")
	a.Revoke(tok)
	if got := get(t, srv.URL+"/orders", tok, nil); got != http.StatusUnauthorized {
		t.Errorf("revoked token: status %d, want 401", got)
	}
	if got := get(t, srv.URL+"/orders", other, nil); got != http.StatusOK {
		t.Errorf("another token of the user: status %d, want 200", got)
	}
	a.Feed.DeleteUser("user-1")
	if got := get(t, srv.URL+"/orders", other, nil); got != http.StatusUnauthorized {
		t.Errorf("deleted user's token: status %d, want 401", got)
	}
	a.Feed.DeleteClient("billing")
	if got := get(t, srv.URL+"/machine", machine, nil); got != http.StatusUnauthorized {
		t.Errorf("deleted client's token: status %d, want 401", got)
	}
	a.Feed.SetCurrent(false)
	if got := get(t, srv.URL+"/healthz", "", nil); got != http.StatusServiceUnavailable {
		t.Errorf("healthz while revocations are not current: status %d, want 503", got)
	}
	if got := get(t, srv.URL+"/me", a.ActingAs("user-2"), nil); got != http.StatusServiceUnavailable {
		t.Errorf("me while revocations are not current: status %d, want 503", got)
	}
}

// get sends GET url with token ("" for none), decodes a 200 body into v
// when not nil, and returns the status.
func get(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		guardtest.Authorize(req, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestLogPublicKeyFlag: --log-public-key makes the feed trust that key
// (and so refuse revocations it did not sign); a key that is not one is a
// flag error.
func TestLogPublicKeyFlag(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseFlags([]string{"--issuer", "http://stamp.test", "--log-public-key", base64.RawURLEncoding.EncodeToString(pub)}, io.Discard)
	if err != nil || !pub.Equal(c.logKey) || len(trusted(c.logKey)) != 1 {
		t.Errorf("parseFlags: key %x, trusted %d, err %v; want the key, trusted", c.logKey, len(trusted(c.logKey)), err)
	}
	if _, err := parseFlags([]string{"--issuer", "http://stamp.test", "--log-public-key", "not-a-key"}, io.Discard); err == nil {
		t.Error("parseFlags with a bad --log-public-key: want an error")
	}
	if c, _ := parseFlags([]string{"--issuer", "http://stamp.test"}, io.Discard); trusted(c.logKey) != nil {
		t.Error("no --log-public-key: want no trusted keys")
	}
}

// TestRoutesMetrics: /metrics serves the guard's families, and its
// verification count moves with a request.
func TestRoutesMetrics(t *testing.T) {
	a := guardtest.New(t)
	srv := httptest.NewServer(routes(a.Guard))
	defer srv.Close()
	if got := get(t, srv.URL+"/me", a.ActingAs("user-1"), nil); got != http.StatusOK {
		t.Fatalf("GET /me: status %d, want 200", got)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	for _, want := range []string{
		`stamp_guard_verifications_total{result="valid"} 1`,
		`stamp_guard_revocation_feed_current 1`,
		`stamp_guard_revocation_feed_lag_seconds 0`,
		`stamp_guard_revocations{kind="token"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
