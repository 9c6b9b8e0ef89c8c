//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package eventstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockDir takes an exclusive, non-blocking flock on dir/LOCK and writes the
// process id into it for whoever finds it held. The lock lasts until the
// returned file is closed or the process ends, so a crash never leaves a
// stale lock. It returns ErrStoreLocked when the lock is held, also by
// another open of the same file in this process.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("eventstore: lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrStoreLocked
		}
		return nil, fmt.Errorf("eventstore: lock data directory: %w", err)
	}
	// The pid is informative only; failing to write it is not fatal.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlockDir releases a lock taken by lockDir.
func unlockDir(f *os.File) {
	if f != nil {
		f.Close()
	}
}
