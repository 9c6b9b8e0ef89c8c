package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// The parked stream holds the messages listeners set aside (Delivery.Park).
// Its subjects lie outside stamp.>, so parked copies never mix with events.
const (
	ParkedStreamName  = "STAMP_PARKED"
	ParkedSubjectRoot = "stamp_parked"
)

// Headers of a parked message.
const (
	hdrParkedSeq      = "Stamp-Parked-Seq"
	hdrParkedSubject  = "Stamp-Parked-Subject"
	hdrParkedReason   = "Stamp-Parked-Reason"
	hdrParkedAttempts = "Stamp-Parked-Attempts"
	hdrParkedTime     = "Stamp-Parked-Time"
)

// Parked is a message a listener set aside.
type Parked struct {
	// Listener is the durable consumer that parked it.
	Listener string
	// Seq and Subject locate the original message on the STAMP stream.
	Seq     uint64
	Subject string
	// Reason is what the listener gave, on one line.
	Reason string
	// Attempts is how many times the message had been delivered.
	Attempts int
	// Time is when it was parked.
	Time time.Time
	// Envelope is the event; the zero value when the message is not an
	// envelope (Reason then says "not an envelope").
	Envelope domain.Envelope
}

// Parked returns the messages parked by listener ("" for every listener), in
// the order they were parked; none is an empty slice and no error, also
// before anything was ever parked. It returns ErrInvalidDurable (wrapped)
// for a bad listener name.
//
// Each parked message is a copy on the STAMP_PARKED stream (file storage,
// the STAMP stream's replicas, created when a listener first parks) with
// subject stamp_parked.<listener>, the original body, and headers
// Stamp-Parked-Seq, Stamp-Parked-Subject, Stamp-Parked-Reason,
// Stamp-Parked-Attempts and Stamp-Parked-Time (RFC 3339), and Nats-Msg-Id
// <listener>/<seq>, so parking one message twice within two minutes stores
// it once. Any NATS client can read it. A parked event handled since (see
// ClearParked) is left out; an operator may also remove handled entries
// with a stream message delete.
func (s *Store) Parked(ctx context.Context, listener string) ([]Parked, error) {
	filter := ParkedSubjectRoot + ".>"
	if listener != "" {
		if !domain.ValidID(listener) {
			return nil, fmt.Errorf("eventstore: parked %q: %w", listener, ErrInvalidDurable)
		}
		filter = ParkedSubjectRoot + "." + listener
	}
	out := []Parked{}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	stream, err := s.js.Stream(ctx, ParkedStreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: parked %s: %w", filter, err)
	}
	if stream.CachedInfo().State.Msgs == 0 {
		return out, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("eventstore: parked %s: %w", filter, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("eventstore: parked %s: %w", filter, err)
	}
	stopIter := context.AfterFunc(ctx, it.Stop)
	defer func() {
		stopIter()
		it.Stop()
		if info := cons.CachedInfo(); info != nil && !s.nc.IsClosed() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = s.js.DeleteConsumer(dctx, ParkedStreamName, info.Name)
		}
	}()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return out, nil
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("eventstore: parked %s: %w", filter, err)
		}
		var cleared bool
		if out, cleared = withoutCleared(out, strings.TrimPrefix(msg.Subject(), ParkedSubjectRoot+"."), msg.Headers()); !cleared {
			out = append(out, parsedParked(msg.Subject(), msg.Headers(), msg.Data()))
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("eventstore: parked %s: %w", filter, err)
		}
		if meta.NumPending == 0 {
			return out, nil
		}
	}
}

// parsedParked reads a parked message; a header it cannot parse leaves its
// field zero.
func parsedParked(subject string, h nats.Header, body []byte) Parked {
	p := Parked{
		Listener: strings.TrimPrefix(subject, ParkedSubjectRoot+"."),
		Subject:  h.Get(hdrParkedSubject),
		Reason:   h.Get(hdrParkedReason),
	}
	p.Seq, _ = strconv.ParseUint(h.Get(hdrParkedSeq), 10, 64)
	p.Attempts, _ = strconv.Atoi(h.Get(hdrParkedAttempts))
	p.Time, _ = time.Parse(time.RFC3339Nano, h.Get(hdrParkedTime))
	if rec, err := decode(p.Seq, p.Subject, body); err == nil {
		p.Envelope = rec.Envelope
	}
	return p
}

// park stores a copy of the message at seq on the parked stream, creating
// the stream first if this consumer has not yet. It returns once the copy is
// stored, whatever ctx says (bounded by DefaultTimeout).
func (c *consumer) park(ctx context.Context, seq uint64, subject string, body []byte, attempts int, reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
	defer cancel()
	m := nats.NewMsg(ParkedSubjectRoot + "." + c.durable)
	m.Data = body
	m.Header.Set(hdrParkedSeq, strconv.FormatUint(seq, 10))
	m.Header.Set(hdrParkedSubject, subject)
	m.Header.Set(hdrParkedReason, reason)
	m.Header.Set(hdrParkedAttempts, strconv.Itoa(attempts))
	m.Header.Set(hdrParkedTime, time.Now().UTC().Format(time.RFC3339Nano))
	m.Header.Set(hdrMsgID, c.durable+"/"+strconv.FormatUint(seq, 10))

	c.mu.Lock()
	defer c.mu.Unlock()
	for try := 0; ; try++ {
		if !c.parkedReady {
			if err := c.s.createParked(ctx); err != nil {
				return fmt.Errorf("park: %w", err)
			}
			c.parkedReady = true
		}
		_, err := c.s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(ParkedStreamName))
		if errors.Is(err, jetstream.ErrNoStreamResponse) && try == 0 {
			c.parkedReady = false // deleted since: create it again
			continue
		}
		if err != nil {
			return fmt.Errorf("park: %w", err)
		}
		return nil
	}
}

// createParked creates the parked stream or updates it to the
// configuration below, with as many replicas as the STAMP stream.
func (s *Store) createParked(ctx context.Context) error {
	events, err := s.js.Stream(ctx, domain.StreamName)
	if err != nil {
		return fmt.Errorf("stream %s: %w", domain.StreamName, err)
	}
	_, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              ParkedStreamName,
		Description:       "stamp listener messages set aside for an operator",
		Subjects:          []string{ParkedSubjectRoot + ".>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Replicas:          events.CachedInfo().Config.Replicas,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        DefaultDuplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", ParkedStreamName, err)
	}
	return nil
}

// oneLine makes reason fit a header value.
func oneLine(reason string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, reason)
}
