package eventstore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

func TestServerOptionsValidate(t *testing.T) {
	ok := ServerOptions{StoreDir: "data", Port: 4222}
	tests := []struct {
		name   string
		modify func(*ServerOptions)
		valid  bool
	}{
		{"defaults", func(*ServerOptions) {}, true},
		{"random port", func(o *ServerOptions) { o.Port = -1 }, true},
		{"keys dir", func(o *ServerOptions) { o.KeysDir = "keys" }, true},
		{"no dir", func(o *ServerOptions) { o.StoreDir = "" }, false},
		{"port zero", func(o *ServerOptions) { o.Port = 0 }, false},
		{"port too big", func(o *ServerOptions) { o.Port = 70000 }, false},
		{"negative sync", func(o *ServerOptions) { o.SyncInterval = -1 }, false},
	}
	for _, tt := range tests {
		o := ok
		tt.modify(&o)
		if err := o.Validate(); (err == nil) != tt.valid {
			t.Errorf("%s: Validate() = %v; want valid %v", tt.name, err, tt.valid)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		valid bool
	}{
		{"url", Options{URL: "nats://127.0.0.1:4222"}, true},
		{"in process", Options{InProcess: &Server{}}, true},
		{"neither", Options{}, false},
		{"both", Options{URL: "nats://x", InProcess: &Server{}}, false},
		{"replicas", Options{URL: "nats://x", Replicas: 6}, false},
		{"user and creds", Options{URL: "nats://x", User: "u", Password: "p", CredsFile: "c"}, false},
		{"nkey", Options{URL: "nats://x", NkeySeedFile: "k"}, true},
		{"nkey and creds", Options{URL: "nats://x", CredsFile: "c", NkeySeedFile: "k"}, false},
		{"nkey and user", Options{URL: "nats://x", User: "u", Password: "p", NkeySeedFile: "k"}, false},
		{"window over max age", Options{URL: "nats://x", MaxAge: 1e9}, false},
		{"window within max age", Options{URL: "nats://x", MaxAge: 1e12, DuplicateWindow: 1e9}, true},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.valid {
			t.Errorf("%s: Validate() = %v; want valid %v", tt.name, err, tt.valid)
		}
	}
}

func TestStartServerLocksStoreDir(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, ServerOptions{StoreDir: dir})

	_, err := StartServer(ServerOptions{StoreDir: dir, Port: -1}, nil)
	if !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("second StartServer on one directory: err = %v; want ErrStoreLocked", err)
	}
	if _, err := os.Stat(filepath.Join(dir, lockFileName)); err != nil {
		t.Errorf("lock file: %v", err)
	}

	srv.Shutdown()
	again := startServer(t, ServerOptions{StoreDir: dir})
	again.Shutdown()
}

func TestRestartKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, ServerOptions{StoreDir: dir, SyncAlways: true})
	st := openStore(t, srv)
	mustAppend(t, st, client("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))
	mustAppend(t, st, client("a"), domain.ExpectSeq(1), env("e2", "RefreshTokenCreated"), env("e3", "AccessTokenRevoked"))
	before, err := st.Load(testContext(t), client("a"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	st.Close()
	srv.Shutdown()

	st = openStore(t, startServer(t, ServerOptions{StoreDir: dir}))
	ctx := testContext(t)
	after, err := st.Load(ctx, client("a"))
	if err != nil {
		t.Fatalf("Load after restart: %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("Load after restart (-before +after):\n%s", diff)
	}
	// The expectation still holds across the restart.
	if _, err := st.Append(ctx, client("a"), domain.ExpectSeq(2), env("e4", "AccessTokenRevoked")); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("stale expectation after restart: err = %v; want ErrConflict", err)
	}
	mustAppend(t, st, client("a"), domain.ExpectSeq(3), env("e4", "AccessTokenRevoked"))
}

// A Store reaches the embedded server over TCP too, with the writer's nkey;
// in-process it is the writer without being told.
func TestOpenByURLWithNkey(t *testing.T) {
	srv := startServer(t, ServerOptions{})
	ctx := testContext(t)

	if st, err := Open(ctx, Options{URL: srv.ClientURL()}); err == nil {
		st.Close()
		t.Fatal("Open without credentials: err = nil; want refusal")
	}
	st, err := Open(ctx, Options{URL: srv.ClientURL(), NkeySeedFile: srv.SeedFile(RoleWriter)})
	if err != nil {
		t.Fatalf("Open over TCP: %v", err)
	}
	defer st.Close()
	mustAppend(t, st, token("a"), domain.ExpectNew, env("e1", "AccessTokenCreated"))

	inproc, err := Open(ctx, Options{InProcess: srv})
	if err != nil {
		t.Fatalf("Open in-process: %v", err)
	}
	defer inproc.Close()
	if recs, err := inproc.Load(ctx, token("a")); err != nil || len(recs) != 1 {
		t.Errorf("Load in-process = %d events, %v; want 1, nil", len(recs), err)
	}
}

func TestStartServerReportsFailure(t *testing.T) {
	// A file where JetStream wants its directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jetstream"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := StartServer(ServerOptions{StoreDir: dir, Port: -1}, nil)
	if err == nil {
		srv.Shutdown()
		t.Fatal("StartServer with a broken store: err = nil; want an error")
	}
	t.Logf("StartServer: %v", err)
	// The failed start released the directory.
	if err := os.Remove(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatal(err)
	}
	startServer(t, ServerOptions{StoreDir: dir})
}

func TestServerLogsThroughSlog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := StartServer(ServerOptions{StoreDir: t.TempDir(), Port: -1}, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "component=nats-server") {
		t.Errorf("log lacks the server's debug lines:\n%s", buf.String())
	}
}
