package eventstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// Group commit: concurrent ExpectAny appends share a publish, so that with
// fsync before every acknowledgement they share an fsync too.
//
// An append is published directly by its caller when no round of the
// flusher is in progress and nothing is queued, and either no other direct
// append is in flight or the costs measured so far say that a batch would
// not pay at the current concurrency (then concurrent appends go out as if
// there were no group commit, with no hand-off). Otherwise it queues. When
// the direct appends in flight have drained, the flusher takes everything
// queued and publishes it as one round, round after round until the queue
// is empty; then appends are direct again. Each append's events stay
// contiguous and in order, and an append that succeeded is stored before
// any append made after it returned; an append whose ctx ended may still
// be stored, then possibly after later ones, as a timed-out publish may.
//
// A round publishes its appends as one atomic batch, which the server
// stores with one fsync, or each on its own, concurrently, which the server
// stores one after another with an fsync each. An atomic batch costs the
// server a fixed few milliseconds (it stages the batch in a temporary file
// store it creates, syncs and deletes), so it wins only when enough appends
// wait and each write is synced; the committer measures both costs as it
// goes and picks the cheaper for each round. A round that holds an append
// of several events is always one batch: that append costs a batch anyway.
//
// The server deletes a batch's staging store after it acknowledges the
// batch, on the stream's one write loop, delaying whatever comes next.
// After a combined batch the flusher therefore sends a barrier: a message
// on barrierSubject that the stream refuses without storing (it expects
// another stream), answered only once the loop is done with the batch. The
// batch's measured cost includes its clean-up, and the next commit's does
// not. The barrier is never stored, so readers of the stream never see it;
// a plain NATS subscriber to stamp.> does, as it sees every refused append.
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
	// barrierSubject is where the barrier goes: under the stream's
	// subjects, and no event subject (domain.ParseSubject refuses it).
	barrierSubject = domain.SubjectRoot + "._barrier"
	// barrierTimeout bounds the wait for the barrier's answer.
	barrierTimeout = time.Second
)

// queuedAppend is one ExpectAny append going through the committer.
type queuedAppend struct {
	ctx    context.Context
	agg    domain.Aggregate
	events []domain.Envelope
	msgs   []*nats.Msg
	result chan appendResult // buffered: the flusher never waits on a caller
}

type appendResult struct {
	seq uint64
	err error
}

// committer runs the group commit of one Store.
type committer struct {
	s      *Store
	ctx    context.Context // bounds combined batches; ends with close
	cancel context.CancelFunc
	kick   chan struct{} // capacity 1: the queue was handed to the flusher
	quit   chan struct{}
	exited chan struct{}

	mu       sync.Mutex
	flushing bool // the flusher owns the queue (rounds in progress)
	inflight int  // direct appends being published
	active   int  // appends in the committer: direct, queued or in a round
	closed   bool
	queue    []*queuedAppend
	// The current busy period of direct appends (inflight > 0), measured
	// as throughput: concurrent appends wait for each other at the server,
	// so one's latency is not its cost.
	busySince time.Time
	busyDone  int  // single-event appends completed in it
	busyMixed bool // a failed or multi-event append spoils the sample
	// Costs measured so far, zero until measured: soloTime/soloCount is
	// the time per append published on its own (direct appends, rounds
	// published one by one; sums decaying by an eighth per sample, so big
	// rounds weigh more and the fixed cost of a round is spread over its
	// appends), batchCost a moving average of the time of a combined batch
	// with its clean-up. lastSolo and lastBatch are when each was measured.
	soloTime, soloCount float64
	batchCost           time.Duration
	lastSolo, lastBatch time.Time
	lastProbe           time.Time // when lowDemand last queued an append to probe
	// combineAlways makes every round of two or more appends one batch,
	// whatever the costs (tests).
	combineAlways bool
	stats         commitStats
}

// commitStats count what the committer did, for tests.
type commitStats struct {
	batches   int // combined batches stored
	batched   int // appends stored in them
	fallbacks int // combined batches refused, their appends published alone
	solo      int // rounds published one by one
	inflight  int // most direct appends in flight at once
}

func newCommitter(s *Store) *committer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &committer{
		s: s, ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{}),
	}
	go c.run()
	return c
}

// append publishes p directly or queues it for the flusher, as the
// package comment above says, and returns its result or p.ctx's error.
func (c *committer) append(p *queuedAppend) (uint64, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("eventstore: append %s: %w", p.agg.Filter(), ErrClosed)
	}
	c.active++
	if !c.flushing && len(c.queue) == 0 && (c.inflight == 0 || c.lowDemand()) {
		if c.inflight == 0 {
			c.busySince, c.busyDone, c.busyMixed = time.Now(), 0, false
		}
		c.inflight++
		c.stats.inflight = max(c.stats.inflight, c.inflight)
		c.mu.Unlock()
		seq, err := c.s.appendAlone(p.ctx, p.agg, p.events, p.msgs)
		c.directDone(err == nil && len(p.msgs) == 1, true)
		return seq, err
	}
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.active--
		c.mu.Unlock()
	}()

	select {
	case r := <-p.result:
		return r.seq, r.err
	case <-p.ctx.Done():
		select {
		case r := <-p.result:
			return r.seq, r.err
		default:
		}
		// The flusher skips an append whose ctx has ended when it takes the
		// queue; if it took this one before, it may be stored.
		return 0, fmt.Errorf("eventstore: append %s: %w", p.agg.Filter(), p.ctx.Err())
	}
}

// directDone ends a direct append (single: one event, stored; leave: its
// caller is leaving the committer): it measures the busy period when it
// ends, or every busySampleSize appends, and hands the queue to the flusher
// when the last direct append in flight is done.
func (c *committer) directDone(single, leave bool) {
	c.mu.Lock()
	if leave {
		c.active--
	}
	c.inflight--
	if single {
		c.busyDone++
	} else {
		c.busyMixed = true
	}
	if c.inflight == 0 || c.busyDone >= busySampleSize {
		if !c.busyMixed && c.busyDone > 0 {
			c.measureSolo(time.Since(c.busySince), c.busyDone)
		}
		c.busySince, c.busyDone, c.busyMixed = time.Now(), 0, false
	}
	if c.inflight > 0 || len(c.queue) == 0 || c.closed || c.flushing {
		c.mu.Unlock()
		return
	}
	c.flushing = true
	c.mu.Unlock()
	// Only the one who sets flushing sends, and the flusher receives before
	// it clears flushing, so the buffer is always free.
	c.kick <- struct{}{}
}

// lowDemand reports whether, by the costs measured so far, a batch would not
// pay at the current concurrency: one more direct append may go out beside
// those in flight. c.mu is held.
func (c *committer) lowDemand() bool {
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

// run is the flusher: it publishes rounds while it owns the queue.
func (c *committer) run() {
	defer close(c.exited)
	for {
		select {
		case <-c.kick:
		case <-c.quit:
			return
		}
		for c.round() {
		}
	}
}

// round publishes everything queued, and reports false (clearing
// flushing) when nothing was.
func (c *committer) round() bool {
	c.mu.Lock()
	if c.closed || len(c.queue) == 0 {
		c.flushing = false
		c.mu.Unlock()
		return false
	}
	queue := c.queue
	c.queue = nil
	// A caller whose ctx has ended has returned its error: leave its append
	// out, so it is not stored behind its back.
	live := queue[:0]
	for _, p := range queue {
		if p.ctx.Err() == nil {
			live = append(live, p)
		}
	}
	if c.lowDemand() {
		// Batches do not pay at this concurrency: publish these as direct
		// appends, without waiting for them, and leave the queue to the
		// appends themselves again.
		c.flushing = false
		for _, p := range live {
			if c.inflight == 0 {
				c.busySince, c.busyDone, c.busyMixed = time.Now(), 0, false
			}
			c.inflight++
			c.stats.inflight = max(c.stats.inflight, c.inflight)
			go func() {
				seq, err := c.s.appendAlone(p.ctx, p.agg, p.events, p.msgs)
				p.result <- appendResult{seq: seq, err: err}
				c.directDone(err == nil && len(p.msgs) == 1, false)
			}()
		}
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()

	for len(live) > 0 {
		// Split at maxBatchEvents, keeping every append whole; an append
		// larger than that goes alone (and is refused as it would be).
		n, events := 1, len(live[0].msgs)
		for n < len(live) && events+len(live[n].msgs) <= maxBatchEvents {
			events += len(live[n].msgs)
			n++
		}
		part := live[:n]
		live = live[n:]
		if c.isClosed() {
			for _, p := range part {
				p.result <- appendResult{err: fmt.Errorf("eventstore: append %s: %w", p.agg.Filter(), ErrClosed)}
			}
			continue
		}
		// The first alone appends of part go on their own, the rest as one
		// batch.
		alone := c.plan(part)
		if alone > 0 {
			c.publishEach(part[:alone])
		}
		switch rest := part[alone:]; len(rest) {
		case 0:
		case 1:
			c.publishEach(rest)
		default:
			c.publishCombined(rest, events-countMsgs(part[:alone]))
		}
	}
	return true
}

func (c *committer) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// plan says how to publish part: its first n appends on their own, the
// rest as one atomic batch; whichever is cheaper by the costs measured so
// far.
func (c *committer) plan(part []*queuedAppend) (n int) {
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

func countMsgs(part []*queuedAppend) int {
	n := 0
	for _, p := range part {
		n += len(p.msgs)
	}
	return n
}

// measureSolo records that n appends published on their own took took.
// c.mu is held.
func (c *committer) measureSolo(took time.Duration, n int) {
	c.soloTime = c.soloTime*7/8 + float64(took)
	c.soloCount = c.soloCount*7/8 + float64(n)
	c.lastSolo = time.Now()
}

// publishCombined publishes part, events messages in all, as one atomic
// batch and gives each append the sequence of its last event. If the server
// refuses the batch, each append is published again on its own.
func (c *committer) publishCombined(part []*queuedAppend, events int) {
	msgs := make([]*nats.Msg, 0, events)
	for _, p := range part {
		msgs = append(msgs, p.msgs...)
	}
	ctx, cancel := context.WithTimeout(c.ctx, DefaultTimeout)
	start := time.Now()
	last, err := c.s.publishBatch(ctx, fmt.Sprintf("group commit of %d appends (%d events)", len(part), events), msgs)
	cancel()
	if err != nil {
		c.mu.Lock()
		closed := c.closed
		c.stats.fallbacks++
		c.mu.Unlock()
		if closed {
			// Cut short by Close: whether it was stored is unknown.
			for _, p := range part {
				p.result <- appendResult{err: fmt.Errorf("eventstore: append %s: %w: %w", p.agg.Filter(), ErrClosed, err)}
			}
			return
		}
		// Refused as a whole: a duplicate id (a retry, or two callers
		// with one envelope), a limit, a timeout. Alone, each append gets
		// its own answer, and the ids make a second store impossible.
		c.publishEach(part)
		return
	}
	c.mu.Lock()
	c.stats.batches++
	c.stats.batched += len(part)
	c.mu.Unlock()
	// The batch is stored contiguously and in order: each append's last
	// event is as far before the batch's last as the events after it.
	after := uint64(events)
	for _, p := range part {
		after -= uint64(len(p.msgs))
		p.result <- appendResult{seq: last - after}
	}
	if c.barrier() == nil {
		c.mu.Lock()
		c.batchCost = average(c.batchCost, time.Since(start))
		c.lastBatch = time.Now()
		c.mu.Unlock()
	}
}

// barrier returns once the stream has dealt with everything published
// before it, clean-up of atomic batches included: the stream answers the
// message it sends, which expects another stream, by refusing it.
func (c *committer) barrier() error {
	ctx, cancel := context.WithTimeout(c.ctx, barrierTimeout)
	defer cancel()
	m := nats.NewMsg(barrierSubject)
	m.Header.Set(hdrExpectedStream, barrierSubject)
	_, err := c.s.nc.RequestMsgWithContext(ctx, m)
	return err
}

// publishEach publishes every append of part on its own, all at once, each
// bounded by its caller's ctx, and returns when all are answered.
func (c *committer) publishEach(part []*queuedAppend) {
	start := time.Now()
	var wg sync.WaitGroup
	var skip atomic.Bool // measure only rounds of single events that all succeed
	for _, p := range part {
		wg.Go(func() {
			seq, err := c.s.appendAlone(p.ctx, p.agg, p.events, p.msgs)
			if err != nil || len(p.msgs) > 1 {
				skip.Store(true)
			}
			p.result <- appendResult{seq: seq, err: err}
		})
	}
	wg.Wait()
	c.mu.Lock()
	c.stats.solo++
	if !skip.Load() {
		c.measureSolo(time.Since(start), len(part))
	}
	c.mu.Unlock()
}

// close fails every queued append with ErrClosed and stops the flusher
// once its round in flight ends.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	queue := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, p := range queue {
		p.result <- appendResult{err: fmt.Errorf("eventstore: append %s: %w", p.agg.Filter(), ErrClosed)}
	}
	c.cancel()
	close(c.quit)
}

// wait returns once the flusher has exited.
func (c *committer) wait() { <-c.exited }

// average is a moving average giving the newest sample a quarter of the
// weight; a zero old value means none yet.
func average(old, sample time.Duration) time.Duration {
	if old == 0 {
		return sample
	}
	return old + (sample-old)/4
}
