package app

import "context"

// startCheckpoints runs the log's checkpoint writer until ctx ends, unless
// log_checkpoint_interval is 0. Every instance of a cluster runs one; the
// checkpoint subject's expected sequence lets one win each range.
//
// The writer follows the stream on its own and verifies each event's
// signature again rather than hashing what the read models' runner has
// verified: the runner reads from the read models' checkpoint (not from a
// range's start), in parallel batches, through a projections port that
// sees decoded events only, so hashing there would couple projections to
// the log's raw bytes and signatures. The cost is one more signature check
// per event on each instance, on one goroutine (README "Checkpoints").
func (n *Node) startCheckpoints(ctx context.Context) {
	every := n.cfg.LogCheckpointInterval
	if every <= 0 {
		return
	}
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		if err := n.store.WriteCheckpoints(ctx, uint64(every)); err != nil {
			n.logger.Error("log checkpoints stopped", "err", err)
		}
	}()
}
