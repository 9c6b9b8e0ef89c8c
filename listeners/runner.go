package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Listener reacts to events. Name is its durable consumer name: constant
// forever (renaming re-consumes everything). Filter is the subject filter of
// the events it consumes, for example "stamp.*.*.AccessTokenCreated" or
// "stamp.>". Handle reacts to one decoded event; it must be idempotent (the
// event may be delivered again after a crash or an error) and returns an
// error to have the Runner retry it. The Runner calls Handle from one
// goroutine per listener, one event at a time, in stream order.
type Listener interface {
	Name() string
	Filter() string
	Handle(ctx context.Context, rec domain.Recorded, e domain.Event) error
}

// Delivery is one message of a durable consumer (implemented by the
// eventstore). Exactly one of Ack, Retry and Park settles it.
type Delivery interface {
	// Record returns the stored event.
	Record() domain.Recorded
	// Attempt returns the delivery count: 1 on first delivery.
	Attempt() int
	// Ack marks the message done; it returns once the server acknowledged
	// the acknowledgement.
	Ack() error
	// Retry has the message redelivered after delay.
	Retry(delay time.Duration) error
	// Park sets the message aside for an operator, with reason; it is
	// never redelivered.
	Park(reason string) error
}

// Source delivers a durable consumer's messages in stream order, one at a
// time: the next only after the previous is acked, retried-then-acked, or
// parked. Deliver creates or resumes the consumer durable on filter, calls
// fn for each message with a ctx derived from its own, and blocks until ctx
// ends (then it returns ctx's error or nil) or the consumer fails.
type Source interface {
	Deliver(ctx context.Context, durable, filter string, fn func(ctx context.Context, d Delivery)) error
}

// RunnerOptions configures a Runner. Zero fields take their defaults.
type RunnerOptions struct {
	// MaxAttempts is how many times an event is handled before it is
	// parked. Default 5.
	MaxAttempts int
	// Backoff returns the delay before attempt+1 after attempt failed
	// (attempt counts from 1). Its result is capped at MaxBackoff. Default:
	// 500ms doubling per attempt.
	Backoff func(attempt int) time.Duration
	// MaxBackoff caps Backoff and is the delay before an event of a newer
	// schema version is tried again. Default 30s.
	MaxBackoff time.Duration
	// HandleTimeout bounds one call of a listener's Handle (its waits for
	// the read models and the log included); past it the call's context
	// ends and the event is retried like any failure. Default 1 minute.
	HandleTimeout time.Duration
	// Logger receives retries (warn), parked events and settle failures
	// (error). Default slog.Default().
	Logger *slog.Logger
}

// Default runner options.
const (
	DefaultMaxAttempts = 5
	DefaultMaxBackoff  = 30 * time.Second
	// DefaultHandleTimeout is RunnerOptions.HandleTimeout's default.
	DefaultHandleTimeout = time.Minute
	defaultFirstDelay    = 500 * time.Millisecond
)

// DefaultBackoff is the default RunnerOptions.Backoff: 500ms after the
// first attempt, doubling after each further one, capped at
// DefaultMaxBackoff.
func DefaultBackoff(attempt int) time.Duration {
	d := defaultFirstDelay
	for i := 1; i < attempt && d < DefaultMaxBackoff; i++ {
		d *= 2
	}
	return min(d, DefaultMaxBackoff)
}

// Runner runs listeners on durable consumers of a Source, and is the one
// place where deliveries are acknowledged, retried with back-off, or
// parked. Its methods are safe for concurrent use.
type Runner struct {
	src  Source
	opts RunnerOptions
}

// NewRunner returns a Runner reading from src, which must not be nil,
// with opts' zero fields (and, as before Validate existed, negative
// numbers) taking their defaults.
func NewRunner(src Source, opts RunnerOptions) *Runner {
	return &Runner{src: src, opts: opts.withDefaults()}
}

// Validate reports the first negative field of o, named in the error. It
// changes nothing: zero fields are valid and take their defaults.
func (o RunnerOptions) Validate() error {
	switch {
	case o.MaxAttempts < 0:
		return fmt.Errorf("listeners: runner options: negative MaxAttempts %d", o.MaxAttempts)
	case o.MaxBackoff < 0:
		return fmt.Errorf("listeners: runner options: negative MaxBackoff %v", o.MaxBackoff)
	case o.HandleTimeout < 0:
		return fmt.Errorf("listeners: runner options: negative HandleTimeout %v", o.HandleTimeout)
	}
	return nil
}

// withDefaults returns o with the defaults in place of zero (or
// negative) fields.
func (o RunnerOptions) withDefaults() RunnerOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.HandleTimeout <= 0 {
		o.HandleTimeout = DefaultHandleTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Run runs every listener (one goroutine each) until ctx ends; it returns
// when all have stopped. It returns nil when they stopped because ctx
// ended or their Source returned nil; if one listener's Source fails, Run
// stops the others and returns the failures. Two listeners with one name
// are an error, and nothing runs. With no listener, Run waits for ctx.
func (r *Runner) Run(ctx context.Context, ls ...Listener) error {
	seen := map[string]bool{}
	for _, l := range ls {
		name := l.Name()
		if name == "" || seen[name] {
			return fmt.Errorf("listeners: listener name %q is empty or used twice", name)
		}
		seen[name] = true
	}
	if len(ls) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, l := range ls {
		wg.Go(func() {
			err := r.src.Deliver(ctx, l.Name(), l.Filter(), func(ctx context.Context, d Delivery) {
				r.deliver(ctx, l, d)
			})
			if err == nil || ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				return
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("listeners: %s: %w", l.Name(), err))
			mu.Unlock()
			cancel()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliver handles one delivery and settles it.
func (r *Runner) deliver(ctx context.Context, l Listener, d Delivery) {
	rec := d.Record()
	attempt := d.Attempt()
	log := r.opts.Logger.With("listener", l.Name(), "seq", rec.Seq, "subject", rec.Subject,
		"type", rec.Envelope.Type, "attempt", attempt)
	e, err := domain.Decode(rec.Envelope)
	var future *domain.FutureVersionError
	switch {
	case errors.Is(err, domain.ErrUnknownEventType):
		r.settle(log, "ack", d.Ack())
		return
	case errors.As(err, &future):
		log.Warn("listeners: event version is newer than this release reads; waiting for an upgrade",
			"version", future.Version, "known", future.Known, "retry_in", r.opts.MaxBackoff)
		r.settle(log, "retry", d.Retry(r.opts.MaxBackoff))
		return
	case err != nil:
		// A malformed payload fails the same way on every attempt.
		log.Error("listeners: parked undecodable event", "err", err)
		r.settle(log, "park", d.Park(err.Error()))
		return
	}
	hctx, cancel := context.WithTimeout(ctx, r.opts.HandleTimeout)
	err = safeHandle(hctx, l, rec, e)
	cancel()
	switch {
	case err == nil:
		r.settle(log, "ack", d.Ack())
	case ctx.Err() != nil:
		// Shutting down: leave the delivery unsettled; the Source
		// redelivers it on the next start. That delivery counts as an
		// attempt, so a listener stopped often enough in the middle of
		// one event can park it: MaxAttempts bounds that too.
		log.Info("listeners: handler stopped by shutdown", "err", err)
	case attempt >= r.opts.MaxAttempts:
		log.Error("listeners: parked", "attempts", attempt, "err", err, stackAttr(err))
		r.settle(log, "park", d.Park(err.Error()))
	default:
		delay := min(r.opts.Backoff(attempt), r.opts.MaxBackoff)
		log.Warn("listeners: handler failed; retrying", "err", err, "retry_in", delay, stackAttr(err))
		r.settle(log, "retry", d.Retry(delay))
	}
}

// settle logs a failure to acknowledge, retry or park. The Source
// redelivers an unsettled message, and handlers are idempotent, so there
// is nothing else to do.
func (r *Runner) settle(log *slog.Logger, op string, err error) {
	if err != nil {
		log.Error("listeners: settle delivery", "op", op, "err", err)
	}
}

// panicError is a handler panic turned into an error.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("listeners: handler panicked: %v", p.value) }

// safeHandle calls l.Handle, turning a panic into a *panicError.
func safeHandle(ctx context.Context, l Listener, rec domain.Recorded, e domain.Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return l.Handle(ctx, rec, e)
}

// stackAttr returns the stack of a recovered panic as a log attribute, or
// an empty attribute (which slog drops).
func stackAttr(err error) slog.Attr {
	var p *panicError
	if errors.As(err, &p) {
		return slog.String("stack", string(p.stack))
	}
	return slog.Attr{}
}
