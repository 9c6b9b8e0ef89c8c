package projections

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Errors of the package. Callers branch on them with errors.Is.
var (
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("projections: store closed")
	// ErrMalformed: an event could not be decoded or does not belong on the
	// subject it was recorded on. The projection stops on it.
	ErrMalformed = errors.New("projections: malformed event")
	// ErrLayout: the directory holds a store of another key layout; rebuild
	// it.
	ErrLayout = errors.New("projections: incompatible store layout")
	// ErrStopped: the Runner stopped at an event it cannot apply, so no
	// later sequence will be applied until an upgrade.
	ErrStopped = errors.New("projections: runner stopped")
	// ErrRunning: Run was called while the Runner was already running.
	ErrRunning = errors.New("projections: runner already running")
)

// Store holds the read models in one Pebble database. Create it with Open
// (or Rebuild) and Close it when done.
//
// Every method is safe for concurrent use. Writers (Apply, ApplyBatch,
// Drop) are serialized; views read committed state and never see half of a
// batch. After Close every method returns an error wrapping ErrClosed.
type Store struct {
	db     *pebble.DB
	dir    string // where it was opened, on fs (verified.go)
	fs     vfs.FS
	logger *slog.Logger
	keys   UserKeys // see reveal.go
	models *models  // the models' declarations (model.go)

	// closeMu is held for reading by every use of db and for writing by
	// Close, so Close waits for running calls and no call outlives db.
	closeMu sync.RWMutex
	closed  bool
	done    chan struct{} // closed by Close, to wake waiters

	// writeMu serializes writers; cps and w belong to its holder.
	writeMu sync.Mutex
	cps     [numModels]uint64
	w       writer

	// mayBlock: an aggregate may be blocked behind a parked event (see
	// parked.go), so applying looks blocks up. Belongs to writeMu's holder.
	mayBlock bool

	// applied is the lowest of cps, published after each commit.
	applied atomic.Uint64

	// keyGen and clientGen move whenever the signing keys or the clients
	// model may have changed, before the change is published; keySet and
	// clientSet hold decoded records as of a generation (keys_cache.go).
	keyGen, clientGen atomic.Uint64
	keySet            atomic.Pointer[keySet]
	clientSet         atomic.Pointer[clientSet]

	// waitCh is closed and replaced after a commit when a waiter has taken
	// it (waitTaken), so waiting costs nothing while nobody waits.
	waitMu    sync.Mutex
	waitCh    chan struct{}
	waitTaken bool
}

// A fresh store's memory (Rebuild, RestoreSnapshot), outside the Go
// heap: at most rebuildMemTables memtables of rebuildMemTableSize bytes,
// and a block cache of rebuildCacheSize.
const (
	rebuildMemTableSize = 16 << 20
	rebuildMemTables    = 2
	rebuildCacheSize    = 8 << 20
)

// Open opens the store in dir, creating it if it does not exist, and loads
// the models' checkpoints. It returns an error if opts is invalid, if Pebble
// cannot open dir, or (wrapping ErrLayout) if dir holds another layout.
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, false)
}

// open opens dir; if fresh, a store must not already exist there.
func open(dir string, opts Options, fresh bool) (*Store, error) {
	if dir == "" {
		return nil, errors.New("projections: open: no directory")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	po := &pebble.Options{
		FS:                 opts.FS,
		CacheSize:          opts.CacheSize,
		Logger:             pebbleLogger{opts.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		ErrorIfExists:      fresh,
	}
	po.EventListener = corruption(pebbleLogger{opts.Logger}) // see integrity.go
	// Most applies look up an aggregate that does not exist yet (a new
	// token); bloom filters answer those without reading data blocks.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// A rebuild writes the whole store at once: a big memtable flushes it
	// in few, large tables instead of compacting many small ones as it
	// goes, which was most of a rebuild's CPU time. Its memory is bounded:
	// at most rebuildMemTables of rebuildMemTableSize (one filling, the
	// others flushing; writes wait beyond), and a block cache of
	// rebuildCacheSize at most: a rebuild reads back little (most keys it
	// loads it has not written yet, see written.go; the rest are mostly
	// recent, in a memtable). Rebuild and RestoreSnapshot reopen the store
	// with a live store's options.
	if fresh {
		po.MemTableSize = rebuildMemTableSize
		po.MemTableStopWritesThreshold = rebuildMemTables
		po.CacheSize = min(po.CacheSize, rebuildCacheSize)
	}
	db, err := openPebble(dir, po)
	if err != nil {
		return nil, fmt.Errorf("projections: open %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, fs: opts.FS, logger: opts.Logger, keys: opts.UserKeys, models: declare(), done: make(chan struct{}), waitCh: make(chan struct{})}
	if err := s.load(); err != nil {
		return nil, errors.Join(asCorrupt(err), db.Close())
	}
	return s, nil
}

// load checks the layout (writing it into a new store) and reads the
// checkpoints.
func (s *Store) load() error {
	v, closer, err := s.db.Get([]byte(keyLayout))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set([]byte(keyLayout), []byte(layoutVersion), pebble.Sync); err != nil {
			return fmt.Errorf("projections: write layout: %w", err)
		}
	case err != nil:
		return fmt.Errorf("projections: read layout: %w", err)
	default:
		got := string(v)
		closer.Close()
		if got != layoutVersion {
			return fmt.Errorf("%w: layout %q, want %q", ErrLayout, got, layoutVersion)
		}
	}
	for i := range numModels {
		cp, err := s.readCheckpoint(i)
		if err != nil {
			return err
		}
		s.cps[i] = cp
	}
	if err := s.loadMayBlock(); err != nil {
		return err
	}
	s.publish(s.cps)
	return nil
}

func (s *Store) readCheckpoint(i int) (uint64, error) {
	v, closer, err := s.db.Get(checkpointKey(i))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("projections: read %s checkpoint: %w", modelAt(i), err)
	}
	defer closer.Close()
	return decodeSeq(v)
}

// Close closes the database, after waiting for calls in progress. Waiters
// blocked in Runner.WaitFor return ErrClosed. A second Close returns
// ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	close(s.done)
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("projections: close: %w", err)
	}
	return nil
}

// rlock takes closeMu for reading, or returns ErrClosed (then the caller
// must not unlock).
func (s *Store) rlock() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// Checkpoint returns the highest stream sequence every model has applied:
// the lowest of the models' checkpoints, 0 for an empty store. It is a
// lock-free read, cheap enough for every request.
func (s *Store) Checkpoint() uint64 { return s.applied.Load() }

// publish records cps as committed, under writeMu (or before the Store is
// shared), and wakes the waiters if anyone waits.
func (s *Store) publish(cps [numModels]uint64) {
	s.cps = cps
	lowest := cps[0]
	for _, cp := range cps[1:] {
		lowest = min(lowest, cp)
	}
	s.applied.Store(lowest)
	s.waitMu.Lock()
	if s.waitTaken {
		close(s.waitCh)
		s.waitCh = make(chan struct{})
		s.waitTaken = false
	}
	s.waitMu.Unlock()
}

// changed returns a channel that is closed at the next publish. A waiter
// takes it, then checks Checkpoint again before it blocks, so it cannot miss
// a publish between its check and its wait.
func (s *Store) changed() <-chan struct{} {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	s.waitTaken = true
	return s.waitCh
}

// Checksum returns the hex SHA-256 of every key and value of the store, in
// key order, each length-prefixed: all models with their checkpoints, and
// the layout key. The same events applied in the same order give the same
// checksum however they were applied. It reads one consistent snapshot.
func (s *Store) Checksum() (string, error) {
	if err := s.rlock(); err != nil {
		return "", err
	}
	defer s.closeMu.RUnlock()
	return checksumOf(s.db)
}

// Drop deletes model m (every key under its prefix, its checkpoint
// included), durably. Checkpoint then returns 0, so a Runner started
// afterwards replays the log from sequence 1: the dropped model is rebuilt
// and the others skip what they have. Drop must not run while a Runner runs
// on the store (that Runner would carry on from where it is and the model
// would miss the events before). It returns an error for an unknown model.
func (s *Store) Drop(m Model) error {
	i, ok := m.index()
	if !ok {
		return fmt.Errorf("projections: drop: unknown model %q", m)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	prefix := []byte(prefixOf(i))
	if err := s.db.DeleteRange(prefix, prefixEnd(prefix), pebble.Sync); err != nil {
		return fmt.Errorf("projections: drop %s: %w", m, err)
	}
	cps := s.cps
	cps[i] = 0
	s.cachesStale()
	s.publish(cps)
	return nil
}
