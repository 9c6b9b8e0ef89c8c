package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/rebuild"
	"github.com/stamp-oauth/stamp/cmd/stamp/internal/replayctl"
	"github.com/stamp-oauth/stamp/projections"
)

// replayControl answers replay requests on a node (replayctl.Server),
// running them on the node's own read models.
type replayControl struct{ srv *replayctl.Server }

// serveReplay gives the node its instance id and starts answering replay
// requests on its subject.
func (n *Node) serveReplay() error {
	var id [8]byte
	rand.Read(id[:])
	n.instance = hex.EncodeToString(id[:])
	srv, err := replayctl.Serve(n.store, n.instance, n.replayViews, n.logger)
	if err != nil {
		return err
	}
	n.replay = &replayControl{srv: srv}
	return nil
}

// close stops answering, cancels a replay in progress and waits for it to
// end (a swap under way completes or rolls back first). Safe on nil.
func (rc *replayControl) close() {
	if rc == nil {
		return
	}
	rc.srv.Close()
}

// replayViews rebuilds the node's read models from the checked log (from
// the newest read-model snapshot unless req asks from scratch) and swaps
// the rebuild in, reporting to r.
func (n *Node) replayViews(ctx context.Context, req replayctl.Request, r replayctl.Reporter) (replayctl.Result, error) {
	dir := projectionsDir(n.cfg)
	opts := n.cfg.viewOptions(n.logger, n.keys)
	src, note, err := checkedLog(ctx, n.store, n.cfg.StreamMaxAge)
	if err != nil {
		return replayctl.Result{}, err
	}
	var snaps rebuild.Snapshots
	if !req.FromScratch {
		snaps = snapshotSource{n.store}
	}
	fresh, res, err := rebuildFresh(ctx, n.store, src, dir, opts, r.Progress, snaps, snapshotWarner(n.logger))
	res.Note = note
	if err != nil {
		return res, err
	}
	r.Swapping()
	sw, err := n.views.SwapIn(ctx, fresh, src, projections.Swap{Dir: dir, FreshDir: rebuild.FreshDir(dir), Options: opts})
	if err != nil {
		os.RemoveAll(rebuild.FreshDir(dir))
		return res, fmt.Errorf("the live read models are left in place: %w", err)
	}
	res.Seq, res.Checksum, res.LiveChecksum = sw.Seq, sw.FreshSum, sw.LiveSum
	return res, nil
}
