package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/groupcommit"
)

// Group commit (see Append, and package groupcommit for its contract and
// cost model): the Store is its Publisher, each ExpectAny append one of
// its Appends.

// barrierSubject is where the group commit's barrier goes: under the
// stream's subjects, and no event subject (domain.ParseSubject refuses it).
const barrierSubject = domain.SubjectRoot + "._barrier"

// newCommitter starts the group commit of s.
func newCommitter(s *Store) (*groupcommit.Committer, error) {
	return groupcommit.New(commitPublisher{s}, groupcommit.Options{BatchTimeout: DefaultTimeout})
}

// commitPublisher is the Store as the group commit's stream.
type commitPublisher struct{ s *Store }

func (p commitPublisher) PublishBatch(ctx context.Context, what string, msgs []*nats.Msg) (uint64, error) {
	return p.s.publishBatch(ctx, what, msgs)
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

// commitAppend is one ExpectAny append going through the group commit.
type commitAppend struct {
	s      *Store
	agg    domain.Aggregate
	events []domain.Envelope
	msgs   []*nats.Msg
}

func (a *commitAppend) Msgs() []*nats.Msg { return a.msgs }

func (a *commitAppend) PublishAlone(ctx context.Context) (uint64, error) {
	return a.s.appendAlone(ctx, a.agg, a.events, a.msgs)
}

// groupCommit appends through s.commits, as Append documents.
func (s *Store) groupCommit(ctx context.Context, agg domain.Aggregate, events []domain.Envelope, msgs []*nats.Msg) (uint64, error) {
	seq, err := s.commits.Append(ctx, &commitAppend{s: s, agg: agg, events: events, msgs: msgs})
	switch {
	case errors.Is(err, groupcommit.ErrClosed):
		return 0, fmt.Errorf("eventstore: append %s: %w: %w", agg.Filter(), ErrClosed, err)
	case errors.Is(err, groupcommit.ErrWaitEnded):
		return 0, fmt.Errorf("eventstore: append %s: %w", agg.Filter(), err)
	}
	return seq, err
}
