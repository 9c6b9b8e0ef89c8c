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
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/logcheck"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
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
// By default the rebuild starts from the newest read-model snapshot
// (snapshots.go) and replays the events after it; --from-scratch starts
// from the first event.
//
// --force is for read models a server refuses (see node_integrity.go): it
// rebuilds without opening the live ones, moves them aside to
// projections.corrupt-<time> and puts the rebuild in their place. It runs
// only without a server on the data directory.

// cmdReplay rebuilds the read models from the log and swaps them in.
func cmdReplay(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	force := fs.Bool("force", false, "rebuild read models a server refuses (damaged, or ahead of the log) without opening them; they are moved aside to projections.corrupt-<time>")
	fromScratch := fs.Bool("from-scratch", false, "rebuild from the first event, not from the newest read-model snapshot (--force always does)")
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
		res, err = replayctl.Follow(ctx, l, info.Instance, replayctl.Request{FromScratch: *fromScratch}, meter)
		if errors.Is(err, eventstore.ErrNoResponder) {
			logger.Debug("the server in serve.json does not answer; replaying here", "instance", info.Instance)
			res, err = replayHere(ctx, l, c, meter, *fromScratch)
		}
	} else {
		res, err = replayHere(ctx, l, c, meter, *fromScratch)
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
	if res.FromSnapshot > 0 {
		fmt.Fprintf(w, "from snapshot at sequence %d (stamp replay --from-scratch replays every event)\n", res.FromSnapshot)
	}
	fmt.Fprintf(w, "checksum %s\n", res.Checksum)
	took := time.Duration(res.Seconds * float64(time.Second))
	fmt.Fprintf(w, "events %d in %s (%s/s)\n", res.Events, took.Round(time.Millisecond), replayctl.FormatRate(res.Events, took))
	if res.ByCheckpoint > 0 {
		fmt.Fprintf(w, "of which %d accepted by their signed log checkpoints (one signature per range)\n", res.ByCheckpoint)
	}
	if res.Drifted() {
		return fmt.Errorf("the live read models had drifted from the log: at sequence %d their checksum was %s, a rebuild gives %s; the rebuilt read models are in place now", res.Seq, res.LiveChecksum, res.Checksum)
	}
	return nil
}

// replayHere rebuilds and swaps from this process: no server holds the
// read models. It opens the live ones first, so that it fails before the
// rebuild if something else holds them.
func replayHere(ctx context.Context, l *cliLog, c Config, meter *replayctl.Meter, fromScratch bool) (replayctl.Result, error) {
	dir := projectionsDir(c)
	freshDir := rebuild.FreshDir(dir)
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
	src, note, err := checkedLog(ctx, l.Store, c.StreamMaxAge)
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
	var snaps rebuild.Snapshots
	if !fromScratch {
		snaps = snapshotSource{l.Store}
	}
	fresh, res, err := rebuildFresh(ctx, l.Store, src, dir, opts, meter.Update, snaps, meter.Note)
	res.Note = note
	if err != nil {
		return res, err
	}
	if live == nil {
		res.Seq, res.Checksum, err = rebuild.Install(fresh, dir, replaceOld)
		return res, err
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

// checkedLog is the log every replay rebuilds from, on a server and in
// the CLI alike: store trusting its signed checkpoints (one signature per
// range, eventstore.Checkpointed), every read checked as stamp verify
// checks it (logcheck). note is what the operator should know of it.
func checkedLog(ctx context.Context, store *eventstore.Store, maxAge Duration) (src projections.Replayer, note string, err error) {
	return logcheck.Wrap(ctx, eventstore.Checkpointed{Store: store}, time.Duration(maxAge))
}

// rebuildFresh is rebuild.FreshFrom with snaps (warn hears of the
// snapshots it skips), or rebuild.Fresh without (from the first event),
// from src, a checkedLog of store; its Stats in a replay's result, with
// how many events store accepted by their checkpoints meanwhile.
func rebuildFresh(ctx context.Context, store *eventstore.Store, src projections.Replayer, dir string, opts projections.Options, progress func(done, total uint64), snaps rebuild.Snapshots, warn func(string)) (*projections.Store, replayctl.Result, error) {
	var fresh *projections.Store
	var st rebuild.Stats
	var err error
	hashed := store.LogSigning().Hashed
	if snaps != nil {
		fresh, st, err = rebuild.FreshFrom(ctx, snaps, src, dir, opts, progress, warn)
	} else {
		fresh, st, err = rebuild.Fresh(ctx, src, dir, opts, progress)
	}
	return fresh, replayctl.Result{
		Events: st.Events, Seconds: st.Elapsed.Seconds(), FromSnapshot: st.FromSnapshot,
		ByCheckpoint: store.LogSigning().Hashed - hashed,
	}, err
}

func projectionsDir(c Config) string { return filepath.Join(c.DataDir, "projections") }
