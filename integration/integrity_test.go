package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
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
