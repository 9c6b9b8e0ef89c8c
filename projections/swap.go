package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// Swap names the directories of a SwapIn.
type Swap struct {
	// Dir is the directory the live store was opened in.
	Dir string
	// FreshDir is the directory the fresh store was built in (by Rebuild).
	FreshDir string
	// Options are the options the live store was opened with; the store is
	// reopened at Dir with them. Their FS is the filesystem of both
	// directories.
	Options Options
}

// Swapped is what SwapIn compared and swapped.
type Swapped struct {
	// Seq is the stream sequence both stores had applied when they were
	// compared; the store continues from it.
	Seq uint64
	// LiveSum and FreshSum are the checksums (see Checksum) of the live and
	// the fresh store at Seq.
	LiveSum, FreshSum string
}

// Drifted reports whether the live store differed from the fresh one: the
// same events gave other bytes, so the live read models had drifted (a bug,
// a lost write, a store built by older code). The fresh store is the one
// the log gives today.
func (w Swapped) Drifted() bool { return w.LiveSum != w.FreshSum }

// SwapIn replaces the contents of s with those of fresh, a store rebuilt
// from the same log src, in place: s stays the same *Store, open and usable
// throughout, so views, waiters (Runner.WaitFor) and a Runner applying to s
// carry on, the Runner from the fresh store's state.
//
// It brings the two stores to one sequence (s up to fresh's checkpoint
// beside whatever else applies to s, then, holding s's writers off, fresh up
// to s's checkpoint), takes a snapshot of each there, and lets the writers
// go on while it computes the snapshots' checksums (as Checksum). Then,
// holding the writers off again, it brings fresh up to what s applied
// meanwhile and, now waiting for the readers too, closes fresh and s's
// database, moves sw.Dir aside to sw.Dir+".old", moves sw.FreshDir to
// sw.Dir, reopens it and removes the old directory. So writers wait for two
// short catch-ups of fresh, readers only for the close, the renames and the
// reopen. It swaps when the checksums differ too (see Swapped.Drifted): the
// log is the truth.
//
// SwapIn always closes fresh. It returns an error, leaving s as it was
// (fresh's directory is then the caller's to remove), if a catch-up or a
// checksum fails, ctx ends before the swap begins, s is closed, or the
// renames or the reopen fail: then it puts the old directory back and
// reopens it. If even that fails, s is left closed (every method returns
// ErrClosed) and the error says where the directories are. A crash during
// the renames leaves sw.Dir missing or complete, never half of two stores;
// a store opened at a missing sw.Dir starts empty and is rebuilt by its
// Runner. Safe for concurrent use with every method of s; Close waits for
// it, and Drop must not run beside it.
func (s *Store) SwapIn(ctx context.Context, fresh *Store, src Replayer, sw Swap) (Swapped, error) {
	res, err := s.swapIn(ctx, fresh, src, sw)
	if err != nil {
		return Swapped{}, fmt.Errorf("projections: swap in %s: %w", sw.FreshDir, err)
	}
	return res, nil
}

// swapAttempts bounds how often SwapIn lets the live store catch up to the
// fresh one before it gives up (it is ahead after one attempt unless a Drop
// runs beside it).
const swapAttempts = 3

func (s *Store) swapIn(ctx context.Context, fresh *Store, src Replayer, sw Swap) (_ Swapped, err error) {
	freshOpen := true
	defer func() {
		if freshOpen {
			err = errors.Join(err, fresh.Close())
		}
	}()
	if sw.Dir == "" || sw.FreshDir == "" || sw.Dir == sw.FreshDir {
		return Swapped{}, fmt.Errorf("directories %q and %q: want two distinct directories", sw.Dir, sw.FreshDir)
	}
	if err := sw.Options.Validate(); err != nil {
		return Swapped{}, err
	}
	opts := sw.Options.withDefaults()

	res, err := s.compare(ctx, fresh, src)
	if err != nil {
		return Swapped{}, err
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.catchUpFresh(ctx, fresh, src); err != nil {
		return Swapped{}, err
	}
	if err := ctx.Err(); err != nil {
		return Swapped{}, err
	}
	freshOpen = false
	if err := fresh.Close(); err != nil {
		return Swapped{}, err
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return Swapped{}, ErrClosed
	}
	if err := s.replaceDir(sw, opts); err != nil {
		return Swapped{}, err
	}
	return res, nil
}

// compare brings s and fresh to one sequence and returns both checksums
// there. It holds s's writers off only while it brings fresh up to s and
// takes the snapshots; the checksums are computed beside the writers.
func (s *Store) compare(ctx context.Context, fresh *Store, src Replayer) (Swapped, error) {
	for attempt := 1; ; attempt++ {
		if err := s.CatchUp(ctx, upTo{src, fresh.Checkpoint()}, nil); err != nil {
			return Swapped{}, fmt.Errorf("live catch up: %w", err)
		}
		s.writeMu.Lock()
		if s.Checkpoint() >= fresh.Checkpoint() {
			break
		}
		s.writeMu.Unlock()
		if attempt == swapAttempts {
			return Swapped{}, fmt.Errorf("the live store stays behind the fresh one at %d", fresh.Checkpoint())
		}
	}
	res := Swapped{Seq: s.Checkpoint()}
	if err := s.catchUpFresh(ctx, fresh, src); err != nil {
		s.writeMu.Unlock()
		return Swapped{}, err
	}
	if err := s.rlock(); err != nil {
		s.writeMu.Unlock()
		return Swapped{}, err
	}
	defer s.closeMu.RUnlock() // s.db outlives the snapshot
	liveSnap, freshSnap := s.db.NewSnapshot(), fresh.db.NewSnapshot()
	defer liveSnap.Close()
	defer freshSnap.Close()
	s.writeMu.Unlock()

	freshSum := make(chan error, 1)
	go func() {
		var err error
		res.FreshSum, err = checksumOf(freshSnap)
		freshSum <- err
	}()
	var liveErr error
	res.LiveSum, liveErr = checksumOf(liveSnap)
	if err := errors.Join(liveErr, <-freshSum); err != nil {
		return Swapped{}, err
	}
	return res, nil
}

// catchUpFresh brings fresh up to s's checkpoint exactly. The caller holds
// s.writeMu, so s stays there.
func (s *Store) catchUpFresh(ctx context.Context, fresh *Store, src Replayer) error {
	seq := s.Checkpoint()
	if err := fresh.CatchUp(ctx, upTo{src, seq}, nil); err != nil {
		return fmt.Errorf("fresh catch up to %d: %w", seq, err)
	}
	if got := fresh.Checkpoint(); got != seq {
		return fmt.Errorf("the fresh store reached %d, not the live %d", got, seq)
	}
	return nil
}

// checksumOf is Checksum of what r reads: a store's database or a snapshot
// of it. (It must hash exactly as Checksum does; a test holds them equal.)
func checksumOf(r pebble.Reader) (string, error) {
	it, err := r.NewIter(nil)
	if err != nil {
		return "", fmt.Errorf("projections: checksum: %w", err)
	}
	h := sha256.New()
	var n [8]byte
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return "", errors.Join(fmt.Errorf("projections: checksum: %w", err), it.Close())
		}
		for _, b := range [][]byte{it.Key(), v} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return "", fmt.Errorf("projections: checksum: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// replaceDir closes s's database, puts sw.FreshDir in place of sw.Dir and
// reopens it, or puts sw.Dir back. The caller holds writeMu and closeMu.
func (s *Store) replaceDir(sw Swap, opts Options) error {
	fs := opts.FS
	old := sw.Dir + ".old"
	if err := fs.RemoveAll(old); err != nil {
		return fmt.Errorf("remove stale %s: %w", old, err)
	}
	if err := s.db.Close(); err != nil {
		// The database is closed all the same; the fresh one replaces it.
		s.logger.Warn("projections: closing the live store for a swap", "err", err)
	}
	err := renameDir(fs, sw.Dir, old)
	if err == nil {
		err = renameDir(fs, sw.FreshDir, sw.Dir)
		if err == nil {
			var next *Store
			if next, err = open(sw.Dir, opts, false); err == nil {
				s.adopt(next)
				if err := fs.RemoveAll(old); err != nil {
					s.logger.Warn("projections: removing the swapped-out store", "dir", old, "err", err)
				}
				return nil
			}
			err = errors.Join(err, renameDir(fs, sw.Dir, sw.FreshDir))
		}
		err = errors.Join(err, renameDir(fs, old, sw.Dir))
	}
	// Put the live store back as it was.
	prev, rerr := open(sw.Dir, opts, false)
	if rerr != nil {
		s.closed = true
		close(s.done)
		return fmt.Errorf("%w; reopening the live store %s failed too, so it is closed: %w", err, sw.Dir, rerr)
	}
	s.adopt(prev)
	return fmt.Errorf("%w (the live store is back in place)", err)
}

// adopt makes s use next's database and checkpoints; next is dropped. The
// caller holds writeMu and closeMu.
func (s *Store) adopt(next *Store) {
	s.db = next.db
	s.mayBlock = next.mayBlock
	s.cachesStale()
	s.publish(next.cps)
}

// renameDir renames a directory; a missing source is an error. (MemFS
// renames over an existing target, the disk refuses a non-empty one: the
// target must not exist.)
func renameDir(fs vfs.FS, from, to string) error {
	if _, err := fs.Stat(to); err == nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, os.ErrExist)
	}
	if err := fs.Rename(from, to); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

// errPastEnd stops a bounded replay at its last sequence.
var errPastEnd = errors.New("projections: past the end of a bounded replay")

// upTo is src ending at sequence last, as if nothing followed it.
type upTo struct {
	src  Replayer
	last uint64
}

func (u upTo) LastSeq(context.Context) (uint64, error) { return u.last, nil }

func (u upTo) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	if from > u.last {
		return nil
	}
	err := u.src.Replay(ctx, from, filter, func(rec domain.Recorded) error {
		if rec.Seq > u.last {
			return errPastEnd
		}
		if err := fn(rec); err != nil {
			return err
		}
		if rec.Seq == u.last {
			return errPastEnd
		}
		return nil
	})
	if errors.Is(err, errPastEnd) {
		return nil
	}
	return err
}
