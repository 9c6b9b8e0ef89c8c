package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// createsDataDir reports whether the command whose flag set is named cmd
// may create the data directory: the server, and install, which prepares
// one. Every other command acts on an existing one.
func createsDataDir(cmd string) bool { return cmd == "serve" || cmd == "install" }

// errNoDataDir: the data directory a command would act on does not exist.
var errNoDataDir = errors.New("no data directory")

// requireDataDir returns an error wrapping errNoDataDir, naming the
// absolute directory and how to point at the right one, unless c.DataDir
// is an existing directory. It creates nothing: a command run from the
// wrong directory must not start a second, empty installation there.
func requireDataDir(c Config) error {
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		abs = c.DataDir
	}
	fi, err := os.Stat(c.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist; point at the server's data directory with --data-dir or STAMP_DATA_DIR (stamp serve and stamp install create one)", errNoDataDir, abs)
	case err != nil:
		return fmt.Errorf("data_dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory; point at the server's data directory with --data-dir or STAMP_DATA_DIR", errNoDataDir, abs)
	}
	return nil
}
