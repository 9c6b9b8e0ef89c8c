package integration

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// startAccountsNATS runs one nats-server (JetStream on disk, loopback) on
// the deployment's accounts file, deploy/nats/stamp-accounts.conf, with
// fresh identities, and returns its client URL and each identity's seed
// file, by the name of its variable in stamp-identities.conf
// (STAMP_WRITER_NKEY, …, STAMP_ARCHIVER_NKEY).
func startAccountsNATS(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	accounts, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "stamp-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string]string{}
	var identities strings.Builder
	for _, v := range []string{"STAMP_WRITER_NKEY", "STAMP_READER_NKEY", "STAMP_REVOCATIONS_NKEY", "STAMP_ARCHIVER_NKEY", "NATS_ADMIN_NKEY"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		seeds[v] = filepath.Join(dir, strings.ToLower(v)+".nk")
		if err := os.WriteFile(seeds[v], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&identities, "%s: %s\n", v, pub)
	}
	files := map[string]string{
		"stamp-accounts.conf":   string(accounts),
		"stamp-identities.conf": identities.String(),
		"nats.conf": "jetstream { store_dir: \"" + filepath.ToSlash(filepath.Join(dir, "js")) + "\" }\n" +
			"include ./stamp-accounts.conf\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server cannot read the accounts file: %v", err)
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready within 30s")
	}
	return ns.ClientURL(), seeds
}

// TestArchiverOnNATSURL: stamp serve on an external NATS with the
// deployment's accounts and a hot window of a second keeps every event in
// STAMP without --nats-archiver-nkey; with it (the ARCHIVER identity), the
// archiver drops the archived events from STAMP, and stamp events and
// stamp audit answer exactly as before from the archive. A seed file that
// is not there stops serve with a message naming the setting.
func TestArchiverOnNATSURL(t *testing.T) {
	ctx := context.Background()
	url, seeds := startAccountsNATS(t)
	e := newEnv(t, "STAMP_NATS_URL", url, "STAMP_NATS_NKEY", seeds["STAMP_WRITER_NKEY"], "STAMP_REPLICAS", "1",
		"STAMP_ACCESS_TOKEN_TTL", "1s", "STAMP_REFRESH_TOKEN_TTL", "1s",
		"STAMP_PERSONAL_ACCESS_TOKEN_TTL", "1s", "STAMP_SESSION_TTL", "1s",
		"STAMP_LOG_HOT_WINDOW", "1s", "STAMP_LOG_ARCHIVE_INTERVAL", "50ms")

	// Without the setting: no archiver, whatever the window.
	n := e.start()
	id, _ := e.createClient(n, "archived")
	last := waitArchived(t, n)
	waitApplied(t, n, last)
	at := time.Now().UTC().Format(time.RFC3339Nano)
	commands := [][]string{
		{"events", "--no-follow"},
		{"audit", "client", id, "--at", at},
	}
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, args := range commands {
			code, stdout, stderr := e.run(args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			if !strings.Contains(stdout, id) {
				t.Fatalf("%v: %q does not name the client %s", args, stdout, id)
			}
			out[fmt.Sprint(args)] = stdout
		}
		return out
	}
	before := answers()
	// Watched for two windows (forty archiver periods) past the archiving
	// of the last event: the hot stream keeps it all.
	for until := time.Now().Add(2 * time.Second); time.Now().Before(until); time.Sleep(50 * time.Millisecond) {
		if hf, err := n.Store().HotFirstSeq(ctx); err != nil || hf != 1 {
			t.Fatalf("without --nats-archiver-nkey the hot stream starts at %d (%v); want 1, nothing purged", hf, err)
		}
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A seed file that is not there: serve refuses to start.
	e.vars["STAMP_NATS_ARCHIVER_NKEY"] = filepath.Join(t.TempDir(), "missing.nk")
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if bad, err := app.Start(startCtx, e.config(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "nats_archiver_nkey") {
		if bad != nil {
			bad.Close(ctx)
		}
		t.Fatalf("serve with a missing archiver seed: %v; want a refusal naming nats_archiver_nkey", err)
	}

	// With the archiver identity: the archived events leave STAMP.
	e.vars["STAMP_NATS_ARCHIVER_NKEY"] = seeds["STAMP_ARCHIVER_NKEY"]
	n = e.start()
	waitHotFirstPast(t, n, last)
	after := answers()
	for _, args := range commands {
		if k := fmt.Sprint(args); after[k] != before[k] {
			t.Errorf("%s after archiving:\n%s\nwant:\n%s", k, after[k], before[k])
		}
	}
}
