package eventstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// roleConn is a plain nats.go connection as one identity, recording the
// permission violations the server reports to it.
type roleConn struct {
	*nats.Conn
	mu     sync.Mutex
	errors []string
}

// connectAs connects to srv over TCP with role's seed and inbox prefix,
// and closes the connection after the test.
func connectAs(t *testing.T, srv *Server, role Role) *roleConn {
	t.Helper()
	return connectSeed(t, srv, srv.SeedFile(role), role.InboxPrefix())
}

func connectSeed(t *testing.T, srv *Server, seedFile, inbox string) *roleConn {
	t.Helper()
	rc := &roleConn{}
	nk, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), nk, nats.CustomInboxPrefix(inbox),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			rc.mu.Lock()
			rc.errors = append(rc.errors, err.Error())
			rc.mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("connect with %s: %v", filepath.Base(seedFile), err)
	}
	t.Cleanup(nc.Close)
	rc.Conn = nc
	return rc
}

// violated waits until the server has reported a violation of op
// ("Publish" or "Subscription") on subject.
func (rc *roleConn) violated(t *testing.T, op, subject string) {
	t.Helper()
	want := "Permissions Violation for " + op + " to \"" + subject
	pollUntil(t, want, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, e := range rc.errors {
			if strings.Contains(e, want) {
				return true
			}
		}
		return false
	})
}

// refused runs fn with a short deadline and checks that it failed and that
// the server reported publishing on subject as a permissions violation: a
// refused request is never answered, so fn's error is a timeout.
func (rc *roleConn) refused(t *testing.T, what, subject string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := fn(ctx); err == nil {
		t.Errorf("%s: err = nil; want refusal", what)
		return
	}
	rc.violated(t, "Publish", subject)
}

// startServerWithAdmin starts a server that also knows an identity with
// every permission, which stamp never has, and returns a connection as it.
func startServerWithAdmin(t *testing.T) (*Server, *nats.Conn) {
	t.Helper()
	file, pub := newSeedFile(t, "admin.nk") // see archiver_remote_test.go
	srv := startServer(t, ServerOptions{extraUsers: []*server.NkeyUser{{Nkey: pub}}})
	return srv, connectSeed(t, srv, file, "_INBOX").Conn
}

func TestAnonymousClientRefused(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous connect: err = nil; want an authorization violation")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous connect: err = %v; want nats.ErrAuthorization", err)
	}
	if nc, err := nats.Connect("", nats.InProcessServer(srv)); err == nil {
		nc.Close()
		t.Fatal("anonymous in-process connect: err = nil; want refusal")
	}
	// A well-formed nkey the server does not know.
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	file := filepath.Join(t.TempDir(), "stranger.nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	nk, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.ClientURL(), nk); err == nil {
		nc.Close()
		t.Fatal("connect with an unknown nkey: err = nil; want refusal")
	}
}

func TestSeedsCreatedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	srv := startServer(t, ServerOptions{StoreDir: filepath.Join(dir, "js"), KeysDir: keys})
	before := map[Role][]byte{}
	for _, r := range Roles() {
		path := filepath.Join(keys, SeedFileName(r))
		if srv.SeedFile(r) != path {
			t.Errorf("SeedFile(%s) = %s; want %s", r, srv.SeedFile(r), path)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o; want 0600", path, st.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(b), "SU") {
			t.Errorf("%s does not hold a user seed", path)
		}
		before[r] = b
	}
	srv.Shutdown()

	srv = startServer(t, ServerOptions{StoreDir: filepath.Join(dir, "js"), KeysDir: keys})
	for _, r := range Roles() {
		b, _ := os.ReadFile(srv.SeedFile(r))
		if string(b) != string(before[r]) {
			t.Errorf("%s: the seed changed across a restart", r)
		}
	}
	connectAs(t, srv, RoleReader) // the kept seed is still accepted
	srv.Shutdown()

	// A seed others may read is refused, and so is one that is no seed.
	reader := filepath.Join(keys, SeedFileName(RoleReader))
	if err := os.Chmod(reader, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartServer(ServerOptions{StoreDir: filepath.Join(dir, "js"), KeysDir: keys, Port: -1}, nil); !errors.Is(err, ErrSeedFile) {
		t.Errorf("StartServer with a world-readable seed: err = %v; want ErrSeedFile", err)
	}
	if err := os.WriteFile(reader, []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(reader, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureSeeds(keys); !errors.Is(err, ErrSeedFile) {
		t.Errorf("EnsureSeeds with garbage: err = %v; want ErrSeedFile", err)
	}
}

// An unknown role may do nothing, and every role's allow lists are set, so
// the server denies what they omit.
func TestRolePermissionsDenyByDefault(t *testing.T) {
	p := RolePermissions("admin").server()
	if len(p.Publish.Allow) != 0 || len(p.Publish.Deny) != 1 || p.Publish.Deny[0] != ">" || p.Subscribe.Deny[0] != ">" {
		t.Errorf("unknown role: %+v %+v; want everything denied", p.Publish, p.Subscribe)
	}
	for _, r := range Roles() {
		p := RolePermissions(r)
		if len(p.PublishAllow) == 0 || len(p.SubscribeAllow) == 0 {
			t.Errorf("%s: empty allow list %+v", r, p)
		}
		if !r.Valid() {
			t.Errorf("%s not Valid", r)
		}
	}
	if Role("root").Valid() {
		t.Error("root is Valid")
	}
}
