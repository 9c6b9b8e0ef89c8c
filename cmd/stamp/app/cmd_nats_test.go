package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/eventstore"
)

func TestNATSCredentialSettings(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string // "" for valid; else the setting the error names
	}{
		{map[string]string{}, ""},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_NKEY": "stamp.nk"}, ""},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_CREDS": "stamp.creds"}, ""},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_USER": "u", "STAMP_NATS_PASSWORD": "p"}, ""},
		{map[string]string{"STAMP_NATS_NKEY": "stamp.nk"}, "nats_nkey: only with nats_url"},
		{map[string]string{"STAMP_NATS_USER": "u", "STAMP_NATS_PASSWORD": "p"}, "nats_user: only with nats_url"},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_USER": "u"}, "nats_user"},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_CREDS": "c", "STAMP_NATS_NKEY": "k"}, "nats_nkey"},
		{map[string]string{"STAMP_NATS_URL": "nats://x:4222", "STAMP_NATS_USER": "u", "STAMP_NATS_PASSWORD": "p", "STAMP_NATS_NKEY": "k"}, "nats_user: exclusive with nats_nkey"},
	} {
		_, err := LoadConfig(nil, func(k string) string { return tt.env[k] })
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v; want valid", tt.env, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: %v; want an error with %q", tt.env, err, tt.want)
		}
	}
}

// runMain runs one command on dir and returns its exit code and output.
func runMain(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"STAMP_DATA_DIR": dir}
	code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errOut.String()
}

// Without a server ever started, the command creates the seeds the server
// will use, and prints them unchanged afterwards.
func TestNATSCredentialsCommand(t *testing.T) {
	dir := t.TempDir()
	for _, r := range eventstore.Roles() {
		code, out, errOut := runMain(t, dir, "nats", "credentials", "--role", string(r))
		if code != 0 {
			t.Fatalf("--role %s: exit %d: %s", r, code, errOut)
		}
		file := filepath.Join(dir, "keys", eventstore.SeedFileName(r))
		b, err := os.ReadFile(file)
		if err != nil || string(b) != out || !strings.HasPrefix(out, "SU") {
			t.Errorf("--role %s printed %q; want the content of %s (%v)", r, out, file, err)
		}
		if _, again, _ := runMain(t, dir, "nats", "credentials", "--role", string(r)); again != out {
			t.Errorf("--role %s: the seed changed between two runs", r)
		}
	}
	code, out, _ := runMain(t, dir, "nats", "credentials", "--role", "revocations", "--context")
	var nctx natsContext
	if code != 0 || json.Unmarshal([]byte(out), &nctx) != nil {
		t.Fatalf("--context: exit %d, %q", code, out)
	}
	if nctx.URL != "nats://127.0.0.1:4222" || !filepath.IsAbs(nctx.Nkey) || filepath.Base(nctx.Nkey) != "nats-revocations.nk" || nctx.InboxPrefix != eventstore.RevocationsInboxPrefix {
		t.Errorf("context %+v", nctx)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nats", "credentials", "--role", "root"}, 2, `--role "root"`},
		{[]string{"nats", "credentials"}, 2, `--role ""`},
		{[]string{"nats", "passwords"}, 2, "passwords"},
		{[]string{"nats"}, 2, "sub-command"},
		{[]string{"nats", "credentials", "--role", "reader", "--nats-url", "nats://x:4222"}, 1, "operator"},
	} {
		code, _, errOut := runMain(t, dir, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}
