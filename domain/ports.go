package domain

import "context"

// EventLog is the event store as the Service needs it.
//
// Append publishes events, in order, on their aggregate's subjects as one
// atomic unit: all are stored or none. When expect checks a sequence and the
// aggregate's last event is elsewhere, Append stores nothing and returns an
// error wrapping ErrConflict. Envelope ids are message ids: an append whose
// ids the log has already stored is deduplicated, not stored twice. Append
// returns the stream sequence of the last event, once the log has
// acknowledged it.
//
// Load returns every event of one aggregate in stream order (none is not an
// error).
//
// AppendAll is Append for events on several aggregates at once: each
// Pending goes on its own aggregate's subject, all in one atomic unit, and
// expect applies to the first event's aggregate. It is how one decision
// that touches several aggregates (a refresh token rotation: the family,
// the new access token, the old one's revocation) is recorded all or none.
type EventLog interface {
	Append(ctx context.Context, agg Aggregate, expect Expect, events ...Envelope) (uint64, error)
	AppendAll(ctx context.Context, expect Expect, events ...Pending) (uint64, error)
	Load(ctx context.Context, agg Aggregate) ([]Recorded, error)
}

// Pending is an envelope bound for its aggregate's subject.
type Pending struct {
	Aggregate Aggregate
	Envelope  Envelope
}

// Waiter blocks until the local read models have applied stream sequence
// seq, or ctx ends (then it returns ctx's error).
type Waiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}
