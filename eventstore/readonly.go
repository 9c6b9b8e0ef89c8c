package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/replymux"
)

// ErrReadOnly: Append or AppendAll on a Store from OpenReadOnly.
var ErrReadOnly = errors.New("eventstore: store opened read-only")

// OpenReadOnly connects to NATS and returns a Store on the existing STAMP
// stream for reading only (stamp verify, an auditor): unlike Open it never
// creates or updates the stream and never appends, not even the log-signing
// announcement, so any NATS identity allowed to look the stream up and
// create ordered consumers on it will do. Of opts it uses URL or
// InProcess, the credentials, Name, TrustedLogKeys and Logger (LogKey only
// as a trusted key). It learns the adoption point as Open does. Append and
// AppendAll return ErrReadOnly (wrapped). It fails when the stream does not
// exist. The caller must call Close.
func OpenReadOnly(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	nc, err := opts.connect(RoleReader)
	if err != nil {
		return nil, fmt.Errorf("eventstore: open read-only: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	var stream jetstream.Stream
	if err == nil {
		stream, err = js.Stream(ctx, domain.StreamName)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: open read-only: stream %s: %w", domain.StreamName, err)
	}
	replies, err := replymux.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: open read-only: %w", err)
	}
	s := &Store{nc: nc, js: js, stream: stream, batches: make(chan struct{}, maxInflightBatches), replies: replies,
		logger: opts.Logger, verify: newVerifier(opts), readOnly: true, watch: newWatchdog(opts)}
	if err := s.findArchive(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("eventstore: open read-only: %w", err)
	}
	if err := s.verify.learn(ctx, stream, s.archive); err != nil {
		s.Close()
		return nil, fmt.Errorf("eventstore: open read-only: %w", err)
	}
	return s, nil
}

// FirstSeq returns the log's first sequence: 1 unless older events
// were dropped (Options.MaxAge), 0 for an empty log. Events the archive
// holds count (see Store.HotFirstSeq for the hot stream's).
func (s *Store) FirstSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventstore: first sequence: %w", err)
	}
	first := info.State.FirstSeq
	if info.State.Msgs == 0 {
		first = 0
	}
	if s.archive != nil {
		offset, ok, err := s.archiveOffset(ctx)
		if err != nil {
			return 0, fmt.Errorf("eventstore: first sequence: %w", err)
		}
		if ok && (first == 0 || offset+1 < first) {
			first = offset + 1
		}
	}
	return first, nil
}
