package integration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// streamBlocks returns the message block files of the STAMP stream.
func streamBlocks(t *testing.T, dataDir string) []string {
	t.Helper()
	// The embedded server keeps its JetStream store in jetstream/jetstream.
	blks, err := filepath.Glob(filepath.Join(dataDir, "jetstream", "*", "$G", "streams", "STAMP", "msgs", "*.blk"))
	if err != nil || len(blks) == 0 {
		t.Fatalf("no message blocks of the STAMP stream under %s (%v)", dataDir, err)
	}
	return blks
}

// damageRecord flips bytes in the payload of the stored record whose
// subject ends in suffix, in the stream's block files on disk, and reports
// whether it found one.
func damageRecord(t *testing.T, dataDir, suffix string) {
	t.Helper()
	for _, blk := range streamBlocks(t, dataDir) {
		b, err := os.ReadFile(blk)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte(suffix))
		if i < 0 {
			continue
		}
		// Flip a few bytes of the payload after the subject (headers and
		// the JSON envelope).
		for j := i + len(suffix) + 8; j < i+len(suffix)+16 && j < len(b); j++ {
			b[j] ^= 0xff
		}
		if err := os.WriteFile(blk, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no record on a subject ending %q in the stream's blocks", suffix)
}

// TestReplayReportsDamagedRecord: a record of the log damaged on disk (an
// AccessTokenRevoked) is reported by stamp replay and stamp verify with its
// sequence, the replay does not swap, and the revoked token stays revoked.
func TestReplayReportsDamagedRecord(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "billing")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	revoked, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revokeToken(t, n, id, secret, revoked.AccessToken)
	revokedSeq, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	later, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, n, last)
	if got := introspect(t, n, id, secret, revoked.AccessToken); got["active"] != false {
		t.Fatalf("the revoked token introspects as %v", got)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	damageRecord(t, e.dataDir, ".AccessTokenRevoked")

	n = e.start()
	dir := filepath.Join(e.dataDir, "projections")
	before, err := n.Views().Checksum()
	if err != nil {
		t.Fatal(err)
	}
	missing := fmt.Sprintf("sequence %d: gap: sequence %d is missing", revokedSeq, revokedSeq)
	code, out, errOut := e.run("replay")
	if code != 1 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "nothing was swapped") {
		t.Errorf("stamp replay over a damaged log: exit %d; want 1, %q and no swap\nstdout: %s\nstderr: %s", code, missing, out, errOut)
	}
	if after, err := n.Views().Checksum(); err != nil || after != before {
		t.Errorf("the live read models after the refused replay: %s (%v); want them as before, %s", after, err, before)
	}
	if _, err := os.Stat(dir + ".rebuild"); err == nil {
		t.Errorf("projections.rebuild is left behind")
	}
	if got := introspect(t, n, id, secret, revoked.AccessToken); got["active"] != false {
		t.Errorf("the revoked token introspects as %v after the replay; want inactive", got)
	}
	if got := introspect(t, n, id, secret, later.AccessToken); got["active"] != true {
		t.Errorf("the later token introspects as %v after the replay; want active", got)
	}
	code, out, errOut = e.run("verify")
	if code != 1 || !strings.Contains(out, missing) {
		t.Errorf("stamp verify over a damaged log: exit %d; want 1 and %q\nstdout: %s\nstderr: %s", code, missing, out, errOut)
	}

	// Without a server the CLI finds the same.
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = e.run("replay")
	if code != 1 || !strings.Contains(errOut, missing) {
		t.Errorf("stamp replay without a server over a damaged log: exit %d; want 1 and %q\nstdout: %s\nstderr: %s", code, missing, out, errOut)
	}
	if sum, _ := storeChecksum(t, dir); sum != before {
		t.Errorf("the read models after the refused replay: %s; want them as before, %s", sum, before)
	}
}

// tryStart starts a node that is expected to refuse, and returns why; a
// node that starts fails the test.
func (e *env) tryStart() error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := app.Start(ctx, e.config(), logger)
	if err == nil {
		n.Close(context.Background())
		e.t.Fatal("the node started; want it to refuse")
	}
	return err
}

// issueAndRevoke issues a token on n, checks it is active, revokes it and
// checks it is not.
func issueAndRevoke(t *testing.T, n *app.Node, id, secret string) {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, n, id, secret, tok.AccessToken); got["active"] != true {
		t.Errorf("a new token introspects as %v; want active", got)
	}
	revokeToken(t, n, id, secret, tok.AccessToken)
	if got := introspect(t, n, id, secret, tok.AccessToken); got["active"] != false {
		t.Errorf("a revoked new token introspects as %v; want inactive", got)
	}
}

// TestStartRefusesReadModelsAheadOfLog: read models that applied more than
// the log holds (the log restored from an older copy) stop the server at
// start, with both sequences and the command that repairs it; stamp
// replay --force repairs it, and then new tokens become active and can be
// revoked.
func TestStartRefusesReadModelsAheadOfLog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	id, secret := e.createClient(n, "billing")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	kept, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(e.dataDir, "jetstream")
	backup := filepath.Join(t.TempDir(), "jetstream")
	if err := os.CopyFS(backup, os.DirFS(js)); err != nil {
		t.Fatal(err)
	}
	n = e.start()
	oldLast, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc.TokenURL = n.HTTPURL() + "/oauth/token"
	if _, err := cc.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatal(err)
	}
	last, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, n, last)
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(js); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(backup, js); err != nil {
		t.Fatal(err)
	}

	err = e.tryStart()
	t.Logf("start refused: %v", err)
	for _, want := range []string{"ahead of the log", fmt.Sprintf("up to sequence %d", last), "older backup", "stamp replay --force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start over read models ahead of the log: %v; want %q in it", err, want)
		}
	}
	// The log ends where the copy was taken: the start announced nothing.
	code, out, errOut := e.run("replay")
	if code != 1 || !strings.Contains(errOut, "ahead of the log") || !strings.Contains(errOut, "--force") {
		t.Errorf("stamp replay over read models ahead: exit %d; want 1 and a word of --force\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = e.run("replay", "--force")
	t.Logf("stamp replay --force:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "projections.corrupt-") {
		t.Fatalf("stamp replay --force: exit %d; want 0 and where the old models are\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if got := parseReplay(t, out); got.events != fmt.Sprint(oldLast) {
		t.Errorf("stamp replay --force applied %s events; want the %d the older log holds", got.events, oldLast)
	}
	n = e.start()
	if got := introspect(t, n, id, secret, kept.AccessToken); got["active"] != true {
		t.Errorf("a token the older log holds introspects as %v; want active", got)
	}
	issueAndRevoke(t, n, id, secret)
	// With a server running, --force refuses: the server holds the models.
	code, out, errOut = e.run("replay", "--force")
	if code != 1 || !strings.Contains(errOut, "a server is running") {
		t.Errorf("stamp replay --force beside a server: exit %d; want 1 and a word of the server\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	issueAndRevoke(t, n, id, secret)
}

// TestCorruptReadModels: damaged Pebble files never panic the server: it
// refuses to start and names the repair; stamp replay says they are
// damaged (not that a server may be running); stamp replay --force
// rebuilds them without opening them, to the checksum of a clean rebuild;
// with --repair-read-models the server rebuilds them itself.
func TestCorruptReadModels(t *testing.T) {
	damages := map[string]func(path, name string){
		"garbage in every file": func(path, _ string) { flipFile(t, path) },
		"missing MANIFEST": func(path, name string) {
			if strings.HasPrefix(name, "MANIFEST") {
				os.Remove(path)
			}
		},
		"garbage in the tables": func(path, name string) {
			if strings.HasSuffix(name, ".sst") {
				flipFile(t, path)
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			n := e.start()
			id, secret := e.createClient(n, "billing")
			waitApplied(t, n, appendTokens(t, n.Store(), id, 2000))
			if err := n.Close(ctx); err != nil {
				t.Fatal(err)
			}
			// A clean rebuild, flushed to tables on disk.
			code, out, errOut := e.run("replay")
			if code != 0 {
				t.Fatalf("stamp replay: exit %d\n%s%s", code, out, errOut)
			}
			clean := parseReplay(t, out).checksum
			dir := filepath.Join(e.dataDir, "projections")
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, ent := range ents {
				damage(filepath.Join(dir, ent.Name()), ent.Name())
			}

			err = e.tryStart()
			t.Logf("start refused: %v", err)
			if !strings.Contains(err.Error(), "read models are damaged") || !strings.Contains(err.Error(), "stamp replay --force") {
				t.Errorf("start over damaged read models: %v; want a word of damage and stamp replay --force", err)
			}
			code, out, errOut = e.run("replay")
			if code != 1 || !strings.Contains(errOut, "damaged") || !strings.Contains(errOut, "--force") || strings.Contains(errOut, "server running") {
				t.Errorf("stamp replay over damaged read models: exit %d; want 1, damage and --force, no word of a server\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			code, out, errOut = e.run("replay", "--force")
			if code != 0 {
				t.Fatalf("stamp replay --force: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if got := parseReplay(t, out).checksum; got != clean {
				t.Errorf("stamp replay --force rebuilt checksum %s; want the clean rebuild's %s", got, clean)
			}
			if sum, _ := storeChecksum(t, dir); sum != clean {
				t.Errorf("the read models in place after --force: %s; want %s", sum, clean)
			}
			n = e.start()
			issueAndRevoke(t, n, id, secret)
			if err := n.Close(ctx); err != nil {
				t.Fatal(err)
			}

			// Damaged again, a server told to repair rebuilds them itself.
			ents, err = os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, ent := range ents {
				damage(filepath.Join(dir, ent.Name()), ent.Name())
			}
			e.vars["STAMP_REPAIR_READ_MODELS"] = "true"
			n = e.start()
			issueAndRevoke(t, n, id, secret)
			if _, err := n.Views().AccessToken(ctx, "bulk-0-0"); err != nil {
				t.Errorf("a bulk token after the repair at start: %v", err)
			}
		})
	}
}

// flipFile inverts the middle third of a file's bytes.
func flipFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < 2*len(b)/3; i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
