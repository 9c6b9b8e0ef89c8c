package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// Timing of Deliver.
const (
	// DefaultAckWait is how long the server waits for a delivery to be
	// settled, or for a sign of life from Deliver, before it hands the
	// message out again.
	DefaultAckWait = 30 * time.Second
	// UnsettledRetryDelay is when a message whose handler returned without
	// settling it is delivered again.
	UnsettledRetryDelay = time.Second

	// deliverBuffer is how many messages a pull asks for. MaxAckPending
	// lets the server send one at a time; the room is for the heartbeats
	// that arrive while a handler runs.
	deliverBuffer = 16
)

var (
	// ErrInvalidDurable: a durable consumer (listener) name is not 1 to 128
	// ASCII letters, digits, '-' and '_' (domain.ValidID). That is stricter
	// than NATS, so every accepted name is a valid consumer name and a
	// single subject token (the parked subject).
	ErrInvalidDurable = errors.New("eventstore: invalid durable consumer name")
	// ErrInvalidFilter: a durable consumer's subject filter is not empty
	// and not a subject filter under stamp.> (tokens separated by dots,
	// '*' standing for one whole token, '>' only last).
	ErrInvalidFilter = errors.New("eventstore: invalid subject filter")
	// ErrSettled: Ack, Retry or Park was called on a delivery already
	// settled.
	ErrSettled = errors.New("eventstore: delivery already acked, retried or parked")
)

// Delivery is one message of a durable consumer, handed to Deliver's fn.
// Exactly one of Ack, Retry and Park settles it; a second call returns
// ErrSettled (wrapped), and a call that fails leaves it unsettled, so it may
// be tried again or followed by another. Its methods are safe for concurrent
// use, but only until fn returns.
type Delivery interface {
	// Record returns the stored event: Seq is its stream sequence.
	Record() domain.Recorded
	// Attempt returns how many times the message has been delivered: 1 the
	// first time.
	Attempt() int
	// Ack marks the message done and returns once the server has recorded
	// that (a JetStream double ack, bounded by DefaultTimeout). The
	// consumer then moves on to the next message.
	Ack() error
	// Retry has the message delivered again after delay (a JetStream NAK
	// with delay; zero or less means at once), before any later message.
	Retry(delay time.Duration) error
	// Park sets the message aside on the STAMP_PARKED stream with reason
	// (see Parked) and terminates it, so it is never delivered again; the
	// consumer then moves on to the next message.
	Park(reason string) error
}

// deliverOptions are Deliver's knobs, for tests; zero fields mean the
// defaults.
type deliverOptions struct {
	ackWait    time.Duration
	retryDelay time.Duration // of an unsettled delivery
}

func (o deliverOptions) withDefaults() deliverOptions {
	if o.ackWait <= 0 {
		o.ackWait = DefaultAckWait
	}
	if o.retryDelay <= 0 {
		o.retryDelay = UnsettledRetryDelay
	}
	return o
}

// Deliver hands the events of the durable consumer durable to fn, one at a
// time, in stream order, until ctx ends.
//
// It creates the durable pull consumer on the STAMP stream, or updates it
// when it exists, with FilterSubject filter ("" for every event), explicit
// acks, MaxAckPending 1 (the next message is delivered only once the
// previous one is acked or parked, so order is strict), AckWait
// DefaultAckWait and no delivery limit (the caller decides when to park). A
// new consumer starts with the events appended after its creation
// (DeliverNew): a newly enabled listener reacts to what happens from then
// on, not to history. An existing one resumes after the last message it
// acked or parked, whatever was appended meanwhile; changing filter keeps
// that position. The name is the consumer's identity: renaming a listener
// starts a new consumer.
//
// Deliver calls fn serially from its own goroutine, with ctx and a Delivery
// that fn settles with Ack, Retry or Park. If fn returns without settling
// it, Deliver has the message delivered again after UnsettledRetryDelay (1s).
// While fn runs, Deliver tells the server every third of AckWait that the
// message is in progress, so a slow handler keeps it; if the process dies
// mid-way, the server delivers it again (to this or another instance on the
// same durable) once AckWait has passed. A message the Store refuses (see
// Read) is parked with the reason of its refusal ("not an envelope", a
// signature problem), logged at error level, without calling fn.
//
// Several processes may call Deliver with the same durable (stamp instances
// on one cluster): the server hands each message to one of them at a time.
//
// Deliver returns an error wrapping ctx.Err() once ctx ends, having handed
// back any message the server sent meanwhile (it is delivered again at once,
// to the next Deliver on durable). It returns ErrInvalidDurable or
// ErrInvalidFilter (wrapped) at once for a bad name or filter, and an error
// when the consumer cannot be created or updated, is deleted while in use,
// or the connection is closed; it pulls again by itself after missed
// heartbeats, reconnects and leader changes. Calling Deliver again with the
// same durable resumes.
func (s *Store) Deliver(ctx context.Context, durable, filter string, fn func(ctx context.Context, d Delivery)) error {
	return s.deliver(ctx, durable, filter, deliverOptions{}, fn)
}

// deliver is Deliver with options.
func (s *Store) deliver(ctx context.Context, durable, filter string, o deliverOptions, fn func(ctx context.Context, d Delivery)) error {
	if !domain.ValidID(durable) {
		return fmt.Errorf("eventstore: deliver %q: %w (want 1 to 128 ASCII letters, digits, '-' and '_')", durable, ErrInvalidDurable)
	}
	if !validFilter(filter) {
		return fmt.Errorf("eventstore: deliver %s: filter %q: %w", durable, filter, ErrInvalidFilter)
	}
	o = o.withDefaults()
	cons, err := s.durable(ctx, durable, filter, o.ackWait)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("eventstore: deliver %s: consumer: %w", durable, err)
	}
	c := &consumer{s: s, durable: durable, cons: cons, opts: o}
	// One pull subscription for the whole run: it pulls again after
	// expiries, missed heartbeats and reconnects by itself. The watchdog
	// replaces it when it stalls.
	it, err := cons.Messages(jetstream.PullMaxMessages(deliverBuffer))
	if err != nil {
		return fmt.Errorf("eventstore: deliver %s: %w", durable, err)
	}
	defer func() { it.Stop() }() // after handBack, or when fn panics
	f := &follower{name: "listener " + durable}
	stopWatch := s.watchFollower(f, c.cons, it.Stop)
	defer func() { stopWatch() }()
	for {
		if err := ctx.Err(); err != nil {
			c.handBack(it)
			return fmt.Errorf("eventstore: deliver %s: %w", durable, err)
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		switch {
		case err == nil && ctx.Err() != nil:
			_ = msg.NakWithDelay(handBackDelay) // the loop hands back the rest and returns
		case err == nil:
			f.busy.Store(true)
			err := c.handle(ctx, msg, fn)
			f.busy.Store(false)
			if meta, merr := msg.Metadata(); merr == nil {
				f.delivered.Store(meta.Sequence.Stream)
			}
			if err != nil {
				return err
			}
		case ctx.Err() != nil:
			// The loop returns.
		case f.stalled.Load():
			// The watchdog ended a stalled pull: fetch the consumer again
			// and pull anew.
			stopWatch()
			if c.cons, err = s.durable(ctx, durable, filter, o.ackWait); err == nil {
				it, err = c.cons.Messages(jetstream.PullMaxMessages(deliverBuffer))
			}
			if err != nil {
				it = stoppedIter{}
				return fmt.Errorf("eventstore: deliver %s: after a stall: %w", durable, unavailable(err))
			}
			f = &follower{name: f.name}
			stopWatch = s.watchFollower(f, c.cons, it.Stop)
		default:
			// Closed connection, deleted consumer: nothing to retry.
			return fmt.Errorf("eventstore: deliver %s: %w", durable, err)
		}
	}
}

// stoppedIter stands for a pull subscription that could not be made, so
// that Deliver's deferred Stop has something to stop.
type stoppedIter struct{ jetstream.MessagesContext }

func (stoppedIter) Stop() {}

// handBack ends it and hands the messages it received but did not deliver
// back to the server at once, so the next Deliver on the durable (here or
// elsewhere) gets them without waiting for AckWait. Draining waits for the
// server to confirm the end of the subscription, so nothing is in flight
// afterwards.
func (c *consumer) handBack(it jetstream.MessagesContext) {
	it.Drain()
	for {
		msg, err := it.Next(jetstream.NextMaxWait(DefaultTimeout))
		if err != nil {
			return
		}
		_ = msg.NakWithDelay(handBackDelay)
	}
}

// handBackDelay is the redelivery delay of a handed-back message. A plain
// Nak is kept only in the server's memory, so a server restart would leave
// the message waiting out AckWait; a delayed Nak is written to the
// consumer's state and survives it.
const handBackDelay = time.Millisecond

// durable creates the consumer name, or updates it keeping where it
// delivers from, and returns it.
func (s *Store) durable(ctx context.Context, name, filter string, ackWait time.Duration) (jetstream.Consumer, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Name:          name,
		Durable:       name,
		Description:   "stamp listener " + name,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 1,
		FilterSubject: filter,
	}
	for {
		cons, err := s.js.Consumer(ctx, domain.StreamName, name)
		switch {
		case err == nil:
			// The server refuses to change where a consumer starts.
			old := cons.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
			return s.js.UpdateConsumer(ctx, domain.StreamName, cfg)
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			cons, err = s.js.CreateConsumer(ctx, domain.StreamName, cfg)
			if errors.Is(err, jetstream.ErrConsumerExists) {
				continue // another instance created it meanwhile: update it
			}
			return cons, err
		default:
			return nil, err
		}
	}
}

// validFilter reports whether filter is empty or a subject filter under
// stamp.>: the server accepts a consumer filter outside its stream's
// subjects, which would then deliver nothing, silently.
func validFilter(filter string) bool {
	if filter == "" {
		return true
	}
	tokens := strings.Split(filter, ".")
	if len(tokens) < 2 || tokens[0] != domain.SubjectRoot {
		return false
	}
	for i, tok := range tokens {
		switch {
		case tok == "" || strings.ContainsAny(tok, " \t\r\n"):
			return false
		case tok == ">" && i != len(tokens)-1:
			return false
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return false
		}
	}
	return true
}

// consumer is one running Deliver.
type consumer struct {
	s       *Store
	durable string
	cons    jetstream.Consumer
	opts    deliverOptions

	mu          sync.Mutex
	parkedReady bool // the parked stream was created or updated
}

// handle decodes msg and has fn settle it. It returns an error, ready to
// return from Deliver, only when msg cannot be understood or parked.
func (c *consumer) handle(ctx context.Context, msg jetstream.Msg, fn func(context.Context, Delivery)) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("eventstore: deliver %s: %w", c.durable, err)
	}
	d := &delivery{c: c, ctx: ctx, msg: msg, seq: meta.Sequence.Stream, attempt: int(meta.NumDelivered)}
	d.rec, err = c.s.verify.read(d.seq, msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		c.s.logger.Error("eventstore: refused event parked", "listener", c.durable, "seq", d.seq, "subject", msg.Subject(), "reason", d.rec.Refused)
		return d.Park(d.rec.Refused)
	}
	stop := d.keepAlive(c.opts.ackWait / 3)
	defer stop()
	fn(ctx, d)
	stop()
	// Failure is covered by AckWait, and the connection's fate shows in
	// the next pull.
	_ = d.settle("retry unsettled", func() error { return msg.NakWithDelay(c.opts.retryDelay) }, false)
	return nil
}

// delivery implements Delivery.
type delivery struct {
	c       *consumer
	ctx     context.Context
	msg     jetstream.Msg
	seq     uint64
	attempt int
	rec     domain.Recorded

	mu      sync.Mutex
	settled bool
}

func (d *delivery) Record() domain.Recorded { return d.rec }
func (d *delivery) Attempt() int            { return d.attempt }

func (d *delivery) Ack() error {
	return d.settle("ack", func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), DefaultTimeout)
		defer cancel()
		return d.msg.DoubleAck(ctx)
	}, true)
}

func (d *delivery) Retry(delay time.Duration) error {
	return d.settle("retry", func() error {
		if delay <= 0 {
			delay = handBackDelay
		}
		return d.msg.NakWithDelay(delay)
	}, true)
}

func (d *delivery) Park(reason string) error {
	return d.settle("park", func() error {
		reason = oneLine(reason)
		if err := d.c.park(d.ctx, d.seq, d.msg.Subject(), d.msg.Data(), d.attempt, reason); err != nil {
			return err
		}
		return d.msg.TermWithReason(reason)
	}, true)
}

// settle runs op unless d is settled, and marks d settled if op succeeds.
// When again is false, a settled d is no error.
func (d *delivery) settle(what string, op func() error, again bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		if !again {
			return nil
		}
		return fmt.Errorf("eventstore: deliver %s: %s sequence %d: %w", d.c.durable, what, d.seq, ErrSettled)
	}
	if err := op(); err != nil {
		return fmt.Errorf("eventstore: deliver %s: %s sequence %d: %w", d.c.durable, what, d.seq, err)
	}
	d.settled = true
	return nil
}

// keepAlive tells the server every interval that d is in progress, until d
// is settled or stop is called. It never does so after d is settled, which
// would postpone a Retry's redelivery.
func (d *delivery) keepAlive(every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				d.mu.Lock()
				if !d.settled {
					_ = d.msg.InProgress()
				}
				d.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
