package integration

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeStartErrors: every start-up failure of `stamp serve` is printed
// with its cause and exits 1; none panics, and none leaves serve.json.
func TestServeStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeIsFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(storeIsFile, "jetstream"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vars []string
		want string
	}{
		{"busy http port", []string{"STAMP_HTTP_ADDR", "127.0.0.1:" + busyPort}, "http_addr"},
		{"busy nats port", []string{"STAMP_NATS_PORT", busyPort}, busyPort},
		{"data dir is a file", []string{"STAMP_DATA_DIR", file}, "data_dir"},
		{"data dir under a file", []string{"STAMP_DATA_DIR", filepath.Join(file, "data")}, "not a directory"},
		{"store dir is a file", []string{"STAMP_DATA_DIR", storeIsFile}, "jetstream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.vars...)
			code, _, errOut := e.run("serve")
			if code != 1 || !strings.Contains(errOut, "stamp serve: ") || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and the cause naming %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine") {
				t.Errorf("stderr shows a panic: %s", errOut)
			}
			if _, err := os.Stat(filepath.Join(e.dataDir, "serve.json")); !os.IsNotExist(err) {
				t.Errorf("serve.json left behind: %v", err)
			}
		})
	}
}
