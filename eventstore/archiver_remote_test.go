package eventstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/domain"
)

// newSeedFile writes a fresh user seed to a file of the test's and
// returns the file and the public key.
func newSeedFile(t *testing.T, name string) (string, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, pub
}

// dialArchiver connects a RemoteArchiver to srv by URL, as an external
// NATS's archiver identity, and closes it after the test.
func dialArchiver(t *testing.T, srv *Server, seedFile string) *RemoteArchiver {
	t.Helper()
	a, err := DialArchiver(srv.ClientURL(), seedFile, nil)
	if err != nil {
		t.Fatalf("DialArchiver: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

// Two archivers of one identity with ArchiverPermissions, connected by URL
// as on a cluster, pass at once: between them they drop every archived
// event once, neither fails, and a later pass drops nothing.
func TestRemoteArchiversPassAtOnce(t *testing.T) {
	seed, pub := newSeedFile(t, "archiver.nk")
	srv := startServer(t, ServerOptions{extraUsers: []*server.NkeyUser{{Nkey: pub, Permissions: ArchiverPermissions().server()}}})
	st := openStore(t, srv)
	for i := range 20 {
		mustAppend(t, st, token(fmtID("t", i)), domain.ExpectNew, env(fmtID("at", i), "AccessTokenCreated"))
	}
	last := waitArchived(t, srv, st).Archived
	ctx := testContext(t)
	now := time.Now().Add(time.Hour)
	archivers := []*RemoteArchiver{dialArchiver(t, srv, seed), dialArchiver(t, srv, seed)}
	passes := make([]ArchivePass, len(archivers))
	errs := make([]error, len(archivers))
	var wg sync.WaitGroup
	for i, a := range archivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passes[i], errs[i] = a.Archive(ctx, time.Minute, now)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("passes at once: %v", err)
	}
	if purged := passes[0].Purged + passes[1].Purged; purged != last {
		t.Errorf("passes at once dropped %d events (%+v); want each of the %d once", purged, passes, last)
	}
	if hf, err := st.HotFirstSeq(ctx); err != nil || hf != last+1 {
		t.Errorf("the hot stream starts at %d (%v); want %d", hf, err, last+1)
	}
	if pass, err := archivers[0].Archive(ctx, time.Minute, now); err != nil || pass.Purged != 0 || pass.HotFirst != last+1 {
		t.Errorf("a later pass: %+v, %v; want nothing dropped", pass, err)
	}
}

// The archiver's loop runs over a remote connection as over the embedded
// one: its first pass drops what is archived and out of the window, and it
// returns nil when its context ends.
func TestRemoteArchiverRuns(t *testing.T) {
	seed, pub := newSeedFile(t, "archiver.nk")
	srv := startServer(t, ServerOptions{extraUsers: []*server.NkeyUser{{Nkey: pub, Permissions: ArchiverPermissions().server()}}})
	st := openStore(t, srv)
	mustAppend(t, st, token("t1"), domain.ExpectNew, env("at1", "AccessTokenCreated"))
	last := waitArchived(t, srv, st).Archived
	a := dialArchiver(t, srv, seed)
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, ArchiverOptions{Window: time.Minute, Every: 10 * time.Millisecond, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if hf, err := st.HotFirstSeq(testContext(t)); err == nil && hf > last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the remote archiver dropped nothing within 20s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v; want nil", err)
	}
}

// DialArchiver fails on a seed file it cannot read (ErrArchiverSeed) and
// on an identity the server does not know.
func TestDialArchiverRefusals(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	if _, err := DialArchiver(srv.ClientURL(), filepath.Join(t.TempDir(), "missing.nk"), nil); !errors.Is(err, ErrArchiverSeed) {
		t.Errorf("a missing seed file: %v; want ErrArchiverSeed", err)
	}
	stranger, _ := newSeedFile(t, "stranger.nk")
	if a, err := DialArchiver(srv.ClientURL(), stranger, nil); err == nil {
		a.Close()
		t.Error("an identity the server does not know: connected; want a refusal")
	}
}
