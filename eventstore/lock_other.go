//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package eventstore

import "os"

// lockDir does not lock on this platform: nothing stops two processes from
// opening one data directory here, so run one stamp per directory.
func lockDir(dir string) (*os.File, error) { return nil, nil }

// unlockDir releases a lock taken by lockDir.
func unlockDir(f *os.File) {}
