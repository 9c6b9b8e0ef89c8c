package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// cliRun runs Main in-process on the data directory dir (its embedded NATS
// server on a random port), with env added and stdin as standard input.
func cliRun(t *testing.T, dir string, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	vars := map[string]string{"STAMP_DATA_DIR": dir, "STAMP_NATS_PORT": "-1"}
	for k, v := range env {
		vars[k] = v
	}
	code := Main(context.Background(), args, IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return vars[k] }})
	return code, out.String(), errOut.String()
}

// TestCLIHelp: -h works at every level and shows a command's own flags
// and the connection settings, not every server setting (serve shows
// them all); the top-level help describes install and lists keys rotate;
// completion scripts exist for bash, zsh and fish.
func TestCLIHelp(t *testing.T) {
	dir := t.TempDir()
	paths := [][]string{{}, {"client"}, {"user"}, {"token"}, {"nats"}}
	for _, l := range leaves() {
		paths = append(paths, strings.Fields(l.path))
	}
	for _, p := range paths {
		code, out, errOut := cliRun(t, dir, nil, "", append(slices.Clone(p), "-h")...)
		if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("stamp %v -h: exit %d, stdout %q, stderr %q; want 0 and the usage", p, code, out, errOut)
		}
	}
	_, out, _ := cliRun(t, dir, nil, "", "client", "create", "-h")
	for _, want := range []string{"--name", "--redirect", "--public", "--json", "--data-dir", "--nats-url", "--config"} {
		if !strings.Contains(out, want) {
			t.Errorf("client create -h does not show %s:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"--access-token-ttl", "--http-addr", "--password-grant", "--listeners"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("client create -h shows the server setting %s:\n%s", unwanted, out)
		}
	}
	_, out, _ = cliRun(t, dir, nil, "", "serve", "-h")
	for _, s := range settings() {
		if !strings.Contains(out, "--"+s.name) {
			t.Errorf("serve -h does not show --%s", s.name)
		}
	}
	if !regexp.MustCompile(`--password-grant +enable`).MatchString(out) {
		t.Errorf("serve -h shows --password-grant with an argument:\n%s", out)
	}
	_, out, _ = cliRun(t, dir, nil, "", "--help")
	for _, want := range []string{"install", "prepare a data directory", "keys rotate", "listeners retry", "completion"} {
		if !strings.Contains(out, want) {
			t.Errorf("stamp --help does not mention %q:\n%s", want, out)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := cliRun(t, dir, nil, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "stamp") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes, %q", shell, code, len(out), errOut)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"client"}, "a sub-command is required"},
		{[]string{"user", "rename"}, `unknown sub-command "rename"`},
		{[]string{"client", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		if code, _, errOut := cliRun(t, dir, nil, "", tt.args...); code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

// TestBooleanSettingFlags: a boolean setting is a boolean flag: alone it
// means true; =false and, as before, a following true or false set it.
func TestBooleanSettingFlags(t *testing.T) {
	none := func(string) string { return "" }
	for _, tt := range []struct {
		args                     []string
		passwordGrant, accessLog bool
	}{
		{[]string{"--password-grant"}, true, true},
		{[]string{"--password-grant", "--access-log=false"}, true, false},
		{[]string{"--password-grant=false", "--access-log", "false"}, false, false},
		{[]string{"--password-grant", "true", "--access-log"}, true, true},
	} {
		c, err := LoadConfig(tt.args, none)
		if err != nil || c.PasswordGrant != tt.passwordGrant || c.AccessLog != tt.accessLog {
			t.Errorf("%v: password grant %v, access log %v, %v; want %v, %v", tt.args, c.PasswordGrant, c.AccessLog, err, tt.passwordGrant, tt.accessLog)
		}
	}
	if _, err := LoadConfig([]string{"--password-grant", "often"}, none); err == nil || !strings.Contains(err.Error(), "--password-grant") {
		t.Errorf("--password-grant often: %v; want an error naming --password-grant", err)
	}
	// Through a command: the flag parses, and the missing data directory
	// is what stops it (exit 1), not the flag (exit 2).
	code, _, errOut := cliRun(t, filepath.Join(t.TempDir(), "missing"), nil, "", "client", "list", "--password-grant", "--json")
	if code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("client list --password-grant: exit %d, %q; want 1 and the missing data directory", code, errOut)
	}
}

// snakeKey is the one naming convention of --json output.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkJSON reports every key of the JSON out that is not snake_case and
// every null, with its path.
func checkJSON(t *testing.T, name, out string) {
	t.Helper()
	for _, p := range jsonProblems(out) {
		t.Errorf("%s: %s", name, p)
	}
}

// jsonProblems lists what checkJSON reports of out: a stream of JSON
// values, one at least.
func jsonProblems(out string) []string {
	var problems []string
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return append(problems, fmt.Sprintf("not JSON (%v): %q", err, out))
		}
		n++
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case nil:
				problems = append(problems, path+" is null")
			case map[string]any:
				for k, e := range v {
					if !snakeKey.MatchString(k) {
						problems = append(problems, fmt.Sprintf("key %s.%s is not snake_case", path, k))
					}
					walk(path+"."+k, e)
				}
			case []any:
				for i, e := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), e)
				}
			}
		}
		walk("$", v)
	}
	if n == 0 {
		problems = append(problems, "no JSON")
	}
	return problems
}

func TestJSONProblems(t *testing.T) {
	if p := jsonProblems(`{"client_id":"x","grants":[],"at":{"kind":"cli"}}`); len(p) != 0 {
		t.Errorf("clean output: %v", p)
	}
	p := jsonProblems(`{"accessToken":"x","token":{"scopes":null}}`)
	slices.Sort(p)
	if want := []string{"$.token.scopes is null", "key $.accessToken is not snake_case"}; !slices.Equal(p, want) {
		t.Errorf("got %q; want %q", p, want)
	}
	if p := jsonProblems(""); len(p) != 1 {
		t.Errorf("no output: %v", p)
	}
}

// TestCLIJSON runs every command that has --json with it, on a real
// embedded NATS server: each prints JSON with snake_case keys and no null
// (an empty list is []). A command with --json not run here fails the
// test; listeners retry, which needs a parked event, is run by
// integration's TestListenerRetry with the same check.
func TestCLIJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"STAMP_SCOPES": "read=Read your data"}
	if code, _, errOut := cliRun(t, dir, env, "", "install"); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	ran := map[string]bool{}
	run := func(path string, stdin string, args ...string) string {
		t.Helper()
		ran[path] = true
		full := append(strings.Fields(path), args...)
		code, out, errOut := cliRun(t, dir, env, stdin, append(full, "--json")...)
		if code != 0 {
			t.Fatalf("%v --json: exit %d: %s", full, code, errOut)
		}
		checkJSON(t, strings.Join(full, " "), out)
		return out
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	// A client with no redirect, scope or audience: empty lists.
	if err := json.Unmarshal([]byte(run("client create", "", "--client", "--name", "machine")), &client); err != nil || client.ClientID == "" {
		t.Fatalf("client create: %v", err)
	}
	run("client list", "", "--all")
	run("user create", "a long enough password\n", "--email", "ada@example.com", "--password-stdin")
	run("user list", "")
	var pat struct {
		AccessToken string `json:"access_token"`
		Token       struct {
			ID string `json:"id"`
		} `json:"token"`
	}
	// No scope: an empty list.
	if err := json.Unmarshal([]byte(run("token create", "", "--user", "ada@example.com", "--name", "cli")), &pat); err != nil || pat.AccessToken == "" || pat.Token.ID == "" {
		t.Fatalf("token create: %v", err)
	}
	run("token create", "", "--user", "ada@example.com", "--name", "read", "--scopes", "read")
	run("audit", "", "token", pat.Token.ID)
	run("audit", "", "client", client.ClientID)
	run("audit", "", "user", "ada@example.com") // by email, as the other user commands
	run("listeners", "")

	for _, l := range leaves() {
		if l.run == nil || l.path == "version" {
			continue
		}
		root, err := newRoot(context.Background(), nil, IO{})
		if err != nil {
			t.Fatal(err)
		}
		cmd, _, err := root.Find(strings.Fields(l.path))
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Flags().Lookup("json") != nil && !ran[l.path] && l.path != "listeners retry" {
			t.Errorf("stamp %s has --json but this test does not run it", l.path)
		}
	}
}
