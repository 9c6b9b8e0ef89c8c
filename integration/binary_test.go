package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// TestBinary builds the stamp binary and runs it as a user would: serve
// with embedded defaults, the CLI beside the running server, SIGTERM, and
// the CLI again on the stopped server's data directory.
func TestBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "stamp")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/stamp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	environ := append(os.Environ(),
		"STAMP_DATA_DIR="+data, "STAMP_HTTP_ADDR=127.0.0.1:0", "STAMP_NATS_PORT=-1",
		"STAMP_ISSUER=http://stamp.test", "STAMP_SIGNING_ALGORITHM=ES256",
	)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = environ
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errOut.String()
	}

	// The binary names its version and Go version, and the commit it was
	// built from when go build stamped one (not with -buildvcs=false).
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "stamp ") || !strings.Contains(out, "\ngo go1.") {
		t.Errorf("version: exit %d, %q; want 0, the version and the Go version", code, out)
	} else if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && !strings.Contains(out, "\ncommit unknown") {
		if want := "\ncommit " + strings.TrimSpace(string(head)); !strings.Contains(out, want) {
			t.Errorf("version: got %q; want %q", out, want)
		}
	}

	// A bad setting is named, with a non-zero exit, before anything starts.
	if code, _, errOut := run("serve", "--sync", "sometimes"); code == 0 || !strings.Contains(errOut, "sync") {
		t.Errorf("bad --sync: exit %d, %q; want non-zero naming the setting", code, errOut)
	}
	if code, _, errOut := run("serve", "--access-token-ttl", "soon"); code == 0 || !strings.Contains(errOut, "access-token-ttl") {
		t.Errorf("bad --access-token-ttl: exit %d, %q; want non-zero naming the setting", code, errOut)
	}

	// A busy port is a readable error and exit 1, not a panic.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("serve", "--http-addr", busy.Addr().String()); code != 1 || !strings.Contains(errOut, "address already in use") || strings.Contains(errOut, "panic") {
		t.Errorf("serve on a busy port: exit %d, %q; want 1 and the cause, no panic", code, errOut)
	}
	busy.Close()

	serve := exec.Command(bin, "serve")
	serve.Env = environ
	var serveLog bytes.Buffer
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-exited
	})
	var info struct {
		HTTPURL string `json:"http_url"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(data, "serve.json"))
		if err == nil && json.Unmarshal(b, &info) == nil && info.HTTPURL != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start within 30s:\n%s", serveLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	code, out, errOut := run("client", "create", "--client", "--name", "cli-made", "--json")
	if code != 0 {
		t.Fatalf("client create beside the server: exit %d %s", code, errOut)
	}
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("client create printed %q: %v", out, err)
	}
	cc := clientcredentials.Config{ClientID: created.ClientID, ClientSecret: created.ClientSecret, TokenURL: info.HTTPURL + "/oauth/token"}
	// The server applies what the CLI appended within milliseconds.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := cc.Token(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token for a client the CLI created while the server ran: %v", err)
		}
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, serveLog.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(serveLog.String(), "stopped") {
		t.Errorf("the log does not say the server stopped:\n%s", serveLog.String())
	}
	if _, err := os.Stat(filepath.Join(data, "serve.json")); !os.IsNotExist(err) {
		t.Errorf("serve.json outlived the server: %v", err)
	}

	// With no server running the CLI opens the store itself.
	code, out, errOut = run("client", "list")
	if code != 0 || !strings.Contains(out, created.ClientID) {
		t.Errorf("client list without a server: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := run("client", "delete", "no-such-client"); code != 1 || !strings.Contains(errOut, "no client") {
		t.Errorf("delete of an unknown client: exit %d, %q; want 1 and a readable message", code, errOut)
	}
	if code, out, errOut := run("client", "delete", created.ClientID); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("delete: exit %d, %q %q", code, out, errOut)
	}
	if code, _, _ := run("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d; want 2", code)
	}
}
