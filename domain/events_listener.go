package domain

import "context"

// KindListener is the aggregate kind of requests about a listener, one
// aggregate per listener (its durable consumer name): few subjects, as
// many as there are listeners.
const KindListener = "listener"

// ListenerRetryRequested: an operator asked that events a listener parked
// be handled again (stamp listeners retry). Seq names one parked event by
// its stream sequence; All asks for every event the listener has parked
// when the request is handled. The server that runs the listener re-drives
// them and clears each one its handler now takes; one it refuses again
// stays parked (the server logs why).
type ListenerRetryRequested struct {
	Listener string `json:"listener"`
	Seq      uint64 `json:"seq,omitempty"`
	All      bool   `json:"all,omitempty"`
}

func (ListenerRetryRequested) EventType() string { return "ListenerRetryRequested" }
func (ListenerRetryRequested) EventVersion() int { return 1 }
func (e ListenerRetryRequested) AggregateOf() Aggregate {
	return Aggregate{KindListener, e.Listener}
}

// Wants reports whether the request covers the event parked at seq.
func (e ListenerRetryRequested) Wants(seq uint64) bool { return e.All || e.Seq == seq }

// RequestListenerRetry records that the events listener parked (the one at
// seq, or all of them) are to be handled again. A listener name that is not
// an id, or not exactly one of seq and all, is a *ValidationError. Whether
// such parked events exist is the caller's to check: the log does not know.
func (s *Service) RequestListenerRetry(ctx context.Context, actor Actor, listener string, seq uint64, all bool) (uint64, error) {
	switch {
	case !ValidID(listener):
		return 0, invalid("listener", "%q is not a listener name", listener)
	case all == (seq != 0):
		return 0, invalid("event", "name one parked event (its sequence) or all of them")
	}
	return s.record(ctx, ExpectAny, actor, ListenerRetryRequested{Listener: listener, Seq: seq, All: all})
}
