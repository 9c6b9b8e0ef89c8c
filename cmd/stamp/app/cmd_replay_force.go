package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stamp-oauth/stamp/projections"
)

// replayForce is stamp replay --force: it rebuilds the read models from
// the (checked) log into <dir>.rebuild without opening the live ones,
// moves those aside to <dir>.corrupt-<time> and puts the rebuild in their
// place. It refuses while a server runs on the data directory. A damaged
// log stops it before anything moves, as any replay.
func replayForce(ctx context.Context, l *cliLog, c Config, meter *progressMeter) (replayResult, error) {
	dir := projectionsDir(c)
	if l.info != nil {
		return replayResult{}, errors.New("a server is running on the data directory (serve.json): stamp replay --force replaces read models no server holds; stop it first, or run stamp replay, which has the server rebuild them")
	}
	if err := projections.InUse(dir); err != nil {
		return replayResult{}, fmt.Errorf("the read models are in use (is a server running on the data directory?): %w", err)
	}
	src, note, err := checkLog(ctx, l, l, time.Duration(c.StreamMaxAge))
	if err != nil {
		return replayResult{}, err
	}
	if note != "" {
		meter.note(note)
	}
	opts := projections.Options{Logger: storeLogger(c, meter.w), UserKeys: l.keys}
	fresh, res, err := rebuildFresh(ctx, src, dir, opts, meter.update, nil, nil) // from scratch
	if err != nil {
		return res, err
	}
	res.Note = note
	freshDir := dir + ".rebuild"
	sum, err := fresh.Checksum()
	res.Seq, res.Checksum = fresh.Checkpoint(), sum
	if err = errors.Join(err, fresh.Close()); err != nil {
		os.RemoveAll(freshDir)
		return res, err
	}
	aside, err := moveAside(dir, time.Now())
	if err != nil {
		os.RemoveAll(freshDir)
		return res, fmt.Errorf("the read models are left in place: %w", err)
	}
	if err := os.Rename(freshDir, dir); err != nil {
		if aside != "" {
			err = errors.Join(err, os.Rename(aside, dir))
		}
		os.RemoveAll(freshDir)
		return res, fmt.Errorf("the read models are left in place: %w", err)
	}
	if aside != "" {
		res.Note = joinNotes(res.Note, fmt.Sprintf("the old read models are in %s; remove it once the server runs", filepath.Base(aside)))
	}
	return res, nil
}

// joinNotes joins two notes.
func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
