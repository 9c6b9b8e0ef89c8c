package projections

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Errors of damaged or busy stores. Callers branch on them with errors.Is.
var (
	// ErrCorrupt: the directory holds a store Pebble cannot open or read
	// (garbage in its files, a missing MANIFEST, a checksum mismatch). It is
	// derived data: rebuild it from the log, without opening it.
	ErrCorrupt = errors.New("projections: store corrupt")
	// ErrInUse: another Store (in this process or another) holds the
	// directory open.
	ErrInUse = errors.New("projections: store in use")
)

// lockFree returns an error wrapping ErrInUse if another Store holds dir
// open. A missing dir is free.
func lockFree(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInUse, dir, err)
	}
	return lock.Close()
}

// openPebble is pebble.Open, with any failure or panic on an existing,
// unlocked directory reported as ErrCorrupt: Pebble fails to open a store
// for damage (garbage, a missing or malformed MANIFEST, bad OPTIONS), or
// for permissions, which the error names as well.
func openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	if err := lockFree(po.FS, dir); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	db, err = pebble.Open(dir, po)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || po.ErrorIfExists {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return db, nil
}

// corruption reports a damaged block found while reading, as Pebble's
// DataCorruption event: logged, and the read fails with an error (Pebble's
// default would call Fatalf, which panics).
func corruption(p pebbleLogger) *pebble.EventListener {
	return &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
		p.Errorf("%s", info)
	}}
}

// asCorrupt wraps err in ErrCorrupt when Pebble found damage.
func asCorrupt(err error) error {
	if err != nil && pebble.IsCorruptionError(err) && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// Verify reads every key and value of the store, so that Pebble checks
// every block's checksum, and returns an error wrapping ErrCorrupt if one
// is damaged. It costs a full scan (as Checksum).
func (s *Store) Verify() error {
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	_, err := checksumOf(s.db)
	return asCorrupt(err)
}

// Highest returns the highest stream sequence any model has applied (see
// Checkpoint for the lowest). Above the stream's last sequence, the store
// holds events the log no longer has.
func (s *Store) Highest() uint64 {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var high uint64
	for _, cp := range s.cps {
		high = max(high, cp)
	}
	return high
}

// InUse returns an error wrapping ErrInUse if a Store holds dir open (on
// the disk), without opening the store; nil for a free or missing dir.
func InUse(dir string) error { return lockFree(vfs.Default, dir) }
