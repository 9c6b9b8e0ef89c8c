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
	// ErrClosed: the Store was closed before the append was published.
	ErrClosed = errors.New("eventstore: store closed")
)

// JetStream publish headers and error codes used by Append (see nats-server
// server/stream.go and server/errors.json).
const (
	hdrMsgID           = "Nats-Msg-Id"
	hdrExpectedStream  = "Nats-Expected-Stream"
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
// Each event goes on agg.Subject(env.Type) with its JSON envelope as body,
// env.ID as Nats-Msg-Id and agg as Stamp-Aggregate (HeaderAggregate). When
// expect checks a sequence of a low-cardinality aggregate, the first message
// carries Nats-Expected-Last-Subject-Sequence with
// Nats-Expected-Last-Subject-Sequence-Subject = agg.Filter(), so the check
// covers every event type of the aggregate; a mismatch stores nothing and
// returns an error wrapping domain.ErrConflict (and the JetStream error).
// A sharded aggregate (domain.Aggregate.Sharded) shares its subjects with
// others, so there the first message goes out under the message id
// domain.SlotID(agg, seq) instead of its envelope id: JetStream stores it
// once within the duplicate window, and an append that finds another
// message stored under it returns an error wrapping domain.ErrConflict.
//
// One event is a plain synchronous publish; several are one JetStream
// atomic batch (at most 1000 by the server's default limit), stored all or
// none, and the server syncs the batch once.
//
// Group commit (on unless Options.DisableGroupCommit): appends may share
// a publish, whatever their expectation. With none in flight, an append is
// published at once as above; while one is, the next ones wait, and when
// the publish completes everything waiting goes out together, as one
// atomic batch (split at 1000 events) that the server stores with one
// fsync. Each append's expectation travels on its own first message (the
// headers above, or its slot id), so the server checks each decision's
// own; an expectation on a low-cardinality aggregate never goes in a batch
// behind another message on that aggregate, since the server checks it
// against what is stored, not against the batch. A batch has a fixed cost
// of a few milliseconds, so for single events it pays only when many
// appends wait and every write is fsynced: the Store measures what batches
// and single publishes cost, and while batches would not pay at the
// current number of concurrent appends it publishes each single event at
// once, side by side, as if there were no group commit; an append of
// several events, which costs a batch anyway, always waits to share one.
// Either way the events of one append stay contiguous and in order, each
// caller gets the sequence of its own last event, and a combined batch
// the server refuses (one decision's conflict, a retry whose id is already
// stored) is split in halves until the refused append goes alone, so every
// caller gets the answer it would have got alone and no decision is
// refused for another's conflict.
//
// A retry of an append that was stored is not stored again, and Append
// returns the sequence of its last event: within the stream's duplicate
// window JetStream recognises the envelope ids, and an append with an
// expectation on a low-cardinality aggregate is recognised at any age,
// because its expectation fails and Append then finds its ids among agg's
// events (it looks them up after every conflict and refused batch). A
// retried ExpectAny append older than the window is stored again; a retry
// on a sharded aggregate is recognised within the window only (by its
// message id, found among the recent messages of its subject).
//
// Append returns ErrNoEvents, ErrInvalidEvent or ErrInvalidAggregate
// (wrapped) for bad input, and ErrClosed (wrapped) after Close. When ctx
// ends before the acknowledgement, also while the append waits for a group
// commit, Append returns an error wrapping ctx.Err() and the events may or
// may not be stored; retrying the same envelopes is safe.
//
// Because of that, Append itself tries again, with jittered pauses, while
// the failure is transient (no responders, no response from the stream
// during a leader election, a timeout, a reconnect) and ctx (DefaultTimeout
// when it has none) leaves time; a failure that outlasts it is a
// *domain.RetryError matching domain.ErrTemporarilyUnavailable.
func (s *Store) Append(ctx context.Context, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) (uint64, error) {
	seq, err := retrying(ctx, s, func(ctx context.Context) (uint64, error) { return s.appendOnce(ctx, agg, expect, events...) })
	if errors.Is(err, domain.ErrConflict) {
		if hot, ok := s.hotExpectation(ctx, expect); ok {
			return retrying(ctx, s, func(ctx context.Context) (uint64, error) { return s.appendOnce(ctx, agg, hot, events...) })
		}
	}
	return seq, err
}

// appendOnce is one attempt of Append.
func (s *Store) appendOnce(ctx context.Context, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) (uint64, error) {
	if len(events) == 0 {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg.Filter(), ErrNoEvents)
	}
	if !validAggregate(agg) {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg, ErrInvalidAggregate)
	}
	pending := make([]domain.Pending, len(events))
	for i, env := range events {
		pending[i] = domain.Pending{Aggregate: agg, Envelope: env}
	}
	msgs, err := s.messages(pending)
	if err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg.Filter(), ErrClosed)
	}
	if s.readOnly {
		return 0, fmt.Errorf("eventstore: append %s: %w", agg.Filter(), ErrReadOnly)
	}
	a := &commitAppend{msgs: msgs}
	switch seq, check := expect.Check(); {
	case check && agg.Sharded():
		a.msgs = s.withSlot(agg, seq, msgs)
		a.alone = func(ctx context.Context) (uint64, error) {
			return s.appendSlot(ctx, agg.String(), agg, seq, events[0].ID, a.msgs)
		}
	case check:
		msgs[0].Header.Set(hdrExpectedSubjSeq, strconv.FormatUint(seq, 10))
		msgs[0].Header.Set(hdrExpectedSubject, agg.Filter())
		a.guard = agg.Filter()
		fallthrough
	default:
		a.alone = func(ctx context.Context) (uint64, error) { return s.appendAlone(ctx, agg, events, msgs) }
	}
	return s.groupCommit(ctx, agg.Filter(), a)
}

// messages turns events into the messages to publish: each on its
// aggregate's subject, its envelope as JSON, its id as Nats-Msg-Id, signed
// with the Store's LogKey if it has one. Every append builds its messages
// here, so every event is signed. It
// returns ErrInvalidEvent (wrapped) for a missing or repeated id or a type
// that cannot stand in a subject.
func (s *Store) messages(events []domain.Pending) ([]*nats.Msg, error) {
	msgs := make([]*nats.Msg, len(events))
	seen := make(map[string]bool, len(events))
	for i, p := range events {
		env := p.Envelope
		subject := p.Aggregate.Subject(env.Type)
		if env.ID == "" || !domain.ValidID(env.Type) || seen[env.ID] {
			return nil, fmt.Errorf("eventstore: append %s: %w: id %q, type %q", subject, ErrInvalidEvent, env.ID, env.Type)
		}
		seen[env.ID] = true
		body, err := json.Marshal(env)
		if err != nil {
			return nil, fmt.Errorf("eventstore: append %s: %w", subject, err)
		}
		m := nats.NewMsg(subject)
		m.Data = body
		m.Header.Set(hdrMsgID, env.ID)
		m.Header.Set(HeaderAggregate, p.Aggregate.String())
		s.sign(m)
		msgs[i] = m
	}
	return msgs, nil
}

// appendAlone publishes msgs, the messages of events, as Append does when it
// combines them with no other append.
func (s *Store) appendAlone(ctx context.Context, agg domain.Aggregate, events []domain.Envelope, msgs []*nats.Msg) (uint64, error) {
	var seq uint64
	var err error
	if len(msgs) == 1 {
		seq, err = s.publishOne(ctx, msgs[0])
	} else {
		seq, err = s.publishBatch(ctx, fmt.Sprintf("%s (%d events)", agg.Filter(), len(msgs)), msgs)
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

// publishBatch sends msgs as one atomic batch and returns the sequence of
// the last one; where names the batch in errors. Every message goes out
// with the batch id and its 1-based position, the last also with
// Nats-Batch-Commit: 1; msgs themselves are left unchanged, so they can be
// published again. The server stages the batch and, on commit, checks every
// message and stores all or none; only the commit is answered.
func (s *Store) publishBatch(ctx context.Context, where string, msgs []*nats.Msg) (uint64, error) {
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
	var commit *nats.Msg
	for i, m := range msgs {
		bm := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: make(nats.Header, len(m.Header)+3)}
		for k, v := range m.Header {
			bm.Header[k] = v
		}
		bm.Header.Set(hdrBatchID, id)
		bm.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i == last {
			bm.Header.Set(hdrBatchCommit, "1")
			commit = bm
			break
		}
		if err := s.nc.PublishMsg(bm); err != nil {
			return 0, fmt.Errorf("eventstore: append %s: %w", where, err)
		}
	}
	resp, err := s.nc.RequestMsgWithContext(ctx, commit)
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
	if agg.Sharded() {
		return s.storedSharded(ctx, agg, events)
	}
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
