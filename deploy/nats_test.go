// Package deploy holds the deployment files of a stamp cluster (NATS
// configuration, stamp settings, systemd units, the runbook) and the tests
// that keep them true: the NATS files are read with nats-server's own
// parser and run as a real three-node cluster.
package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/stamp-oauth/stamp/eventstore"
)

// permissions is one identity's allow and deny lists.
type permissions = eventstore.Permissions

// rolePermissions are the NATS identities' permissions as the embedded
// server grants them (README "NATS identities"; the archiver's, see
// eventstore.ArchiverPermissions), by user name in the deployment files.
func rolePermissions() map[string]permissions {
	out := map[string]permissions{"archiver": eventstore.ArchiverPermissions()}
	for _, r := range eventstore.Roles() {
		out[string(r)] = eventstore.RolePermissions(r)
	}
	return out
}

// identityVars name each role's public key in stamp-identities.conf.
var identityVars = map[string]string{
	"writer":      "STAMP_WRITER_NKEY",
	"reader":      "STAMP_READER_NKEY",
	"revocations": "STAMP_REVOCATIONS_NKEY",
	"archiver":    "STAMP_ARCHIVER_NKEY",
	"admin":       "NATS_ADMIN_NKEY",
}

// installNATSConfig copies deploy/nats into a temporary directory as an
// operator installs it: each *.example becomes the file it is an example
// of, with edit applied to its text. It returns the directory.
func installNATSConfig(t *testing.T, edit func(name, text string) string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("nats")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("nats", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(e.Name(), ".example")
		text := string(b)
		if edit != nil {
			text = edit(name, text)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// exampleKeys reads the public keys stamp-identities.conf.example holds.
func exampleKeys(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("nats", "stamp-identities.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(strings.TrimSpace(name), "#") {
			continue
		}
		for role, v := range identityVars {
			if strings.TrimSpace(name) == v {
				keys[role] = strings.TrimSpace(value)
			}
		}
	}
	if len(keys) != len(identityVars) {
		t.Fatalf("stamp-identities.conf.example names %v; want a key for each of %v", keys, identityVars)
	}
	return keys
}

// TestNATSConfigParses reads the three node files with nats-server's own
// parser and checks the cluster, JetStream, the accounts and that each
// identity has exactly its role's permissions.
func TestNATSConfigParses(t *testing.T) {
	dir := installNATSConfig(t, nil)
	keys := exampleKeys(t)
	want := rolePermissions()
	names, stores := map[string]bool{}, map[string]bool{}
	for _, node := range []string{"nats-1.conf", "nats-2.conf", "nats-3.conf"} {
		t.Run(node, func(t *testing.T) {
			opts, err := server.ProcessConfigFile(filepath.Join(dir, node))
			if err != nil {
				t.Fatalf("nats-server cannot read %s: %v", node, err)
			}
			names[opts.ServerName], stores[opts.StoreDir] = true, true
			if !opts.JetStream || opts.StoreDir == "" {
				t.Errorf("JetStream %v, store_dir %q; want JetStream on disk", opts.JetStream, opts.StoreDir)
			}
			if opts.Cluster.Name != "stamp" || len(opts.Routes) != 3 || opts.Cluster.Username == "" || opts.Cluster.Password == "" {
				t.Errorf("cluster %q with %d routes, route user %q; want cluster stamp, 3 routes, route authentication", opts.Cluster.Name, len(opts.Routes), opts.Cluster.Username)
			}
			for _, r := range opts.Routes {
				if pw, _ := r.User.Password(); r.User.Username() != opts.Cluster.Username || pw != opts.Cluster.Password {
					t.Errorf("route %s does not carry the cluster's route credentials", r.Redacted())
				}
			}
			if opts.SystemAccount != "SYS" {
				t.Errorf("system account %q; want SYS", opts.SystemAccount)
			}
			users := map[string]*server.NkeyUser{}
			for _, u := range opts.Nkeys {
				users[u.Nkey] = u
			}
			if len(users) != len(keys) {
				t.Errorf("%d nkey users; want %d (%v)", len(users), len(keys), keys)
			}
			if admin := users[keys["admin"]]; admin == nil || admin.Account == nil || admin.Account.GetName() != "SYS" {
				t.Errorf("the admin identity is not a user of the system account")
			}
			for role, w := range want {
				u := users[keys[role]]
				if u == nil || u.Permissions == nil {
					t.Errorf("%s: no user with its key %s and permissions", role, keys[role])
					continue
				}
				if u.Account == nil || u.Account.GetName() != "STAMP" {
					t.Errorf("%s: not in account STAMP", role)
				}
				p := u.Permissions
				got := permissions{Responses: p.Response != nil}
				if p.Publish != nil {
					got.PublishAllow, got.PublishDeny = p.Publish.Allow, p.Publish.Deny
				}
				if p.Subscribe != nil {
					got.SubscribeAllow, got.SubscribeDeny = p.Subscribe.Allow, p.Subscribe.Deny
				}
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("%s: permissions differ from the role's (-want +got):\n%s", role, diff)
				}
				if w.Responses && (p.Response.MaxMsgs != 1 || p.Response.Expires != time.Minute) {
					t.Errorf("%s: responses %+v; want one reply within a minute", role, p.Response)
				}
			}
		})
	}
	if len(names) != 3 || len(stores) != 3 {
		t.Errorf("server names %v, store dirs %v; want three distinct of each", names, stores)
	}
}
