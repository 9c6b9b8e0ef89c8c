package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Errors of Committer.Append.
var (
	// ErrClosed: the Committer was closed before the append was published
	// (or, wrapped with the publish error, while its batch was in flight,
	// and then whether it was stored is unknown).
	ErrClosed = errors.New("groupcommit: closed")
	// ErrWaitEnded: the caller's ctx ended while the append waited for a
	// round; it wraps ctx.Err(). The append may still be stored, see the
	// package comment.
	ErrWaitEnded = errors.New("groupcommit: wait for the group commit ended")
)

// Append is one append going through a Committer: one or more messages to
// be stored contiguously and in order.
type Append interface {
	// Msgs are the append's messages, at least one; the Committer never
	// changes them.
	Msgs() []*nats.Msg
	// PublishAlone publishes the append on its own, bounded by ctx, and
	// returns the stream sequence of its last message. It answers as the
	// append's caller expects (the Committer passes its result on as it
	// is), so it may, say, recognise a retry that was stored.
	PublishAlone(ctx context.Context) (uint64, error)
	// Guard is the subject filter whose last sequence the append's first
	// message expects (Nats-Expected-Last-Subject-Sequence-Subject), or
	// "" for none. The server checks that expectation against what is
	// stored, not against the messages of the batch before it, so the
	// Committer never puts the append in a batch behind a message on a
	// subject the filter matches (see package comment).
	Guard() string
}

// Publisher is the stream a Committer publishes to. Its methods are called
// concurrently, from the flusher and from appends' callers.
type Publisher interface {
	// PublishBatch publishes msgs as one atomic batch, stored contiguously
	// and in order or not at all, and returns the stream sequence of the
	// last; what names the batch in errors. It leaves msgs unchanged, so
	// they can be published again.
	PublishBatch(ctx context.Context, what string, msgs []*nats.Msg) (uint64, error)
	// Barrier returns once the stream has dealt with everything published
	// before it, the clean-up of atomic batches included, and stores
	// nothing.
	Barrier(ctx context.Context) error
}

// Defaults of Options.
const (
	DefaultBatchTimeout   = 5 * time.Second
	DefaultBarrierTimeout = time.Second
)

// Options configure a Committer. The zero value of each field means its
// default.
type Options struct {
	// BatchTimeout bounds the publish of a combined batch (appends' own
	// contexts bound their own publishes); DefaultBatchTimeout if zero.
	BatchTimeout time.Duration
	// BarrierTimeout bounds the wait for the barrier after a combined
	// batch; DefaultBarrierTimeout if zero.
	BarrierTimeout time.Duration
}

// Validate reports the first problem with o, or nil.
func (o Options) Validate() error {
	if o.BatchTimeout < 0 || o.BarrierTimeout < 0 {
		return fmt.Errorf("groupcommit: options: negative BatchTimeout %s or BarrierTimeout %s", o.BatchTimeout, o.BarrierTimeout)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.BatchTimeout == 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.BarrierTimeout == 0 {
		o.BarrierTimeout = DefaultBarrierTimeout
	}
	return o
}

// queuedAppend is one append going through the committer.
type queuedAppend struct {
	ctx    context.Context
	a      Append
	msgs   []*nats.Msg
	guard  string            // a.Guard()
	result chan appendResult // buffered: the flusher never waits on a caller
}

type appendResult struct {
	seq uint64
	err error
}

// Committer runs the group commit of one publisher, as the package comment
// says. Its methods are safe for concurrent use.
type Committer struct {
	pub    Publisher
	opts   Options
	ctx    context.Context // bounds combined batches; ends with Close
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
	stats         Stats
}

// Stats count what a Committer did (tests and benchmarks report them).
type Stats struct {
	Batches   int // combined batches stored
	Batched   int // appends stored in them
	Fallbacks int // combined batches refused, their appends published alone
	Solo      int // rounds published one by one
	Inflight  int // most direct appends in flight at once
}

// New starts a Committer publishing to pub; the caller must Close it, then
// Wait. It fails only for invalid opts.
func New(pub Publisher, opts Options) (*Committer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Committer{
		pub: pub, opts: opts.withDefaults(), ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{}),
	}
	go c.run()
	return c, nil
}

// Append publishes a directly or queues it for a round, as the package
// comment says, and returns the sequence of its last message. It returns
// what a.PublishAlone or the combined batch answered; an error wrapping
// ErrClosed when the Committer was closed before a was published; an error
// wrapping ErrWaitEnded and ctx.Err() when ctx ended while a waited for a
// round (a may be stored).
func (c *Committer) Append(ctx context.Context, a Append) (uint64, error) {
	p := &queuedAppend{ctx: ctx, a: a, msgs: a.Msgs(), guard: a.Guard()}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	c.active++
	// An append of several messages costs a batch on its own anyway: beside
	// others in flight it queues, so that the round it starts shares that
	// batch with them.
	if !c.flushing && len(c.queue) == 0 && (c.inflight == 0 || len(p.msgs) == 1 && c.lowDemand()) {
		if c.inflight == 0 {
			c.busySince, c.busyDone, c.busyMixed = time.Now(), 0, false
		}
		c.inflight++
		c.stats.Inflight = max(c.stats.Inflight, c.inflight)
		c.mu.Unlock()
		seq, err := a.PublishAlone(ctx)
		c.directDone(err == nil && len(p.msgs) == 1, true)
		return seq, err
	}
	p.result = make(chan appendResult, 1)
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
		return 0, fmt.Errorf("%w: %w", ErrWaitEnded, p.ctx.Err())
	}
}

// directDone ends a direct append (single: one event, stored; leave: its
// caller is leaving the committer): it measures the busy period when it
// ends, or every busySampleSize appends, and hands the queue to the flusher
// when the last direct append in flight is done.
func (c *Committer) directDone(single, leave bool) {
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

// run is the flusher: it publishes rounds while it owns the queue.
func (c *Committer) run() {
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
func (c *Committer) round() bool {
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
	if c.lowDemand() && !anyMulti(live) {
		// Batches do not pay at this concurrency: publish these as direct
		// appends, without waiting for them, and leave the queue to the
		// appends themselves again.
		c.flushing = false
		for _, p := range live {
			if c.inflight == 0 {
				c.busySince, c.busyDone, c.busyMixed = time.Now(), 0, false
			}
			c.inflight++
			c.stats.Inflight = max(c.stats.Inflight, c.inflight)
			go func() {
				seq, err := p.a.PublishAlone(p.ctx)
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
		// larger than that goes alone (and is refused as it would be). A
		// guarded append behind a message its guard matches starts the
		// next part.
		n, events := 1, len(live[0].msgs)
		for n < len(live) && events+len(live[n].msgs) <= maxBatchEvents && !guarded(live[:n], live[n]) {
			events += len(live[n].msgs)
			n++
		}
		part := live[:n]
		live = live[n:]
		if c.isClosed() {
			for _, p := range part {
				p.result <- appendResult{err: ErrClosed}
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

func (c *Committer) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func countMsgs(part []*queuedAppend) int {
	n := 0
	for _, p := range part {
		n += len(p.msgs)
	}
	return n
}

// publishCombined publishes part, events messages in all, as one atomic
// batch and gives each append the sequence of its last event. If the server
// refuses the batch, each append is published again on its own.
func (c *Committer) publishCombined(part []*queuedAppend, events int) {
	msgs := make([]*nats.Msg, 0, events)
	for _, p := range part {
		msgs = append(msgs, p.msgs...)
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.BatchTimeout)
	start := time.Now()
	last, err := c.pub.PublishBatch(ctx, fmt.Sprintf("group commit of %d appends (%d events)", len(part), events), msgs)
	cancel()
	if err != nil {
		c.mu.Lock()
		closed := c.closed
		c.stats.Fallbacks++
		c.mu.Unlock()
		if closed {
			// Cut short by Close: whether it was stored is unknown.
			for _, p := range part {
				p.result <- appendResult{err: fmt.Errorf("%w: %w", ErrClosed, err)}
			}
			return
		}
		if errors.Is(err, ErrRefused) && len(part) > 2 {
			// One append's expectation or id refused the whole batch:
			// find it by halves, so the others still share batches.
			c.split(part)
			return
		}
		// A timeout, a lost connection, or two appends left: alone, each
		// append gets its own answer, and the ids make a second store
		// impossible.
		c.publishEach(part)
		return
	}
	c.mu.Lock()
	c.stats.Batches++
	c.stats.Batched += len(part)
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
// before it, clean-up of atomic batches included.
func (c *Committer) barrier() error {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.BarrierTimeout)
	defer cancel()
	return c.pub.Barrier(ctx)
}

// publishEach publishes every append of part on its own, all at once, each
// bounded by its caller's ctx, and returns when all are answered.
func (c *Committer) publishEach(part []*queuedAppend) {
	start := time.Now()
	var wg sync.WaitGroup
	var skip atomic.Bool // measure only rounds of single events that all succeed
	for _, p := range part {
		wg.Go(func() {
			seq, err := p.a.PublishAlone(p.ctx)
			if err != nil || len(p.msgs) > 1 {
				skip.Store(true)
			}
			p.result <- appendResult{seq: seq, err: err}
		})
	}
	wg.Wait()
	c.mu.Lock()
	c.stats.Solo++
	if !skip.Load() {
		c.measureSolo(time.Since(start), len(part))
	}
	c.mu.Unlock()
}

// Close fails every queued append with ErrClosed, makes every later Append
// fail so, and stops the flusher once its round in flight ends (Wait
// waits for that). It must be called once.
func (c *Committer) Close() {
	c.mu.Lock()
	c.closed = true
	queue := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, p := range queue {
		p.result <- appendResult{err: ErrClosed}
	}
	c.cancel()
	close(c.quit)
}

// Wait returns once the flusher has exited, after Close.
func (c *Committer) Wait() { <-c.exited }
