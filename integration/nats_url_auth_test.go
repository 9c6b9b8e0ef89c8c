package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// readmeNATSConfig returns the nats-server configuration the README gives
// --nats-url deployments.
func readmeNATSConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```\n# nats-server.conf\n")
	conf, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no block starting # nats-server.conf")
	}
	return conf
}

// TestREADMENATSConfigRunsStamp runs a nats-server on the README's
// configuration, with the three roles' public keys filled in, checks that
// it grants each role exactly stamp's permissions, and runs stamp on it
// with --nats-url: the writer serves and runs the CLI, the revocations
// identity feeds a guard, the reader reads.
func TestREADMENATSConfigRunsStamp(t *testing.T) {
	dir := t.TempDir()
	conf := readmeNATSConfig(t)
	seeds := map[eventstore.Role]string{}
	pubs := map[string]eventstore.Role{}
	for _, r := range eventstore.Roles() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		seeds[r] = filepath.Join(dir, string(r)+".nk")
		if err := os.WriteFile(seeds[r], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		placeholder := `"U…` + string(r) + `'s public key"`
		if r == eventstore.RoleRevocations {
			placeholder = `"U…revocations' public key"`
		}
		if !strings.Contains(conf, placeholder) {
			t.Fatalf("the README's configuration lacks %s", placeholder)
		}
		conf = strings.Replace(conf, placeholder, `"`+pub+`"`, 1)
		pubs[pub] = r
	}
	conf = strings.Replace(conf, "jetstream {}", "jetstream { store_dir: \""+filepath.ToSlash(filepath.Join(dir, "js"))+"\" }", 1)
	file := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("the README's configuration: %v", err)
	}
	opts.Host, opts.Port, opts.NoSigs = "127.0.0.1", -1, true
	if len(opts.Nkeys) != 3 {
		t.Fatalf("the README's configuration has %d nkey users; want 3", len(opts.Nkeys))
	}
	for _, u := range opts.Nkeys {
		role := pubs[u.Nkey]
		want := eventstore.RolePermissions(role)
		got := eventstore.Permissions{
			PublishAllow: u.Permissions.Publish.Allow, PublishDeny: u.Permissions.Publish.Deny,
			SubscribeAllow: u.Permissions.Subscribe.Allow, SubscribeDeny: u.Permissions.Subscribe.Deny,
			Responses: u.Permissions.Response != nil,
		}
		for _, l := range []*[]string{&got.PublishAllow, &got.PublishDeny, &got.SubscribeAllow, &got.SubscribeDeny, &want.PublishAllow, &want.PublishDeny, &want.SubscribeAllow, &want.SubscribeDeny} {
			slices.Sort(*l)
			if len(*l) == 0 {
				*l = nil
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("README's permissions of %s differ from eventstore.RolePermissions (-code +README):\n%s", role, diff)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}

	e := newEnv(t, "STAMP_NATS_URL", ns.ClientURL(), "STAMP_NATS_NKEY", seeds[eventstore.RoleWriter], "STAMP_REPLICAS", "1")
	n := e.start()
	id, _ := e.createClient(n, "on-a-cluster")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed, err := eventstore.OpenRevocationFeed(ctx, eventstore.Options{URL: ns.ClientURL(), NkeySeedFile: seeds[eventstore.RoleRevocations]}, guardLifetime)
	if err != nil {
		t.Fatalf("revocation feed: %v", err)
	}
	t.Cleanup(feed.Close)
	newGuard(t, n, "http://stamp.test", feed)

	js := jetStreamAs(t, ns.ClientURL(), seeds[eventstore.RoleReader], eventstore.RoleReader)
	stream, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, domain.SubjectRoot+"."+domain.KindClient+"."+id+".>")
	if err != nil || !strings.Contains(string(m.Data), id) {
		t.Errorf("reader: the client's last event: %v", err)
	}
	if code, _, errOut := e.run("nats", "credentials", "--role", "reader"); code != 1 || !strings.Contains(errOut, "operator") {
		t.Errorf("nats credentials with --nats-url: exit %d, %q; want 1 and a pointer to the operator", code, errOut)
	}
}
