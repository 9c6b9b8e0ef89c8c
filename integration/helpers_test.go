// Package integration runs the whole stamp program in-process against a
// real embedded NATS server with JetStream on disk, real Pebble on disk and
// real HTTP, and drives it with real client libraries.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// env is one data directory and the settings every command and node of a
// test shares, as environment variables.
type env struct {
	t       *testing.T
	dataDir string
	vars    map[string]string
}

func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	e := &env{t: t, dataDir: t.TempDir(), vars: map[string]string{}}
	e.vars["STAMP_DATA_DIR"] = e.dataDir
	e.vars["STAMP_HTTP_ADDR"] = "127.0.0.1:0"
	e.vars["STAMP_ISSUER"] = "http://stamp.test"
	e.vars["STAMP_NATS_PORT"] = "-1"
	e.vars["STAMP_SIGNING_ALGORITHM"] = "EdDSA"
	e.vars["STAMP_SCOPES"] = "read=Read your data;write=Change your data"
	e.vars["STAMP_DEFAULT_SCOPES"] = "read"
	e.vars["STAMP_LOG_LEVEL"] = "warn"
	for i := 0; i+1 < len(extra); i += 2 {
		e.vars[extra[i]] = extra[i+1]
	}
	return e
}

func (e *env) getenv(k string) string { return e.vars[k] }

// config loads the configuration the way `stamp serve` would.
func (e *env) config() app.Config {
	e.t.Helper()
	c, err := app.LoadConfig(nil, e.getenv)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// start runs a node until the test ends.
func (e *env) start() *app.Node {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := app.Start(ctx, e.config(), logger)
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	e.t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

// run runs one CLI command and returns its exit code, stdout and stderr.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := app.Main(ctx, args, app.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: e.getenv})
	return code, out.String(), errOut.String()
}

// createClient registers a client-credentials client through the CLI and,
// when n is not nil, waits until n's read models know it: the CLI appends
// through the server's NATS, and the server applies the event within
// milliseconds, not before the CLI returns.
func (e *env) createClient(n *app.Node, name string, args ...string) (id, secret string) {
	e.t.Helper()
	code, out, errOut := e.run(append([]string{"client", "create", "--client", "--name", name, "--json"}, args...)...)
	if code != 0 {
		e.t.Fatalf("client create: exit %d: %s", code, errOut)
	}
	var got struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ClientID == "" || got.ClientSecret == "" {
		e.t.Fatalf("client create printed %q (%v); want JSON with an id and a secret", out, err)
	}
	if n != nil {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := n.Views().Client(context.Background(), got.ClientID); err == nil {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("the server did not apply the new client within 10s")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return got.ClientID, got.ClientSecret
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// postForm posts form to url with HTTP Basic client authentication.
func postForm(t *testing.T, u, clientID, secret string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func introspect(t *testing.T, n *app.Node, clientID, secret, token string) map[string]any {
	t.Helper()
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/introspect", clientID, secret, url.Values{"token": {token}})
	if status != http.StatusOK {
		t.Fatalf("introspect: %d %s", status, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func getJSON(t *testing.T, u string, v any) http.Header {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.Header
}
