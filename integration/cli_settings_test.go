package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// TestCLIActsOnServerSettings: the CLI, run with another environment
// than the server's (another issuer, no scope catalogue, other
// lifetimes), mints and checks with the server's settings, and says so:
// from serve.json while the server runs, from the log's ServerConfigured
// when it does not.
func TestCLIActsOnServerSettings(t *testing.T) {
	e := newEnv(t, "STAMP_ISSUER", "http://server.test", "STAMP_SCOPES", "read=Read your data", "STAMP_DEFAULT_SCOPES", "read")
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
	}
	e.createUser(n, "ada@example.com", "a long enough password")
	checkerID, checkerSecret := e.createClient(n, "checker")

	// The CLI's own environment: another issuer, no scopes, other lifetimes.
	cli := &env{t: t, dataDir: e.dataDir, vars: map[string]string{}}
	for k, v := range e.vars {
		cli.vars[k] = v
	}
	cli.vars["STAMP_ISSUER"] = "http://cli.test"
	cli.vars["STAMP_SCOPES"] = ""
	cli.vars["STAMP_DEFAULT_SCOPES"] = ""
	cli.vars["STAMP_PERSONAL_ACCESS_TOKEN_TTL"] = "1h"

	mint := func(n *app.Node, name, wantFrom string) {
		t.Helper()
		code, out, errOut := cli.run("token", "create", "--user", "ada@example.com", "--name", name, "--scopes", "read", "--json")
		if code != 0 {
			t.Fatalf("token create %s: exit %d, %q %q", name, code, out, errOut)
		}
		if !strings.Contains(errOut, wantFrom) || !strings.Contains(errOut, "issuer http://server.test (here http://cli.test)") {
			t.Errorf("token create %s: stderr %q; want it to say it uses %s and name the issuers", name, errOut, wantFrom)
		}
		var pat struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal([]byte(out), &pat); err != nil || pat.AccessToken == "" {
			t.Fatalf("token create printed %q (%v)", out, err)
		}
		var got map[string]any
		waitFor(t, "the server to apply the token", func() bool {
			got = introspect(t, n, checkerID, checkerSecret, pat.AccessToken)
			return got["active"] == true
		})
		if got["iss"] != "http://server.test" || got["scope"] != "read" {
			t.Errorf("introspection of %s: %v; want the server's issuer and scope read", name, got)
		}
		if exp, iat := got["exp"].(float64), got["iat"].(float64); exp-iat != 365*24*3600 {
			t.Errorf("%s lives %vs; want the server's personal access token lifetime", name, exp-iat)
		}
	}
	mint(n, "while serving", "serve.json")

	// client create checks scopes against the server's catalogue.
	if code, _, errOut := cli.run("client", "create", "--client", "--name", "reader", "--scopes", "read"); code != 0 {
		t.Errorf("client create --scopes read: exit %d, %q; want the server's catalogue to allow it", code, errOut)
	}
	if code, _, errOut := cli.run("client", "create", "--client", "--name", "writer", "--scopes", "write"); code != 1 || !strings.Contains(errOut, "write") {
		t.Errorf("client create --scopes write: exit %d, %q; want 1, naming the unknown scope", code, errOut)
	}

	// install, run again, changes nothing and says it once.
	if code, out, errOut := cli.run("install"); code != 0 || strings.Count(errOut, "stamp: using") != 1 || strings.Contains(out, "created") {
		t.Errorf("install again: exit %d, %q %q; want nothing created and one notice", code, out, errOut)
	}

	// With the server stopped, the log's announcement stands in.
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli.run("token", "create", "--user", "ada@example.com", "--name", "offline", "--scopes", "read", "--json")
	if code != 0 || !strings.Contains(errOut, "announced in the log") {
		t.Fatalf("token create with no server: exit %d, %q %q; want it to use the announced settings", code, out, errOut)
	}
	var pat struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(out), &pat); err != nil {
		t.Fatal(err)
	}
	n = e.start()
	if got := introspect(t, n, checkerID, checkerSecret, pat.AccessToken); got["active"] != true || got["iss"] != "http://server.test" {
		t.Errorf("the token minted with no server running: %v; want active, issued by http://server.test", got)
	}

	// The same environment as the server's: nothing to say.
	if code, _, errOut := e.run("user", "list"); code != 0 || strings.Contains(errOut, "using") {
		t.Errorf("user list with the server's own settings: exit %d, stderr %q; want no notice", code, errOut)
	}
}
