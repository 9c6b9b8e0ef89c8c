package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIRefusesMissingDataDir: a command run from the wrong directory
// names the directory it looked for and how to point at the right one,
// exits 1, and creates nothing; serve and install still create theirs.
func TestCLIRefusesMissingDataDir(t *testing.T) {
	e := newEnv(t)
	e.start()
	if code, _, errOut := e.run("client", "create", "--client", "--name", "first"); code != 0 {
		t.Fatalf("client create on the real data dir: exit %d %s", code, errOut)
	}

	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	delete(e.vars, "STAMP_DATA_DIR") // the default, ./stamp-data
	missing := filepath.Join(elsewhere, "stamp-data")
	for _, args := range [][]string{
		{"client", "create", "--client", "--name", "lost"},
		{"client", "list"},
		{"user", "list"},
		{"token", "create", "--user", "ada@example.com", "--name", "t"},
		{"keys"},
		{"keys", "rotate"},
		{"events"},
		{"audit", "client", "x"},
		{"purge"},
		{"replay"},
		{"listeners"},
	} {
		code, out, errOut := e.run(args...)
		if code != 1 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "--data-dir") || !strings.Contains(errOut, "STAMP_DATA_DIR") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 naming %s and --data-dir, STAMP_DATA_DIR", strings.Join(args, " "), code, out, errOut, missing)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%s created %s: %v", strings.Join(args, " "), missing, err)
		}
	}
	// user create reads the password first; it is refused all the same.
	code, _, errOut := e.run("user", "create", "--email", "x@example.com", "--password-stdin")
	if code != 1 || !strings.Contains(errOut, missing) {
		t.Errorf("user create: exit %d, %q; want 1 naming %s", code, errOut, missing)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("user create created %s: %v", missing, err)
	}

	// install prepares a new data directory.
	if code, out, errOut := e.run("install"); code != 0 || !strings.Contains(out, "Personal Access Client created") {
		t.Fatalf("install: exit %d, %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
		t.Fatalf("install did not create %s: %v", missing, err)
	}
}
