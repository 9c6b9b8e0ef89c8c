package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/groupcommit"
)

// Group commit (see Append, and package groupcommit for its contract and
// cost model): the Store is its Publisher, each append (Append and
// AppendAll, with or without an expectation) one of its Appends.

// barrierSubject is where the group commit's barrier goes: under the
// stream's subjects, and no event subject (domain.ParseSubject refuses it).
const barrierSubject = domain.SubjectRoot + "._barrier"

// newCommitter starts the group commit of s.
func newCommitter(s *Store) (*groupcommit.Committer, error) {
	return groupcommit.New(commitPublisher{s}, groupcommit.Options{BatchTimeout: DefaultTimeout})
}

// commitPublisher is the Store as the group commit's stream.
type commitPublisher struct{ s *Store }

// PublishBatch publishes msgs as one atomic batch; an error answered by the
// stream (a JetStream API error: an expectation, a duplicate id, a limit)
// stored nothing and wraps groupcommit.ErrRefused.
func (p commitPublisher) PublishBatch(ctx context.Context, what string, msgs []*nats.Msg) (uint64, error) {
	seq, err := p.s.publishBatch(ctx, what, msgs)
	if apiErr := (*jetstream.APIError)(nil); errors.As(err, &apiErr) {
		return 0, fmt.Errorf("%w: %w", groupcommit.ErrRefused, err)
	}
	return seq, err
}

// Barrier sends a message on barrierSubject that the stream refuses
// without storing (it expects another stream), answered only once the
// stream's write loop is done with what came before it. It is never
// stored, so readers of the stream never see it; a plain NATS subscriber
// to stamp.> does, as it sees every refused append.
func (p commitPublisher) Barrier(ctx context.Context) error {
	m := nats.NewMsg(barrierSubject)
	m.Header.Set(hdrExpectedStream, barrierSubject)
	_, err := p.s.nc.RequestMsgWithContext(ctx, m)
	return err
}

// commitAppend is one append (Append or AppendAll) going through the
// group commit: msgs as they go out in a combined batch (the expectation
// on the first: its headers, or its slot id on a sharded aggregate), guard
// the filter of a low-cardinality aggregate's expectation, alone the
// append published on its own as without group commit.
type commitAppend struct {
	msgs  []*nats.Msg
	guard string
	alone func(ctx context.Context) (uint64, error)
}

func (a *commitAppend) Msgs() []*nats.Msg { return a.msgs }

func (a *commitAppend) Guard() string { return a.guard }

func (a *commitAppend) PublishAlone(ctx context.Context) (uint64, error) { return a.alone(ctx) }

// groupCommit appends a through s.commits, as Append documents, or on its
// own without group commit; where names it in errors.
func (s *Store) groupCommit(ctx context.Context, where string, a *commitAppend) (uint64, error) {
	if s.commits == nil {
		return a.alone(ctx)
	}
	seq, err := s.commits.Append(ctx, a)
	switch {
	case errors.Is(err, groupcommit.ErrClosed):
		return 0, fmt.Errorf("eventstore: append %s: %w: %w", where, ErrClosed, err)
	case errors.Is(err, groupcommit.ErrWaitEnded):
		return 0, fmt.Errorf("eventstore: append %s: %w", where, err)
	}
	return seq, err
}
