package groupcommit

import "time"

// The methods in this file steer a Committer into the states its contract
// covers, for the tests of this package and of the event store (whose
// tests check what a group commit stores through a real server). Nothing
// else calls them.

// Hold makes the Committer behave as if a round were in progress, so that
// appends queue until Release; it reports false, changing nothing, while
// a round or a direct append is in progress (poll it).
func (c *Committer) Hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flushing || c.inflight > 0 {
		return false
	}
	c.flushing = true
	return true
}

// Release hands the appends queued since Hold to the flusher. Call it
// once per successful Hold.
func (c *Committer) Release() { c.kick <- struct{}{} }

// Queued returns how many appends wait for a round.
func (c *Committer) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// CombineAlways makes every later round of two or more appends one batch,
// whatever the costs.
func (c *Committer) CombineAlways() {
	c.mu.Lock()
	c.combineAlways = true
	c.mu.Unlock()
}

// SetCosts makes the Committer believe that an append on its own costs solo
// and a combined batch costs batch, both just measured.
func (c *Committer) SetCosts(solo, batch time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.soloTime, c.soloCount = float64(solo)*16, 16
	c.batchCost = batch
	now := time.Now()
	c.lastSolo, c.lastBatch, c.lastProbe = now, now, now
}

// Stats returns what the Committer has done so far.
func (c *Committer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Exited is closed once the flusher has exited (after Close).
func (c *Committer) Exited() <-chan struct{} { return c.exited }
