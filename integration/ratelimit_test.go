package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// The rate limits through real HTTP (README "Rate limits"). The tests
// reach the node from 127.0.0.1; with STAMP_TRUSTED_PROXIES=127.0.0.1 they
// play a reverse proxy and name the client's address in X-Forwarded-For.

const ownerPassword = "correct horse battery staple"

// limitNode starts a node with the password grant and extra settings,
// one user and a password-grant client.
func limitNode(t *testing.T, extra ...string) (n *app.Node, e *env, email, clientID, secret string) {
	t.Helper()
	e = newEnv(t, append([]string{"STAMP_PASSWORD_GRANT", "true"}, extra...)...)
	n = e.start()
	email = "ada@example.test"
	e.createUser(n, email, ownerPassword)
	clientID, secret = e.newClient(n, "--password", "--name", "Password app")
	return n, e, email, clientID, secret
}

// answer is an HTTP answer with its JSON body, if any.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// postFrom posts form to path on n with HTTP Basic client authentication
// (when clientID is set) as if from address xff (when set).
func postFrom(t *testing.T, n *app.Node, path, clientID, secret, xff string, form url.Values) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.HTTPURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

// passwordGrant asks for a token with the password grant from xff.
func passwordGrant(t *testing.T, n *app.Node, clientID, secret, xff, email, password string) answer {
	t.Helper()
	return postFrom(t, n, "/oauth/token", clientID, secret, xff,
		url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}})
}

// wantLimited checks a 429 in RFC 6749's shape with a Retry-After.
func wantLimited(t *testing.T, what string, a answer) {
	t.Helper()
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != http.StatusTooManyRequests || err != nil || secs < 1 ||
		a.body["error"] != "invalid_request" || a.body["error_description"] != "too many attempts, retry later" {
		t.Fatalf("%s: got %d, Retry-After %q, %s; want 429, Retry-After seconds, invalid_request \"too many attempts, retry later\"",
			what, a.status, a.header.Get("Retry-After"), a.raw)
	}
}

func wantStatus(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	if a.status != status || (code != "" && a.body["error"] != code) {
		t.Fatalf("%s: got %d %s; want %d %s", what, a.status, a.raw, status, code)
	}
}

// TestPasswordGrantSuccessesAreNotLimited: a hundred correct password
// grants for one user, four at a time, all get tokens: only failures
// count. Then wrong passwords do run into the limit (10, then 429).
func TestPasswordGrantSuccessesAreNotLimited(t *testing.T) {
	n, _, email, id, secret := limitNode(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
		jobs   = make(chan int)
	)
	for range 4 {
		wg.Go(func() {
			for i := range jobs {
				if a := passwordGrant(t, n, id, secret, "", email, ownerPassword); a.status != http.StatusOK {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("grant %d: %d %s", i, a.status, a.raw))
					mu.Unlock()
				}
			}
		})
	}
	for i := range 100 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of 100 correct password grants failed; first: %s", len(failed), failed[0])
	}
	for i := range 10 {
		wantStatus(t, fmt.Sprint("wrong password ", i+1), passwordGrant(t, n, id, secret, "", email, "wrong"), http.StatusBadRequest, "invalid_grant")
	}
	wantLimited(t, "the 11th wrong password", passwordGrant(t, n, id, secret, "", email, "wrong"))
}

// TestWrongPasswordsDoNotLockOutTheOwner: behind a trusted proxy, wrong
// passwords from address A limit A (password grant and login page alike),
// while the owner at address B gets a token and logs in.
func TestWrongPasswordsDoNotLockOutTheOwner(t *testing.T) {
	n, _, email, id, secret := limitNode(t, "STAMP_TRUSTED_PROXIES", "127.0.0.1")
	const attacker, owner = "203.0.113.66", "198.51.100.7"
	for i := range 10 {
		wantStatus(t, fmt.Sprint("wrong password ", i+1), passwordGrant(t, n, id, secret, attacker, email, "guess"), http.StatusBadRequest, "invalid_grant")
	}
	wantLimited(t, "A's 11th attempt, with the right password", passwordGrant(t, n, id, secret, attacker, email, ownerPassword))

	wantStatus(t, "the owner's grant from B", passwordGrant(t, n, id, secret, owner, email, ownerPassword), http.StatusOK, "")
	b := newBrowser(t, n).from(owner)
	if p := b.login(b.get("/login"), email, ownerPassword); p.status >= 400 || p.url.Path == "/login" {
		t.Fatalf("the owner's login from B: got %d at %s; want logged in", p.status, p.url)
	}

	a := newBrowser(t, n).from(attacker)
	p := a.login(a.get("/login"), email, ownerPassword)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many failed attempts. Wait about") {
		t.Fatalf("a login from A: got %d, Retry-After %q, %.300q; want 429 with a message for a person", p.status, p.header.Get("Retry-After"), p.body)
	}
}

// TestForwardedForIgnoredWithoutTrustedProxies: without
// --trusted-proxies, X-Forwarded-For and Forwarded change nothing: every
// attempt counts against the peer, whatever address the headers claim.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	n, _, email, id, secret := limitNode(t)
	for i := range 10 {
		wantStatus(t, fmt.Sprint("wrong password ", i+1), passwordGrant(t, n, id, secret, fmt.Sprintf("203.0.113.%d", i+1), email, "guess"), http.StatusBadRequest, "invalid_grant")
	}
	wantLimited(t, "a claimed fresh address", passwordGrant(t, n, id, secret, "198.51.100.7", email, ownerPassword))
	req := url.Values{"grant_type": {"password"}, "username": {email}, "password": {ownerPassword}}
	r, _ := http.NewRequest(http.MethodPost, n.HTTPURL()+"/oauth/token", strings.NewReader(req.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Forwarded", "for=198.51.100.8")
	r.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a claimed fresh address in Forwarded: got %d; want 429", resp.StatusCode)
	}
}

// TestClientAuthenticationFailuresLimited: 80 wrong secrets from one
// address, spread over every client-authenticated endpoint: 20 answers
// 401 invalid_client, then 429 with Retry-After and RFC 6749 JSON. Wrong
// secrets from other addresses spend the client id's 60 too: a further
// wrong one is 429 from anywhere, but the right secret still works.
func TestClientAuthenticationFailuresLimited(t *testing.T) {
	n, e, _, _, _ := limitNode(t, "STAMP_TRUSTED_PROXIES", "127.0.0.1/32")
	id, secret := e.newClient(n, "--client", "--name", "Machine")
	endpoints := []struct {
		path string
		form url.Values
	}{
		{"/oauth/token", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth/introspect", url.Values{"token": {"x"}}},
		{"/oauth/revoke", url.Values{"token": {"x"}}},
		{"/oauth/device/code", url.Values{"scope": {"read"}}},
	}
	for i := range 80 {
		ep := endpoints[i%len(endpoints)]
		a := postFrom(t, n, ep.path, id, "wrong-secret", "", ep.form)
		what := fmt.Sprintf("wrong secret %d at %s", i+1, ep.path)
		if i < 20 {
			wantStatus(t, what, a, http.StatusUnauthorized, "invalid_client")
			continue
		}
		wantLimited(t, what, a)
	}
	wantLimited(t, "the right secret from the limited address", postFrom(t, n, "/oauth/token", id, secret, "", endpoints[0].form))

	// 20 failures counted for the client id so far; 40 more spend it.
	for _, from := range []string{"198.51.100.1", "198.51.100.2"} {
		for i := range 20 {
			wantStatus(t, fmt.Sprintf("wrong secret %d from %s", i+1, from), postFrom(t, n, "/oauth/token", id, "wrong", from, endpoints[0].form), http.StatusUnauthorized, "invalid_client")
		}
	}
	wantLimited(t, "a wrong secret from a fresh address, the client id spent", postFrom(t, n, "/oauth/introspect", id, "wrong", "198.51.100.3", endpoints[1].form))
	wantStatus(t, "the right secret from a fresh address", postFrom(t, n, "/oauth/token", id, secret, "198.51.100.3", endpoints[0].form), http.StatusOK, "")
}

// TestUserCodeGuessingLimited: a logged-in user typing wrong device codes
// gets 10 tries, then a 429 page with Retry-After, even for the right
// code; another user at another address enters it.
func TestUserCodeGuessingLimited(t *testing.T) {
	n, e, email, _, _ := limitNode(t, "STAMP_TRUSTED_PROXIES", "127.0.0.1")
	e.createUser(n, "bob@example.test", ownerPassword)
	id, _ := e.newClient(n, "--device", "--public", "--name", "TV")
	da := postFrom(t, n, "/oauth/device/code", "", "", "", url.Values{"client_id": {id}, "scope": {"read"}})
	userCode, _ := da.body["user_code"].(string)
	if da.status != http.StatusOK || userCode == "" {
		t.Fatalf("device authorization: %d %s", da.status, da.raw)
	}

	b := newBrowser(t, n).from("203.0.113.5")
	p := b.login(b.get("/oauth/device"), email, ownerPassword)
	for i := range 10 {
		if p = b.enterUserCode(p, fmt.Sprintf("BBBB-%04d", i)); p.status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong code %d: got %d; want 422", i+1, p.status)
		}
	}
	p = b.enterUserCode(p, userCode)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many wrong codes. Wait about") {
		t.Fatalf("the 11th code: got %d, Retry-After %q, %.300q; want 429 with a message", p.status, p.header.Get("Retry-After"), p.body)
	}

	other := newBrowser(t, n).from("198.51.100.9")
	p = other.enterUserCode(other.login(other.get("/oauth/device"), "bob@example.test", ownerPassword), userCode)
	if p.status != http.StatusOK || !strings.Contains(p.body, "<strong>TV</strong>") {
		t.Fatalf("another user elsewhere: got %d %.300q; want the confirmation screen", p.status, p.body)
	}
}

// from returns a browser sharing b's cookies whose requests come, through
// a trusted proxy, from addr.
func (b *browser) from(addr string) *browser {
	c := *b
	client := *b.client
	client.Transport = forwardedTransport{addr}
	c.client = &client
	return &c
}

// forwardedTransport adds X-Forwarded-For, as a reverse proxy would.
type forwardedTransport struct{ addr string }

func (f forwardedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return http.DefaultTransport.RoundTrip(r)
}
