package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// syncBuffer is a bytes.Buffer a server goroutine writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveDev runs `stamp serve args...` with e's settings until stop is
// called, which waits for it and returns its exit code.
func (e *env) serveDev(stderr io.Writer, args ...string) (stop func() int) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- app.Main(ctx, append([]string{"serve"}, args...), app.IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Getenv: e.getenv})
	}()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				e.t.Errorf("stamp serve did not stop within 30s")
			}
		})
		return code
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

// waitServing polls dataDir/serve.json until the server there serves, and
// returns its HTTP URL.
func waitServing(t *testing.T, dataDir string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info struct {
			HTTPURL string `json:"http_url"`
		}
		if b, err := os.ReadFile(filepath.Join(dataDir, "serve.json")); err == nil && json.Unmarshal(b, &info) == nil && info.HTTPURL != "" {
			return info.HTTPURL
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server wrote %s within 30s", filepath.Join(dataDir, "serve.json"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// devToken posts body (form values or, when asJSON, the same as JSON) to
// /dev/tokens and returns the status and decoded answer.
func devToken(t *testing.T, base string, body any) (int, map[string]any) {
	t.Helper()
	var req *http.Request
	var err error
	switch b := body.(type) {
	case url.Values:
		req, err = http.NewRequest(http.MethodPost, base+"/dev/tokens", strings.NewReader(b.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	default:
		raw, _ := json.Marshal(b)
		req, err = http.NewRequest(http.MethodPost, base+"/dev/tokens", bytes.NewReader(raw))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("POST /dev/tokens: status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// TestDevTokens: `stamp serve --dev` mints real tokens at POST
// /dev/tokens, recorded in the log and active at introspection.
func TestDevTokens(t *testing.T) {
	e := newEnv(t)
	var stderr syncBuffer
	stop := e.serveDev(&stderr, "--dev")
	base := waitServing(t, e.dataDir)
	if !strings.Contains(stderr.String(), "DEVELOPMENT MODE") || !strings.Contains(stderr.String(), "level=WARN") {
		t.Errorf("stderr lacks the dev banner or the warning log line:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), e.dataDir+" (kept") {
		t.Errorf("stderr does not say the explicit data directory is kept:\n%s", stderr.String())
	}
	callerID, callerSecret := e.createClient(nil, "introspector")

	// A user token, the user registered by email on first use; form body.
	status, got := devToken(t, base, url.Values{"sub": {"ann@example.com"}, "scopes": {"read write"}, "audience": {"https://api.example.com"}, "expires_in": {"600"}})
	if status != http.StatusOK || got["access_token"] == "" || got["token_type"] != "Bearer" || got["expires_in"] != float64(600) {
		t.Fatalf("dev token: %d %v", status, got)
	}
	userToken := got["access_token"].(string)
	in := waitActive(t, base, callerID, callerSecret, userToken)
	if in["scope"] != "read write" || in["sub"] == "" || in["sub"] == in["client_id"] {
		t.Errorf("introspection of a user dev token: %v", in)
	}
	if in["aud"] != "https://api.example.com" { // one audience is a string (RFC 7519 §4.1.3)
		t.Errorf("introspection aud %v, want https://api.example.com", in["aud"])
	}
	userID := in["sub"].(string)
	jti := in["jti"].(string)

	// The same user again, by id; JSON body; a client token of the caller.
	status, got = devToken(t, base, map[string]any{"sub": userID, "scopes": []string{"read"}})
	if status != http.StatusOK {
		t.Fatalf("dev token by user id: %d %v", status, got)
	}
	if in := waitActive(t, base, callerID, callerSecret, got["access_token"].(string)); in["sub"] != userID {
		t.Errorf("dev token by user id acts for %v, want %s", in["sub"], userID)
	}
	status, got = devToken(t, base, map[string]any{"client_id": callerID, "scopes": "read"})
	if status != http.StatusOK {
		t.Fatalf("client dev token: %d %v", status, got)
	}
	if in := waitActive(t, base, callerID, callerSecret, got["access_token"].(string)); in["sub"] != callerID || in["client_id"] != callerID {
		t.Errorf("client dev token: %v, want sub and client_id %s", in, callerID)
	}

	// Bad requests: 400 with an RFC 6749 error, never a token.
	for _, c := range []struct {
		name string
		body any
		want string
	}{
		{"unknown scope", url.Values{"scopes": {"admin"}}, "invalid_scope"},
		{"unknown client", url.Values{"client_id": {"nope"}}, "invalid_request"},
		{"unknown user id", url.Values{"sub": {"nope"}}, "invalid_request"},
		{"bad email", url.Values{"sub": {"not an@email"}}, "invalid_request"},
		{"bad audience", url.Values{"audience": {"relative/path"}}, "invalid_request"},
		{"bad expires_in", url.Values{"expires_in": {"soon"}}, "invalid_request"},
		{"zero expires_in", map[string]any{"expires_in": 0}, "invalid_request"},
		{"too long", url.Values{"expires_in": {"99999999999"}}, "invalid_request"},
		{"wrong JSON type", map[string]any{"sub": 5}, "invalid_request"},
	} {
		status, got := devToken(t, base, c.body)
		if status != http.StatusBadRequest || got["error"] != c.want || got["access_token"] != nil {
			t.Errorf("%s: %d %v, want 400 %s", c.name, status, got, c.want)
		}
	}

	// The log recorded the token as any other, with grant_type dev.
	code, out, errOut := e.run("audit", "token", jti, "--json")
	if code != 0 || !regexp.MustCompile(`"grant_type":\s*"dev"`).MatchString(out) {
		t.Errorf("audit token %s: exit %d, stdout %s, stderr %s; want grant_type dev", jti, code, out, errOut)
	}
	if code := stop(); code != 0 {
		t.Errorf("stamp serve --dev exited %d, want 0:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(e.dataDir); err != nil {
		t.Errorf("the explicit data directory did not survive: %v", err)
	}
}

// waitActive introspects token at base until it is active (the CLI's
// client reaches the server's read models a moment after it returns).
func waitActive(t *testing.T, base, clientID, secret, token string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body := postForm(t, base+"/oauth/introspect", clientID, secret, url.Values{"token": {token}})
		var m map[string]any
		if status == http.StatusOK && json.Unmarshal(body, &m) == nil && m["active"] == true {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev token was not active at introspection within 10s: %d %s", status, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDevTokensTemporary: without --data-dir, --dev keeps its data in a
// temporary directory and removes it at exit.
func TestDevTokensTemporary(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	e := newEnv(t)
	delete(e.vars, "STAMP_DATA_DIR")
	var stderr syncBuffer
	stop := e.serveDev(&stderr, "--dev")
	dirRE := regexp.MustCompile(`data: (\S+) \(temporary`)
	deadline := time.Now().Add(30 * time.Second)
	var dir string
	for dir == "" {
		if m := dirRE.FindStringSubmatch(stderr.String()); m != nil {
			dir = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("stderr names no temporary data directory within 30s:\n%s", stderr.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	base := waitServing(t, dir)
	if status, got := devToken(t, base, url.Values{"scopes": {"read"}}); status != http.StatusOK || got["access_token"] == nil {
		t.Fatalf("dev token for the dev client: %d %v", status, got)
	}
	if code := stop(); code != 0 {
		t.Fatalf("stamp serve --dev exited %d:\n%s", code, stderr.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temporary data directory %s outlived the server: %v", dir, err)
	}
}

// TestDevTokensOff: without --dev the route does not exist.
func TestDevTokensOff(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	for _, body := range []any{url.Values{"scopes": {"read"}}, map[string]any{"scopes": "read"}} {
		if status, got := devToken(t, n.HTTPURL(), body); status != http.StatusNotFound || got["access_token"] != nil {
			t.Errorf("POST /dev/tokens without --dev: %d %v, want 404", status, got)
		}
	}
}

// TestDevRefusesNonLoopback: --dev listens on loopback only, and never
// with an external NATS server.
func TestDevRefusesNonLoopback(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-addr", "0.0.0.0:0"}, "loopback"},
		{[]string{"--http-addr", ":0"}, "loopback"},
		{[]string{"--http-addr", "192.0.2.1:8080"}, "loopback"},
		{[]string{"--nats-host", "0.0.0.0"}, "loopback"},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--issuer", "http://stamp.test"}, "--nats-url"},
	} {
		e := newEnv(t)
		code, _, errOut := e.run(append([]string{"serve", "--dev"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("serve --dev %v: exit %d, stderr %q; want 2 naming %s", c.args, code, errOut, c.want)
		}
		if _, err := os.Stat(filepath.Join(e.dataDir, "serve.json")); !os.IsNotExist(err) {
			t.Errorf("serve --dev %v started a server", c.args)
		}
	}
}
