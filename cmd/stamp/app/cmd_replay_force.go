package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
	"github.com/stamp-oauth/stamp/projections"
)

// replayForce is stamp replay --force: it rebuilds the read models from
// the (checked) log into <dir>.rebuild without opening the live ones,
// moves those aside to <dir>.corrupt-<time> and puts the rebuild in their
// place. It refuses while a server runs on the data directory. A damaged
// log stops it before anything moves, as any replay.
func replayForce(ctx context.Context, l *cliLog, c Config, meter *replayctl.Meter) (replayctl.Result, error) {
	dir := projectionsDir(c)
	if l.info != nil {
		return replayctl.Result{}, errors.New("a server is running on the data directory (serve.json): stamp replay --force replaces read models no server holds; stop it first, or run stamp replay, which has the server rebuild them")
	}
	if err := projections.InUse(dir); err != nil {
		return replayctl.Result{}, fmt.Errorf("the read models are in use (is a server running on the data directory?): %w", err)
	}
	src, note, err := checkedLog(ctx, l.Store, c.StreamMaxAge)
	if err != nil {
		return replayctl.Result{}, err
	}
	if note != "" {
		meter.Note(note)
	}
	opts := projections.Options{Logger: storeLogger(c, meter.Writer()), UserKeys: l.keys}
	fresh, res, err := rebuildFresh(ctx, l.Store, src, dir, opts, meter.Update, nil, nil) // from the first event
	if err != nil {
		return res, err
	}
	res.Note = note
	seq, sum, aside, err := rebuild.Replace(fresh, dir, time.Now())
	res.Seq, res.Checksum = seq, sum
	if err != nil {
		return res, err
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
