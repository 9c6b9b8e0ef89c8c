package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/logcheck"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// stamp replay rebuilds every read model from the log into a fresh Pebble
// directory beside the live one (<data-dir>/projections.rebuild), checks it
// against the live models caught up to the same sequence, and swaps it in.
//
// Without a server on the data directory the CLI does all of it itself.
// With one, the server does it, since it holds the live store open and must
// never serve from a closed one: the CLI asks it over NATS and follows its
// progress (cmd/stamp/internal/replayctl).
//
// The rebuild is the truth: when the checksums differ the rebuilt models
// are swapped in all the same, and the command exits 1 saying the live ones
// had drifted. But only a rebuild from a sound log: every read of it is
// checked as stamp verify checks it (see logcheck), and missing
// sequences or records the log refuses stop the replay before the swap,
// listed with their sequences (exit 1).
//
// --force is for read models a server refuses (see node_integrity.go): it
// rebuilds without opening the live ones, moves them aside to
// projections.corrupt-<time> and puts the rebuild in their place. It runs
// only without a server on the data directory.

// cmdReplay rebuilds the read models from the log and swaps them in.
func cmdReplay(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	force := fs.Bool("force", false, "rebuild read models a server refuses (damaged, or ahead of the log) without opening them; they are moved aside to projections.corrupt-<time>")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	logger := newLogger(c, cio.Stderr)
	l, err := openCLILog(ctx, c, logger)
	if err != nil {
		return err
	}
	defer l.Close()
	meter := replayctl.NewMeter(cio.Stderr, time.Now)
	var res replayctl.Result
	if *force {
		res, err = replayForce(ctx, l, c, meter)
	} else if info, ierr := readServeInfo(c); ierr == nil && info.Instance != "" {
		res, err = replayctl.Follow(ctx, l, info.Instance, meter)
		if errors.Is(err, eventstore.ErrNoResponder) {
			logger.Debug("the server in serve.json does not answer; replaying here", "instance", info.Instance)
			res, err = replayHere(ctx, l, c, meter)
		}
	} else {
		res, err = replayHere(ctx, l, c, meter)
	}
	meter.Finish()
	if err != nil {
		return err
	}
	return printReplay(cio.Stdout, res)
}

// printReplay prints the outcome and returns an error if the live read
// models had drifted.
func printReplay(w io.Writer, res replayctl.Result) error {
	if res.LiveChecksum != "" {
		fmt.Fprintf(w, "live     %s (sequence %d)\n", res.LiveChecksum, res.Seq)
		fmt.Fprintf(w, "rebuilt  %s (sequence %d)\n", res.Checksum, res.Seq)
	}
	if res.Note != "" {
		fmt.Fprintf(w, "note: %s\n", res.Note)
	}
	fmt.Fprintf(w, "checksum %s\n", res.Checksum)
	took := time.Duration(res.Seconds * float64(time.Second))
	fmt.Fprintf(w, "events %d in %s (%s/s)\n", res.Events, took.Round(time.Millisecond), replayctl.FormatRate(res.Events, took))
	if res.Drifted() {
		return fmt.Errorf("the live read models had drifted from the log: at sequence %d their checksum was %s, a rebuild gives %s; the rebuilt read models are in place now", res.Seq, res.LiveChecksum, res.Checksum)
	}
	return nil
}

// replayHere rebuilds and swaps from this process: no server holds the
// read models. It opens the live ones first, so that it fails before the
// rebuild if something else holds them.
func replayHere(ctx context.Context, l *cliLog, c Config, meter *replayctl.Meter) (replayctl.Result, error) {
	dir := projectionsDir(c)
	freshDir := dir + ".rebuild"
	opts := projections.Options{Logger: storeLogger(c, meter.Writer()), UserKeys: l.keys}
	var live *projections.Store
	replaceOld := false
	if _, err := os.Stat(dir); err == nil {
		live, err = projections.Open(dir, opts)
		if err == nil {
			if err = live.Verify(); err != nil {
				live.Close()
			}
		}
		switch {
		case errors.Is(err, projections.ErrLayout):
			meter.Note("the live read models have an older layout: they will be replaced without a comparison")
			replaceOld = true
		case errors.Is(err, projections.ErrCorrupt):
			return replayctl.Result{}, fmt.Errorf("%w: %w; run stamp replay --force to rebuild them without opening them", errReadModelsDamaged, err)
		case errors.Is(err, projections.ErrInUse):
			return replayctl.Result{}, fmt.Errorf("the live read models are in use (is a server running on the data directory?): %w", err)
		case err != nil:
			return replayctl.Result{}, fmt.Errorf("the live read models cannot be opened: %w", err)
		default:
			defer live.Close()
		}
	}
	src, note, err := logcheck.Wrap(ctx, l, time.Duration(c.StreamMaxAge))
	if err != nil {
		return replayctl.Result{}, err
	}
	if live != nil {
		last, err := l.LastSeq(ctx)
		if err != nil {
			return replayctl.Result{}, err
		}
		if high := live.Highest(); high > last {
			return replayctl.Result{}, fmt.Errorf("%w: they have applied up to sequence %d, but the log ends at sequence %d: the log lost events they hold (a restore of an older backup of the log, or writes lost with --sync interval in a power failure); restore a newer log, or run stamp replay --force to rebuild them from this one", errReadModelsAhead, high, last)
		}
	}
	if note != "" {
		meter.Note(note)
	}
	fresh, res, err := rebuildFresh(ctx, src, dir, opts, meter.Update)
	res.Note = note
	if err != nil {
		return res, err
	}
	if live == nil {
		return finishWithoutLive(fresh, res, dir, replaceOld)
	}
	meter.Note("catching the live read models up, comparing and swapping")
	sw, err := live.SwapIn(ctx, fresh, src, projections.Swap{Dir: dir, FreshDir: freshDir, Options: opts})
	if err != nil {
		os.RemoveAll(freshDir)
		return res, fmt.Errorf("the live read models are left in place: %w", err)
	}
	res.Seq, res.Checksum, res.LiveChecksum = sw.Seq, sw.FreshSum, sw.LiveSum
	return res, live.Close()
}

// storeLogger is the logger for the Pebble stores of a CLI replay: Pebble's
// routine messages only at the debug level.
func storeLogger(c Config, w io.Writer) *slog.Logger {
	if level, _ := parseLevel(c.LogLevel); level > slog.LevelDebug && level < slog.LevelWarn {
		c.LogLevel = "warn"
	}
	return newLogger(c, w)
}

// finishWithoutLive puts a rebuilt store in place where there is nothing
// to compare it with: no live store, or (replaceOld) one of an older
// layout, which is moved aside first and removed after.
func finishWithoutLive(fresh *projections.Store, res replayctl.Result, dir string, replaceOld bool) (replayctl.Result, error) {
	freshDir, old := dir+".rebuild", dir+".old"
	sum, err := fresh.Checksum()
	res.Seq, res.Checksum = fresh.Checkpoint(), sum
	if err = errors.Join(err, fresh.Close()); err != nil {
		os.RemoveAll(freshDir)
		return res, err
	}
	if replaceOld {
		if err := os.RemoveAll(old); err != nil {
			return res, err
		}
		if err := os.Rename(dir, old); err != nil {
			os.RemoveAll(freshDir)
			return res, fmt.Errorf("the live read models are left in place: %w", err)
		}
	}
	if err := os.Rename(freshDir, dir); err != nil {
		if replaceOld {
			err = errors.Join(err, os.Rename(old, dir))
		}
		os.RemoveAll(freshDir)
		return res, fmt.Errorf("the live read models are left in place: %w", err)
	}
	if replaceOld {
		os.RemoveAll(old)
	}
	return res, nil
}

// rebuildFresh rebuilds the read models from src into dir+".rebuild",
// removing a stale one first, and returns the new store open, with the
// count and time of the rebuild in res. On failure it removes the partial
// directory.
func rebuildFresh(ctx context.Context, src projections.Replayer, dir string, opts projections.Options, progress func(done, total uint64)) (*projections.Store, replayctl.Result, error) {
	freshDir := dir + ".rebuild"
	if err := os.RemoveAll(freshDir); err != nil {
		return nil, replayctl.Result{}, fmt.Errorf("remove the stale %s: %w", freshDir, err)
	}
	counted := &countingReplayer{Replayer: src}
	start := time.Now()
	fresh, err := projections.Rebuild(ctx, freshDir, opts, counted, progress)
	res := replayctl.Result{Events: counted.n.Load(), Seconds: time.Since(start).Seconds()}
	if err != nil {
		os.RemoveAll(freshDir)
		return nil, res, err
	}
	return fresh, res, nil
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

func projectionsDir(c Config) string { return filepath.Join(c.DataDir, "projections") }
