package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stamp-oauth/stamp/domain"
)

// ParkedEvents is the store of the events listeners parked (implemented by
// the eventstore's parked stream).
type ParkedEvents interface {
	// ParkedRecords returns the events listener parked and has not had
	// cleared, in the order they were parked; none is not an error.
	ParkedRecords(ctx context.Context, listener string) ([]domain.Recorded, error)
	// ClearParked records that the event at seq, parked by listener, has
	// been handled since; clearing twice changes nothing.
	ClearParked(ctx context.Context, listener string, seq uint64) error
}

// Retrier re-drives parked events: on each ListenerRetryRequested it hands
// the parked events the request names to their listener's Handle again,
// and clears each one the handler takes. An event the handler refuses
// again stays parked (logged with the new error), so a retry can be asked
// for as often as needed; a request for a listener this server does not
// run is logged and skipped. The handlers being idempotent, a redelivered
// request changes nothing twice: events it cleared are no longer parked.
//
// Its methods are safe for concurrent use.
type Retrier struct {
	parked  ParkedEvents
	targets map[string]Listener
	log     *slog.Logger
}

// RetrierName is the durable consumer name of the Retrier.
const RetrierName = "listener-retry"

// NewRetrier returns the Retrier of targets (the listeners this server
// runs), reading and clearing parked events through parked. parked must
// not be nil; a nil logger is slog.Default().
func NewRetrier(parked ParkedEvents, logger *slog.Logger, targets ...Listener) *Retrier {
	if logger == nil {
		logger = slog.Default()
	}
	m := make(map[string]Listener, len(targets))
	for _, l := range targets {
		m[l.Name()] = l
	}
	return &Retrier{parked: parked, targets: m, log: logger}
}

// Name returns "listener-retry".
func (*Retrier) Name() string { return RetrierName }

// Filter returns the subjects of ListenerRetryRequested events.
func (*Retrier) Filter() string {
	return domain.SubjectRoot + "." + domain.KindListener + ".*.ListenerRetryRequested"
}

// Handle re-drives the parked events e names. It returns an error (to be
// retried) only when the parked events cannot be read or cleared.
func (r *Retrier) Handle(ctx context.Context, rec domain.Recorded, e domain.Event) error {
	req, ok := e.(domain.ListenerRetryRequested)
	if !ok {
		return nil
	}
	log := r.log.With("listener", req.Listener, "request_seq", rec.Seq)
	target, ok := r.targets[req.Listener]
	if !ok {
		log.Warn("listeners: retry requested for a listener this server does not run")
		return nil
	}
	parked, err := r.parked.ParkedRecords(ctx, req.Listener)
	if err != nil {
		return fmt.Errorf("listeners: retry %s: %w", req.Listener, err)
	}
	for _, p := range parked {
		if !req.Wants(p.Seq) {
			continue
		}
		if err := r.redrive(ctx, target, p); err != nil {
			log.Error("listeners: retried event parked again", "seq", p.Seq, "type", p.Envelope.Type, "err", err)
			continue
		}
		if err := r.parked.ClearParked(ctx, req.Listener, p.Seq); err != nil {
			return fmt.Errorf("listeners: retry %s: %w", req.Listener, err)
		}
		log.Info("listeners: retried event handled", "seq", p.Seq, "type", p.Envelope.Type)
	}
	return nil
}

// redrive decodes p and hands it to l, as the Runner would: an unknown
// type is done, a newer version or an undecodable payload is an error.
func (r *Retrier) redrive(ctx context.Context, l Listener, p domain.Recorded) error {
	if p.Refused != "" {
		return errors.New(p.Refused)
	}
	if p.Envelope.Type == "" {
		return errors.New("not an event envelope")
	}
	ev, err := domain.Decode(p.Envelope)
	if errors.Is(err, domain.ErrUnknownEventType) {
		return nil
	}
	if err != nil {
		return err
	}
	return safeHandle(ctx, l, p, ev)
}
