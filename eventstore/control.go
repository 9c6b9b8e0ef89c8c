package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// Control messages: plain NATS request/reply and publish/subscribe on the
// Store's connection, for the commands a CLI sends to a running server
// (stamp replay asks the server to rebuild its read models and follows its
// progress). They are not events: they are never stored, and their subjects
// must lie outside the stream's stamp.> (which would capture them).

// ErrNoResponder is returned by Request when nobody serves the subject: the
// server it was meant for is not running (or does not know the request).
var ErrNoResponder = errors.New("eventstore: no responder")

// controlSubject checks that subject is a valid literal-or-wildcard NATS
// subject outside the stream's subjects.
func controlSubject(subject string) error {
	switch {
	case subject == "" || strings.ContainsAny(subject, " \t\r\n"):
		return fmt.Errorf("eventstore: control subject %q is not a subject", subject)
	case subject == domain.SubjectRoot || strings.HasPrefix(subject, domain.SubjectRoot+"."),
		subject == ">" || strings.HasPrefix(subject, "*."):
		return fmt.Errorf("eventstore: control subject %q overlaps the stream's %s.>", subject, domain.SubjectRoot)
	case !strings.HasPrefix(subject, ControlSubjectRoot+"."):
		// The writer identity may use no other (see RolePermissions).
		return fmt.Errorf("eventstore: control subject %q is not under %s.>", subject, ControlSubjectRoot)
	}
	return nil
}

// Serve answers requests on subject with fn's result, until stop is called.
// fn runs on the connection's delivery goroutine for the subscription, one
// request at a time, so it should answer quickly and hand long work to a
// goroutine of its own. A request without a reply subject is passed to fn
// and the result dropped. Serve returns an error for a subject under
// stamp.> or if the subscription fails; it returns once the server knows of
// the subscription, so a Request sent afterwards (from any connection)
// reaches it. stop is safe to call more than once; it waits (up to a
// second) until the server knows the subscription is gone, so requests
// sent afterwards fail with ErrNoResponder instead of waiting for a reply.
func (s *Store) Serve(subject string, fn func(req []byte) []byte) (stop func(), err error) {
	return s.subscribe("serve", subject, func(m *nats.Msg) {
		resp := fn(m.Data)
		if m.Reply != "" {
			_ = m.Respond(resp) // the requester may have gone; nothing to do
		}
	})
}

// Subscribe calls fn with the body of every message published on subject
// (which may hold wildcards), in order, one at a time, until stop is called.
// Errors and guarantees are as for Serve; messages published before it
// returns may be missed, and a slow fn makes the connection drop messages
// once its pending limit is reached (NATS core delivery is at most once).
func (s *Store) Subscribe(subject string, fn func(msg []byte)) (stop func(), err error) {
	return s.subscribe("subscribe", subject, func(m *nats.Msg) { fn(m.Data) })
}

func (s *Store) subscribe(op, subject string, cb nats.MsgHandler) (stop func(), err error) {
	if err := controlSubject(subject); err != nil {
		return nil, err
	}
	sub, err := s.nc.Subscribe(subject, cb)
	if err != nil {
		return nil, fmt.Errorf("eventstore: %s %s: %w", op, subject, err)
	}
	if err := s.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("eventstore: %s %s: %w", op, subject, err)
	}
	return func() {
		if sub.Unsubscribe() == nil {
			_ = s.nc.FlushTimeout(time.Second) // so the server stops routing here at once
		}
	}, nil
}

// Publish sends msg on subject, outside the stream, to whoever subscribes
// now (at most once; nobody may be listening). It returns an error for a
// subject under stamp.> or a closed connection.
func (s *Store) Publish(subject string, msg []byte) error {
	if err := controlSubject(subject); err != nil {
		return err
	}
	if err := s.nc.Publish(subject, msg); err != nil {
		return fmt.Errorf("eventstore: publish %s: %w", subject, err)
	}
	return nil
}

// Request sends req on subject and returns the first reply. It waits until
// ctx ends, or DefaultTimeout if ctx has no deadline. It returns an error
// wrapping ErrNoResponder when nobody serves subject, ctx's error (or
// context.DeadlineExceeded) when no reply comes in time, and an error for a
// subject under stamp.>.
func (s *Store) Request(ctx context.Context, subject string, req []byte) ([]byte, error) {
	if err := controlSubject(subject); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, subject, req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("eventstore: request %s: %w", subject, ErrNoResponder)
	case err != nil:
		return nil, fmt.Errorf("eventstore: request %s: %w", subject, err)
	}
	return m.Data, nil
}
