package integration

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// waitArchived waits until the archive holds n's last event.
func waitArchived(t *testing.T, n *app.Node) uint64 {
	t.Helper()
	ctx := context.Background()
	last, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got, err := n.Store().ArchivedSeq(ctx); err == nil && got >= last {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive does not hold sequence %d within 20s", last)
		}
	}
}

// TestArchivedHistoryReadsTheSame: with a short hot window the server's
// archiver drops the log's events from the hot stream once the archive
// holds them, and stamp events (all, --since), stamp audit (token, client)
// and stamp replay answer exactly as before.
func TestArchivedHistoryReadsTheSame(t *testing.T) {
	ctx := context.Background()
	// First with a window of an hour: nothing leaves the hot stream.
	e := newEnv(t, "STAMP_ACCESS_TOKEN_TTL", "1s", "STAMP_REFRESH_TOKEN_TTL", "1s",
		"STAMP_PERSONAL_ACCESS_TOKEN_TTL", "1s", "STAMP_SESSION_TTL", "1s",
		"STAMP_LOG_HOT_WINDOW", "1h", "STAMP_LOG_ARCHIVE_INTERVAL", "50ms")
	n := e.start()
	id, secret := e.createClient(n, "billing")
	waitArchived(t, n)
	since := time.Now()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", id, secret, url.Values{"token": {tok.AccessToken}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ID string `json:"jti"`
	}
	parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	_ = parsed.UnsafeClaimsWithoutVerification(&claims)
	last := waitArchived(t, n)
	waitApplied(t, n, last)
	at := time.Now().UTC().Format(time.RFC3339Nano)

	commands := [][]string{
		{"events", "--no-follow"},
		{"events", "--no-follow", "--since", since.UTC().Format(time.RFC3339Nano)},
		{"audit", "token", claims.ID, "--at", at, "--json"},
		{"audit", "client", id, "--at", at},
		{"replay"},
	}
	answers := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, args := range commands {
			code, stdout, stderr := e.run(args...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr)
			}
			if args[0] == "replay" {
				stdout = parseReplay(t, stdout).checksum
			}
			out[fmt.Sprint(args)] = fmt.Sprintf("%x (%d bytes)", sha256.Sum256([]byte(stdout)), len(stdout))
		}
		return out
	}
	before := answers()
	if hf, err := n.Store().HotFirstSeq(ctx); err != nil || hf != 1 {
		t.Fatalf("hot stream starts at %d, %v; want 1 with a window of an hour", hf, err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Then with a window of a second: the archiver drops everything.
	e.vars["STAMP_LOG_HOT_WINDOW"] = "1s"
	n = e.start()
	waitHotFirstPast(t, n, last)
	after := answers()
	for _, args := range commands {
		if k := fmt.Sprint(args); after[k] != before[k] {
			t.Errorf("%s: %s after archiving; want %s", k, after[k], before[k])
		}
	}
}

// waitHotFirstPast polls until the archiver has dropped every event up to
// seq from n's hot stream (its first sequence is past seq), for at most
// 60 s.
func waitHotFirstPast(t *testing.T, n *app.Node, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		hf, err := n.Store().HotFirstSeq(ctx)
		if err == nil && hf > seq {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the hot stream still starts at %d (%v) 60s later; want past %d", hf, err, seq)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
