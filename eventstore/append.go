package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// Errors of Append and Load, wrapped with the subject they concern.
var (
	// ErrNoEvents: Append was given no event.
	ErrNoEvents = errors.New("eventstore: append of no events")
	// ErrInvalidEvent: an envelope lacks its id or has a type that cannot
	// stand in a subject, or two envelopes of one append share an id.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrInvalidAggregate: the aggregate's kind or id cannot stand in a
	// subject (see domain.ValidID).
	ErrInvalidAggregate = errors.New("eventstore: invalid aggregate")
)

// JetStream publish headers and error codes used by Append (see nats-server
// server/stream.go and server/errors.json).
const (
	hdrMsgID           = "Nats-Msg-Id"
	hdrExpectedSubjSeq = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedSubject = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrBatchID         = "Nats-Batch-Id"
	hdrBatchSeq        = "Nats-Batch-Sequence"
	hdrBatchCommit     = "Nats-Batch-Commit"

	// errCodeWrongLastSeq is JSStreamWrongLastSequenceErrF; the replicated
	// (and batch) variant is JSStreamWrongLastSequenceConstantErr.
	errCodeWrongLastSeq      = jetstream.JSErrCodeStreamWrongLastSequence         // 10071
	errCodeWrongLastSeqConst = jetstream.JSErrCodeStreamWrongLastSequenceConstant // 10164
	// errCodeBatchDuplicate is JSAtomicPublishContainsDuplicateMessageErr: an
	// atomic batch carries a message id the stream already holds.
	errCodeBatchDuplicate jetstream.ErrorCode = 10201
)

// errBatchDuplicate marks a batch refused for holding an id already stored.
var errBatchDuplicate = errors.New("an event id of the batch is already stored")

// Append publishes events on agg's subjects as one atomic unit, as
// domain.EventLog documents, and returns the stream sequence of the last one.
//
// Each event goes on agg.Subject(env.Type) with its JSON envelope as body and
// env.ID as Nats-Msg-Id. When expect checks a sequence, the first message
// carries Nats-Expected-Last-Subject-Sequence with
// Nats-Expected-Last-Subject-Sequence-Subject = agg.Filter(), so the check
// covers every event type of the aggregate; a mismatch stores nothing and
// returns an error wrapping domain.ErrConflict (and the JetStream error).
//
// One event is a plain synchronous publish; several are one JetStream
// atomic batch (at most 1000 by the server's default limit), stored all or
// none, and the server syncs the batch once.
//
// A retry of an append that was stored is not stored again, and Append
// returns the sequence of its last event: within the stream's duplicate
// window JetStream recognises the envelope ids, and an append with an
// expectation is recognised at any age, because its expectation fails and
// Append then finds its ids among agg's events (it looks them up after every
// conflict and refused batch). A retried ExpectAny append older than the
// window is stored again.
//
// Append returns ErrNoEvents, ErrInvalidEvent or ErrInvalidAggregate
// (wrapped) for bad input. When ctx ends before the acknowledgement the
// events may or may not be stored; retrying the same envelopes is safe.
func (s *Store) Append(ctx context.Context, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) (uint64, error) {
	if len(events) == 0 {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg.Filter(), ErrNoEvents)
	}
	if !validAggregate(agg) {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg, ErrInvalidAggregate)
	}
	msgs := make([]*nats.Msg, len(events))
	seen := make(map[string]bool, len(events))
	for i, env := range events {
		subject := agg.Subject(env.Type)
		if env.ID == "" || !domain.ValidID(env.Type) || seen[env.ID] {
			return 0, fmt.Errorf("eventstore: append %s: %w: id %q, type %q", subject, ErrInvalidEvent, env.ID, env.Type)
		}
		seen[env.ID] = true
		body, err := json.Marshal(env)
		if err != nil {
			return 0, fmt.Errorf("eventstore: append %s: %w", subject, err)
		}
		m := nats.NewMsg(subject)
		m.Data = body
		m.Header.Set(hdrMsgID, env.ID)
		msgs[i] = m
	}
	if seq, check := expect.Check(); check {
		msgs[0].Header.Set(hdrExpectedSubjSeq, strconv.FormatUint(seq, 10))
		msgs[0].Header.Set(hdrExpectedSubject, agg.Filter())
	}
	var seq uint64
	var err error
	if len(msgs) == 1 {
		seq, err = s.publishOne(ctx, msgs[0])
	} else {
		seq, err = s.publishBatch(ctx, agg, msgs)
	}
	if err != nil && (errors.Is(err, domain.ErrConflict) || errors.Is(err, errBatchDuplicate)) {
		// A retry of an append that was stored: JetStream checks a single
		// message's expectation before its id, and refuses a batch holding
		// a stored id, so look the ids up.
		if last, ok := s.stored(ctx, agg, events); ok {
			return last, nil
		}
	}
	return seq, err
}

func (s *Store) publishOne(ctx context.Context, m *nats.Msg) (uint64, error) {
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, appendError(m.Subject, err)
	}
	return ack.Sequence, nil
}

// batchAck is the server's answer to a batch commit: a PubAck or an error.
type batchAck struct {
	Error    *jetstream.APIError `json:"error,omitempty"`
	Sequence uint64              `json:"seq"`
	Batch    string              `json:"batch"`
	Count    int                 `json:"count"`
}

// publishBatch sends msgs as one atomic batch: every message carries the
// batch id and its 1-based position, the last also Nats-Batch-Commit: 1. The
// server stages the batch and, on commit, checks every message and stores
// all or none; only the commit is answered.
func (s *Store) publishBatch(ctx context.Context, agg domain.Aggregate, msgs []*nats.Msg) (uint64, error) {
	where := fmt.Sprintf("%s (%d events)", agg.Filter(), len(msgs))
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	select {
	case s.batches <- struct{}{}:
		defer func() { <-s.batches }()
	case <-ctx.Done():
		return 0, fmt.Errorf("eventstore: append %s: %w", where, ctx.Err())
	}

	id := rand.Text() // 26 characters; the server allows 64
	last := len(msgs) - 1
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < last {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("eventstore: append %s: %w", where, err)
			}
		}
	}
	msgs[last].Header.Set(hdrBatchCommit, "1")
	resp, err := s.nc.RequestMsgWithContext(ctx, msgs[last])
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			err = jetstream.ErrNoStreamResponse
		}
		return 0, fmt.Errorf("eventstore: append %s: %w", where, err)
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("eventstore: append %s: %w: %w", where, jetstream.ErrInvalidJSAck, err)
	}
	if ack.Error != nil {
		return 0, appendError(where, ack.Error)
	}
	if ack.Sequence == 0 || ack.Count != len(msgs) {
		return 0, fmt.Errorf("eventstore: append %s: %w: %s", where, jetstream.ErrInvalidJSAck, resp.Data)
	}
	return ack.Sequence, nil
}

// stored reports whether every event is stored on agg, and if so the
// sequence of the last one. It answers false when it cannot tell.
func (s *Store) stored(ctx context.Context, agg domain.Aggregate, events []domain.Envelope) (uint64, bool) {
	recs, err := s.Load(ctx, agg)
	if err != nil {
		return 0, false
	}
	seqs := make(map[string]uint64, len(recs))
	for _, r := range recs {
		seqs[r.Envelope.ID] = r.Seq
	}
	for _, env := range events {
		if _, ok := seqs[env.ID]; !ok {
			return 0, false
		}
	}
	return seqs[events[len(events)-1].ID], true
}

// appendError wraps a publish error, adding domain.ErrConflict when the
// server refused an expected sequence.
func appendError(where string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeWrongLastSeq, errCodeWrongLastSeqConst:
			return fmt.Errorf("eventstore: append %s: %w: %w", where, domain.ErrConflict, err)
		case errCodeBatchDuplicate:
			return fmt.Errorf("eventstore: append %s: %w: %w", where, errBatchDuplicate, err)
		}
	}
	return fmt.Errorf("eventstore: append %s: %w", where, err)
}

func validAggregate(agg domain.Aggregate) bool {
	return domain.ValidID(agg.Kind) && domain.ValidID(agg.ID)
}
