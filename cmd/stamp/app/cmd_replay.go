package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

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
// never serve from a closed one: the CLI asks it over NATS, on
// stampctl.<instance>.replay (the instance is in serve.json; control
// subjects lie outside stamp.>, so the stream never stores them), and
// follows its progress on stampctl.<instance>.replay.progress.
//
// The rebuild is the truth: when the checksums differ the rebuilt models
// are swapped in all the same, and the command exits 1 saying the live ones
// had drifted. But only a rebuild from a sound log: every read of it is
// checked as stamp verify checks it (see integrity.go), and missing
// sequences or records the log refuses stop the replay before the swap,
// listed with their sequences (exit 1).
//
// --force is for read models a server refuses (see node_integrity.go): it
// rebuilds without opening the live ones, moves them aside to
// projections.corrupt-<time> and puts the rebuild in their place. It runs
// only without a server on the data directory.

// replaySubject is the control subject of the node with instance id
// instance; progress goes to replaySubject + ".progress".
func replaySubject(instance string) string { return "stampctl." + instance + ".replay" }

// replayTick is how often a server reports the progress of a replay, and
// replaySilence how long the CLI waits without a report before it gives up.
const (
	replayTick    = 250 * time.Millisecond
	replaySilence = 30 * time.Second
)

// replayAck answers a replay request: the replay has started, or why not.
type replayAck struct {
	Started bool   `json:"started"`
	Error   string `json:"error,omitempty"`
}

// replayStatus is one progress report of a server's replay; the last has a
// Result.
type replayStatus struct {
	Phase  string        `json:"phase"` // "rebuild", then "swap"
	Done   uint64        `json:"done"`
	Total  uint64        `json:"total"`
	Result *replayResult `json:"result,omitempty"`
}

// replayResult is the outcome of a replay.
type replayResult struct {
	// Events is how many events the rebuild applied, in Seconds.
	Events  uint64  `json:"events"`
	Seconds float64 `json:"seconds"`
	// Seq is the sequence at which the stores were compared; Checksum is
	// the rebuilt store's there, LiveChecksum the live one's ("" when there
	// was no live store to compare).
	Seq          uint64 `json:"seq"`
	Checksum     string `json:"checksum"`
	LiveChecksum string `json:"live_checksum,omitempty"`
	Error        string `json:"error,omitempty"`
	// Note tells what the operator should know of a sound replay: the
	// stream begins above sequence 1; where --force put the old models.
	Note string `json:"note,omitempty"`
	// FromSnapshot is the sequence of the read-model snapshot the rebuild
	// started from (see snapshots.go); 0: from the first event.
	FromSnapshot uint64 `json:"from_snapshot,omitempty"`
}

// replayRequest asks a server to replay.
type replayRequest struct {
	// FromScratch: from the first event, not from a snapshot.
	FromScratch bool `json:"from_scratch,omitempty"`
}

func (r replayResult) drifted() bool { return r.LiveChecksum != "" && r.LiveChecksum != r.Checksum }

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
	meter := newProgressMeter(cio.Stderr, time.Now)
	var res replayResult
	if *force {
		res, err = replayForce(ctx, l, c, meter)
	} else if info, ierr := readServeInfo(c); ierr == nil && info.Instance != "" {
		res, err = replayOnServer(ctx, l, info.Instance, meter, *fromScratch)
		if errors.Is(err, eventstore.ErrNoResponder) {
			logger.Debug("the server in serve.json does not answer; replaying here", "instance", info.Instance)
			res, err = replayHere(ctx, l, c, meter, *fromScratch)
		}
	} else {
		res, err = replayHere(ctx, l, c, meter, *fromScratch)
	}
	meter.finish()
	if err != nil {
		return err
	}
	return printReplay(cio.Stdout, res)
}

// printReplay prints the outcome and returns an error if the live read
// models had drifted.
func printReplay(w io.Writer, res replayResult) error {
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
	fmt.Fprintf(w, "events %d in %s (%s/s)\n", res.Events, took.Round(time.Millisecond), formatRate(res.Events, took))
	if res.drifted() {
		return fmt.Errorf("the live read models had drifted from the log: at sequence %d their checksum was %s, a rebuild gives %s; the rebuilt read models are in place now", res.Seq, res.LiveChecksum, res.Checksum)
	}
	return nil
}

// replayHere rebuilds and swaps from this process: no server holds the
// read models. It opens the live ones first, so that it fails before the
// rebuild if something else holds them.
func replayHere(ctx context.Context, l *cliLog, c Config, meter *progressMeter, fromScratch bool) (replayResult, error) {
	dir := projectionsDir(c)
	freshDir := dir + ".rebuild"
	opts := projections.Options{Logger: storeLogger(c, meter.w), UserKeys: l.keys}
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
			meter.note("the live read models have an older layout: they will be replaced without a comparison")
			replaceOld = true
		case errors.Is(err, projections.ErrCorrupt):
			return replayResult{}, fmt.Errorf("%w: %w; run stamp replay --force to rebuild them without opening them", errReadModelsDamaged, err)
		case errors.Is(err, projections.ErrInUse):
			return replayResult{}, fmt.Errorf("the live read models are in use (is a server running on the data directory?): %w", err)
		case err != nil:
			return replayResult{}, fmt.Errorf("the live read models cannot be opened: %w", err)
		default:
			defer live.Close()
		}
	}
	src, note, err := checkLog(ctx, l, l, time.Duration(c.StreamMaxAge))
	if err != nil {
		return replayResult{}, err
	}
	if live != nil {
		last, err := l.LastSeq(ctx)
		if err != nil {
			return replayResult{}, err
		}
		if high := live.Highest(); high > last {
			return replayResult{}, fmt.Errorf("%w: they have applied up to sequence %d, but the log ends at sequence %d: the log lost events they hold (a restore of an older backup of the log, or writes lost with --sync interval in a power failure); restore a newer log, or run stamp replay --force to rebuild them from this one", errReadModelsAhead, high, last)
		}
	}
	if note != "" {
		meter.note(note)
	}
	var snaps snapshotSource
	if !fromScratch {
		snaps = l
	}
	fresh, res, err := rebuildFresh(ctx, src, dir, opts, meter.update, snaps, meter.note)
	res.Note = note
	if err != nil {
		return res, err
	}
	if live == nil {
		return finishWithoutLive(fresh, res, dir, replaceOld)
	}
	meter.note("catching the live read models up, comparing and swapping")
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
func finishWithoutLive(fresh *projections.Store, res replayResult, dir string, replaceOld bool) (replayResult, error) {
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
// count and time of the rebuild in res. With snaps, it starts from the
// newest usable read-model snapshot (see snapshots.go; warn hears of each
// one it skips), else, or when there is none, from the first event. On
// failure it removes the partial directory.
func rebuildFresh(ctx context.Context, src projections.Replayer, dir string, opts projections.Options, progress func(done, total uint64), snaps snapshotSource, warn func(string)) (*projections.Store, replayResult, error) {
	freshDir := dir + ".rebuild"
	if err := os.RemoveAll(freshDir); err != nil {
		return nil, replayResult{}, fmt.Errorf("remove the stale %s: %w", freshDir, err)
	}
	counted := &countingReplayer{Replayer: src}
	start := time.Now()
	var fresh *projections.Store
	var err error
	var from uint64
	if snaps != nil {
		fresh, from, err = rebuildFromSnapshot(ctx, snaps, counted, freshDir, opts, progress, warn)
	}
	if err == nil && fresh == nil {
		fresh, err = projections.Rebuild(ctx, freshDir, opts, counted, progress)
	}
	res := replayResult{Events: counted.n.Load(), Seconds: time.Since(start).Seconds(), FromSnapshot: from}
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

// replayOnServer asks the server with instance id instance to replay and
// follows its progress until the result. It returns an error wrapping
// eventstore.ErrNoResponder if no such server answers.
func replayOnServer(ctx context.Context, l *cliLog, instance string, meter *progressMeter, fromScratch bool) (replayResult, error) {
	subject := replaySubject(instance)
	done := make(chan struct{})
	defer close(done)
	reports := make(chan replayStatus, 16)
	stop, err := l.Subscribe(subject+".progress", func(msg []byte) {
		var st replayStatus
		if json.Unmarshal(msg, &st) != nil {
			return
		}
		select {
		case reports <- st:
		case <-done:
		}
	})
	if err != nil {
		return replayResult{}, err
	}
	defer stop()
	req, _ := json.Marshal(replayRequest{FromScratch: fromScratch})
	resp, err := l.Request(ctx, subject, req)
	if err != nil {
		return replayResult{}, err
	}
	var ack replayAck
	if err := json.Unmarshal(resp, &ack); err != nil {
		return replayResult{}, fmt.Errorf("the server answered %q: %w", resp, err)
	}
	if !ack.Started {
		return replayResult{}, fmt.Errorf("the server did not start a replay: %s", ack.Error)
	}
	phase, total := "rebuild", uint64(0)
	silence := time.NewTimer(replaySilence)
	defer silence.Stop()
	for {
		select {
		case st := <-reports:
			silence.Reset(replaySilence)
			if st.Result != nil {
				if phase == "rebuild" && st.Result.Error == "" {
					meter.update(total, total)
				}
				if st.Result.Error != "" {
					return *st.Result, fmt.Errorf("the server's replay failed: %s", st.Result.Error)
				}
				return *st.Result, nil
			}
			total = st.Total
			if st.Phase != phase {
				phase = st.Phase
				meter.update(st.Total, st.Total)
				meter.note("the server is catching its live read models up, comparing and swapping")
				continue
			}
			meter.update(st.Done, st.Total)
		case <-silence.C:
			return replayResult{}, fmt.Errorf("the server sent no news of the replay for %s; its log tells how it ended", replaySilence)
		case <-ctx.Done():
			return replayResult{}, fmt.Errorf("stopped following the replay, which the server carries on: %w", ctx.Err())
		}
	}
}

// progressMeter shows a replay's progress: on a terminal one line rewritten
// in place, elsewhere a line every second or every tenth of the way.
type progressMeter struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time // of the last line shown
	tenth uint64    // of the last line shown, off a terminal
	shown int       // length of the line on screen, on a terminal
}

func newProgressMeter(w io.Writer, now func() time.Time) *progressMeter {
	t := now()
	return &progressMeter{w: w, tty: isTerminal(w), now: now, start: t, last: t}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update shows that done of total sequences are replayed, if it is time
// to.
func (m *progressMeter) update(done, total uint64) {
	now := m.now()
	if m.tty {
		if now.Sub(m.last) < 100*time.Millisecond && done < total {
			return
		}
		line := m.line(done, total, now)
		fmt.Fprintf(m.w, "\r%-*s", m.shown, line)
		m.shown = len(line)
		m.last = now
		return
	}
	tenth := uint64(10)
	if total > 0 {
		tenth = min(done, total) * 10 / total
	}
	if tenth == m.tenth && now.Sub(m.last) < time.Second {
		return
	}
	fmt.Fprintln(m.w, m.line(done, total, now))
	m.tenth, m.last = tenth, now
}

// note shows a line of its own.
func (m *progressMeter) note(msg string) {
	m.finish()
	fmt.Fprintln(m.w, "replay: "+msg)
}

// finish ends the line on a terminal.
func (m *progressMeter) finish() {
	if m.tty && m.shown > 0 {
		fmt.Fprintln(m.w)
		m.shown = 0
	}
}

func (m *progressMeter) line(done, total uint64, now time.Time) string {
	elapsed := now.Sub(m.start)
	pct := uint64(100)
	if total > 0 {
		pct = min(done, total) * 100 / total
	}
	left := "?"
	if rate := float64(done) / elapsed.Seconds(); done > 0 && elapsed > 0 && total >= done {
		d := time.Duration(float64(total-done) / rate * float64(time.Second))
		if d < 10*time.Second {
			left = d.Round(100 * time.Millisecond).String()
		} else {
			left = d.Round(time.Second).String()
		}
	}
	return fmt.Sprintf("replay: %d/%d events (%d%%), %s/s, %s left", done, total, pct, formatRate(done, elapsed), left)
}

// formatRate returns n per d, per second, as a whole number ("-" for no
// time).
func formatRate(n uint64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}
