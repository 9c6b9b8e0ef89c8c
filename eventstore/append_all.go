package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// AppendAll appends events that belong to several aggregates as one atomic
// batch: all are stored, in order, or none. expect applies to the first
// event's aggregate (the aggregate the decision was made on), checked as
// Append checks it. Events that all belong to one aggregate are handed to
// Append; either way the batch goes through the group commit as Append
// documents, and may share one atomic batch with other appends waiting at
// the same time. It returns the stream sequence of the last
// event, the same errors as Append, and recognises a retry of a stored
// batch by its last envelope id. Like Append, it tries again while the
// failure is transient.
func (s *Store) AppendAll(ctx context.Context, expect domain.Expect, events ...domain.Pending) (uint64, error) {
	return retrying(ctx, s, func(ctx context.Context) (uint64, error) { return s.appendAllOnce(ctx, expect, events...) })
}

// appendAllOnce is one attempt of AppendAll.
func (s *Store) appendAllOnce(ctx context.Context, expect domain.Expect, events ...domain.Pending) (uint64, error) {
	if len(events) == 0 {
		return 0, fmt.Errorf("eventstore: append: %w", ErrNoEvents)
	}
	first := events[0].Aggregate
	single := true
	for _, p := range events {
		if !validAggregate(p.Aggregate) {
			return 0, fmt.Errorf("eventstore: append %s: %w", p.Aggregate, ErrInvalidAggregate)
		}
		single = single && p.Aggregate == first
	}
	if single {
		envs := make([]domain.Envelope, len(events))
		for i, p := range events {
			envs[i] = p.Envelope
		}
		return s.appendOnce(ctx, first, expect, envs...)
	}
	msgs, err := s.messages(events)
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("eventstore: append %s: %w", first.Filter(), ErrClosed)
	}
	if s.readOnly {
		return 0, fmt.Errorf("eventstore: append %s: %w", first.Filter(), ErrReadOnly)
	}
	where := fmt.Sprintf("%s (+%d events on other aggregates)", first.Filter(), len(msgs)-1)
	a := &commitAppend{msgs: msgs}
	switch seq, check := expect.Check(); {
	case check && first.Sharded():
		a.msgs = s.withSlot(first, seq, msgs)
		a.alone = func(ctx context.Context) (uint64, error) {
			return s.appendSlot(ctx, where, first, seq, events[0].Envelope.ID, a.msgs)
		}
	case check:
		msgs[0].Header.Set(hdrExpectedSubjSeq, strconv.FormatUint(seq, 10))
		msgs[0].Header.Set(hdrExpectedSubject, first.Filter())
		a.guard = first.Filter()
		fallthrough
	default:
		a.alone = func(ctx context.Context) (uint64, error) { return s.publishAll(ctx, where, events, msgs) }
	}
	return s.groupCommit(ctx, where, a)
}

// publishAll publishes msgs, the messages of events on several aggregates,
// as AppendAll does when it combines them with no other append.
func (s *Store) publishAll(ctx context.Context, where string, events []domain.Pending, msgs []*nats.Msg) (uint64, error) {
	seq, err := s.publishBatch(ctx, where, msgs)
	if err != nil && (errors.Is(err, domain.ErrConflict) || errors.Is(err, errBatchDuplicate)) {
		// A retry of a batch that was stored: its last event is there.
		last := events[len(events)-1]
		if got, ok := s.stored(ctx, last.Aggregate, []domain.Envelope{last.Envelope}); ok {
			return got, nil
		}
	}
	return seq, err
}
