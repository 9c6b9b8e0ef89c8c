// Package rebuild is the file-system side of `stamp replay`: the read
// models are rebuilt from the log into a sibling directory
// (<dir>.rebuild) and only then put in the place of the live ones, by
// renames that roll back when one fails, so a failed or interrupted
// rebuild never leaves the data directory without read models. Comparing
// a rebuild with live models and swapping it in under a running node is
// projections.Store.SwapIn's job; this package serves the cases without
// live models to compare (none, an older layout, --force).
//
// A rebuild may start from a read-model snapshot (FreshFrom, snapshot.go),
// found through the Snapshots interface.
//
// It imports projections (Pebble) and domain; it knows neither the event
// store nor the replay control protocol. Nothing here is safe for
// concurrent use on the same directory: one replay at a time.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/projections"
)

// FreshDir is where a rebuild of the read models in dir is built.
func FreshDir(dir string) string { return dir + ".rebuild" }

// Stats is what a rebuild did: how many events it applied, in how long,
// and the sequence of the snapshot it started from (0: the first event;
// see FreshFrom).
type Stats struct {
	Events       uint64
	Elapsed      time.Duration
	FromSnapshot uint64
}

// Fresh rebuilds the read models from src into FreshDir(dir), removing a
// stale one first, and returns the new store open, with its Stats. On
// failure it removes the partial directory and returns the Stats so far.
func Fresh(ctx context.Context, src projections.Replayer, dir string, opts projections.Options, progress func(done, total uint64)) (*projections.Store, Stats, error) {
	freshDir := FreshDir(dir)
	if err := os.RemoveAll(freshDir); err != nil {
		return nil, Stats{}, fmt.Errorf("remove the stale %s: %w", freshDir, err)
	}
	counted := &countingReplayer{Replayer: src}
	start := time.Now()
	fresh, err := projections.Rebuild(ctx, freshDir, opts, counted, progress)
	st := Stats{Events: counted.n.Load(), Elapsed: time.Since(start)}
	if err != nil {
		os.RemoveAll(freshDir)
		return nil, st, err
	}
	return fresh, st, nil
}

// countingReplayer counts the events a replay delivers.
type countingReplayer struct {
	projections.Replayer
	n atomic.Uint64
}

func (c *countingReplayer) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	return c.Replayer.Replay(ctx, from, filter, func(r domain.Recorded) error {
		c.n.Add(1)
		return fn(r)
	})
}

// closeFresh closes a rebuilt store and returns its checkpoint and
// checksum; on failure it removes FreshDir(dir).
func closeFresh(fresh *projections.Store, dir string) (seq uint64, sum string, err error) {
	sum, err = fresh.Checksum()
	seq = fresh.Checkpoint()
	if err = errors.Join(err, fresh.Close()); err != nil {
		os.RemoveAll(FreshDir(dir))
		return seq, sum, err
	}
	return seq, sum, nil
}

// Install closes fresh, a store Fresh built for dir, and puts it in place
// where there is nothing to compare it with: no live store in dir, or
// (replaceOld) one of an older layout, which is moved to <dir>.old first
// and removed after. It returns the rebuild's checkpoint and checksum.
// When a rename fails, the live read models are left in place (the error
// says so) and the rebuild is removed.
func Install(fresh *projections.Store, dir string, replaceOld bool) (seq uint64, sum string, err error) {
	freshDir, old := FreshDir(dir), dir+".old"
	if seq, sum, err = closeFresh(fresh, dir); err != nil {
		return seq, sum, err
	}
	if replaceOld {
		if err := os.RemoveAll(old); err != nil {
			return seq, sum, err
		}
		if err := os.Rename(dir, old); err != nil {
			os.RemoveAll(freshDir)
			return seq, sum, fmt.Errorf("the live read models are left in place: %w", err)
		}
	}
	if err := os.Rename(freshDir, dir); err != nil {
		if replaceOld {
			err = errors.Join(err, os.Rename(old, dir))
		}
		os.RemoveAll(freshDir)
		return seq, sum, fmt.Errorf("the live read models are left in place: %w", err)
	}
	if replaceOld {
		os.RemoveAll(old)
	}
	return seq, sum, nil
}

// Replace closes fresh, a store Fresh built for dir, moves the read
// models in dir aside (MoveAside, at now) without opening them, and puts
// the rebuild in their place: stamp replay --force. It returns the
// rebuild's checkpoint and checksum and where the old models went ("" when
// dir held none). When a rename fails, the read models are left in place
// (the error says so) and the rebuild is removed.
func Replace(fresh *projections.Store, dir string, now time.Time) (seq uint64, sum, aside string, err error) {
	freshDir := FreshDir(dir)
	if seq, sum, err = closeFresh(fresh, dir); err != nil {
		return seq, sum, "", err
	}
	aside, err = MoveAside(dir, now)
	if err != nil {
		os.RemoveAll(freshDir)
		return seq, sum, "", fmt.Errorf("the read models are left in place: %w", err)
	}
	if err := os.Rename(freshDir, dir); err != nil {
		if aside != "" {
			err = errors.Join(err, os.Rename(aside, dir))
		}
		os.RemoveAll(freshDir)
		return seq, sum, "", fmt.Errorf("the read models are left in place: %w", err)
	}
	return seq, sum, aside, nil
}

// MoveAside renames the read models in dir to dir.corrupt-<time> (-2,
// -3, … after it when taken) and returns the new name; a missing dir is
// left alone ("", nil).
func MoveAside(dir string, now time.Time) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := dir + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ { // within one second, a second one
		if _, err := os.Stat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s.corrupt-%s-%d", dir, now.UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(dir, aside); err != nil {
		return "", fmt.Errorf("move the read models aside: %w", err)
	}
	return aside, nil
}
