package groupcommit

import "time"

// The cost model's constants (see the package comment).
const (
	// maxBatchEvents is the most messages in one atomic batch, the
	// server's default limit; a round holding more is split.
	maxBatchEvents = 1000
	// probeInterval is how long the committer trusts the measured cost of
	// the way it is not choosing; after it, a round for which that way is
	// within a factor of probeRange tries it again, but at most probeSize
	// appends of the round on their own (the rest still as one batch).
	// Without probes, one bad sample (a disk stall) could settle the choice
	// for good.
	probeInterval = time.Second
	probeRange    = 8
	probeSize     = 8
	// minSoloSamples is how many appends published on their own the
	// committer measures before it trusts that cost.
	minSoloSamples = 4
	// busySampleSize is how many direct appends make a sample of their
	// cost when they keep overlapping.
	busySampleSize = 32
)

// lowDemand reports whether, by the costs measured so far, a batch would not
// pay at the current concurrency: one more direct append may go out beside
// those in flight. c.mu is held.
func (c *Committer) lowDemand() bool {
	if c.combineAlways || c.soloCount < minSoloSamples || c.batchCost == 0 {
		return false
	}
	demand := time.Duration(float64(c.active) * c.soloTime / c.soloCount)
	if demand > c.batchCost {
		return false
	}
	// Now and then, when the batch cost is old and not far off, queue one
	// append: those after it queue too, and the round they make tries a
	// batch again (see plan).
	now := time.Now()
	if probeRange*demand > c.batchCost && now.Sub(c.lastBatch) > probeInterval && now.Sub(c.lastProbe) > probeInterval {
		c.lastProbe = now
		return false
	}
	return true
}

// plan says how to publish part: its first n appends on their own, the
// rest as one atomic batch; whichever is cheaper by the costs measured so
// far.
func (c *Committer) plan(part []*queuedAppend) (n int) {
	all := len(part)
	if all < 2 {
		return all
	}
	for _, p := range part {
		if len(p.msgs) > 1 {
			return 0 // it costs a batch anyway
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.combineAlways:
		return 0
	case c.soloCount < minSoloSamples:
		return all // measure it first
	case c.batchCost == 0:
		return 0
	}
	alone := time.Duration(float64(all) * c.soloTime / c.soloCount)
	batch := alone > c.batchCost
	// Costs change (disk, load, the number waiting), and only the way
	// chosen is measured: when the other way's figure is old, and not far
	// off, try it again.
	now := time.Now()
	switch {
	case batch && probeRange*c.batchCost > alone && now.Sub(c.lastSolo) > probeInterval:
		return min(all, probeSize)
	case !batch && probeRange*alone > c.batchCost && now.Sub(c.lastBatch) > probeInterval:
		return 0
	case batch:
		return 0
	}
	return all
}

// measureSolo records that n appends published on their own took took.
// c.mu is held.
func (c *Committer) measureSolo(took time.Duration, n int) {
	c.soloTime = c.soloTime*7/8 + float64(took)
	c.soloCount = c.soloCount*7/8 + float64(n)
	c.lastSolo = time.Now()
}

// average is a moving average giving the newest sample a quarter of the
// weight; a zero old value means none yet.
func average(old, sample time.Duration) time.Duration {
	if old == 0 {
		return sample
	}
	return old + (sample-old)/4
}
