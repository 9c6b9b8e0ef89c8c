package eventstore

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// Log signature headers: every event a Store with a LogKey appends carries
// them (see domain.SignLogEvent for what is signed).
const (
	// HeaderSignature is the Ed25519 signature, base64url.
	HeaderSignature = "Stamp-Signature"
	// HeaderKey is the signing key's id (domain.LogKeyID).
	HeaderKey = "Stamp-Key"
)

// Errors of log signing.
var (
	// ErrRefused is wrapped by a read of a stored message that must not be
	// applied: not an event envelope (ErrNotEnvelope, wrapped too), or a
	// missing or bad log signature. The domain.Recorded handed on then has
	// Refused set and a zero Envelope.
	ErrRefused = errors.New("eventstore: event refused")
	// ErrLogKeyMismatch: the log announces a log-signing key that this
	// Store neither holds nor trusts, so the events it signs would be
	// refused by the instances that wrote the announcement.
	ErrLogKeyMismatch = errors.New("eventstore: the log is signed with another log-signing key")
)

// LogSigning is what a Store knows of the log's signing.
type LogSigning struct {
	// Verifying: the Store checks signatures (it trusts at least one key).
	Verifying bool
	// Adopted: the log holds a trusted announcement; AdoptedAt is its
	// adopted_at (events at or below it are accepted unsigned).
	Adopted   bool
	AdoptedAt uint64
	// Keys are the trusted public keys by key id.
	Keys map[string]ed25519.PublicKey
	// Refused counts the messages this Store's readers refused.
	Refused uint64
	// Hashed counts the messages reads with TrustCheckpoints accepted by
	// their checkpoint's digest instead of their own signature.
	Hashed uint64
}

// verifier checks the log signatures of stored messages; with no key it
// checks nothing. It counts what its readers refuse. Safe for concurrent
// use.
type verifier struct {
	keys map[string]ed25519.PublicKey

	adoptMu   sync.Mutex // serializes learning; readers use the atomics
	adopted   atomic.Bool
	adoptedAt atomic.Uint64
	refused   atomic.Uint64
	hashed    atomic.Uint64
}

// newVerifier returns the verifier of opts.
func newVerifier(opts Options) *verifier {
	keys := map[string]ed25519.PublicKey{}
	if opts.LogKey != nil {
		pub := opts.LogKey.Public().(ed25519.PublicKey)
		keys[domain.LogKeyID(pub)] = pub
	}
	for _, pub := range opts.TrustedLogKeys {
		keys[domain.LogKeyID(pub)] = pub
	}
	return &verifier{keys: keys}
}

// announcementSubject is the subject of every LogSigningKeyAnnounced.
var announcementSubject = domain.LogKeyAggregate.Subject(domain.LogSigningKeyAnnounced{}.EventType())

// check returns why the message at seq must be refused, or "" to accept
// it. An unsigned message is accepted at or below the adoption point, and
// everywhere while no adoption is known. A trusted announcement teaches v
// the adoption point (readers meet it in order).
func (v *verifier) check(seq uint64, subject string, h nats.Header, body []byte) string {
	if len(v.keys) == 0 {
		return ""
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		if v.adopted.Load() && seq > v.adoptedAt.Load() {
			return fmt.Sprintf("unsigned event after log signing was adopted at sequence %d", v.adoptedAt.Load())
		}
		return ""
	}
	kid := h.Get(HeaderKey)
	pub, ok := v.keys[kid]
	if !ok {
		return fmt.Sprintf("signed by untrusted log key %q", kid)
	}
	if !domain.VerifyLogEvent(pub, subject, h.Get(hdrMsgID), body, sig) {
		return fmt.Sprintf("bad log signature (key %s)", kid)
	}
	if subject == announcementSubject {
		v.learnFrom(body)
	}
	return ""
}

// learnFrom records the adoption point of a verified announcement's body,
// keeping the lowest one known.
func (v *verifier) learnFrom(body []byte) {
	var env domain.Envelope
	if json.Unmarshal(body, &env) != nil {
		return
	}
	e, err := domain.Decode(env)
	ann, ok := e.(domain.LogSigningKeyAnnounced)
	if err != nil || !ok {
		return
	}
	v.adoptMu.Lock()
	defer v.adoptMu.Unlock()
	if !v.adopted.Load() || ann.AdoptedAt < v.adoptedAt.Load() {
		v.adoptedAt.Store(ann.AdoptedAt)
		v.adopted.Store(true)
	}
}

// learn reads the last announcement with a direct get by subject and, if a
// trusted key signed it, records its adoption point. No announcement is no
// error. An announcement it cannot trust returns an error wrapping
// ErrRefused.
func (v *verifier) learn(ctx context.Context, stream, archive jetstream.Stream) error {
	if len(v.keys) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	msg, err := lastAnnouncement(ctx, stream, archive)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
	}
	if reason := v.check(msg.Sequence, msg.Subject, msg.Header, msg.Data); reason != "" {
		return fmt.Errorf("eventstore: log signing: announcement at sequence %d: %w: %s", msg.Sequence, ErrRefused, reason)
	}
	if msg.Header.Get(HeaderSignature) == "" {
		return fmt.Errorf("eventstore: log signing: announcement at sequence %d: %w: unsigned", msg.Sequence, ErrRefused)
	}
	return nil
}

// learnByConsumer is learn for an identity that may not get messages
// directly (RoleRevocations): it reads the last announcement through an
// ordered consumer filtered to its subject, delivering the last message per
// subject, which that identity may create.
func (v *verifier) learnByConsumer(ctx context.Context, js jetstream.JetStream) error {
	if len(v.keys) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	stream := domain.StreamName
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{announcementSubject},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		// None in the hot stream: the archive may hold one it dropped.
		stream = ArchiveStreamName
		if _, err := js.Stream(ctx, stream); errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil // no announcement: nothing adopted yet
		}
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{announcementSubject},
			DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		})
		if err != nil {
			return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
		}
		if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
			return nil // no announcement: nothing adopted yet
		}
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(defaultTimeoutFor(ctx)))
	if err != nil {
		return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
	}
	seq := meta.Sequence.Stream
	if stream == ArchiveStreamName {
		if seq, err = sourceSeq(msg.Headers()); err != nil {
			return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
		}
	}
	if reason := v.check(seq, msg.Subject(), msg.Headers(), msg.Data()); reason != "" {
		return fmt.Errorf("eventstore: log signing: announcement at sequence %d: %w: %s", seq, ErrRefused, reason)
	}
	if msg.Headers().Get(HeaderSignature) == "" {
		return fmt.Errorf("eventstore: log signing: announcement at sequence %d: %w: unsigned", seq, ErrRefused)
	}
	return nil
}

// defaultTimeoutFor is what remains of ctx's deadline, or DefaultTimeout.
func defaultTimeoutFor(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return DefaultTimeout
}

// read is the one path from a stored message to a domain.Recorded: every
// reader (Read, Follow, Replay, Load, Deliver, the revocation feed) goes
// through it. It checks the log signature, then decodes. A message it
// refuses comes back as a Recorded with Seq, Subject and Refused set and a
// zero Envelope, with an error wrapping ErrRefused (and ErrNotEnvelope for
// a body that is not an envelope); it is counted.
func (v *verifier) read(seq uint64, subject string, h nats.Header, body []byte) (domain.Recorded, error) {
	if reason := v.check(seq, subject, h, body); reason != "" {
		v.refused.Add(1)
		return domain.Recorded{Seq: seq, Subject: subject, Refused: reason},
			fmt.Errorf("%w: sequence %d on %s: %s", ErrRefused, seq, subject, reason)
	}
	rec, err := decode(seq, subject, body)
	if err != nil {
		v.refused.Add(1)
		return domain.Recorded{Seq: seq, Subject: subject, Refused: "not an envelope"}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return rec, nil
}

// state returns what v knows.
func (v *verifier) state() LogSigning {
	return LogSigning{Verifying: len(v.keys) > 0, Adopted: v.adopted.Load(), AdoptedAt: v.adoptedAt.Load(), Keys: v.keys, Refused: v.refused.Load(), Hashed: v.hashed.Load()}
}

// sign adds the log signature headers to m, whose body and Nats-Msg-Id
// are set. Without a LogKey it does nothing.
func (s *Store) sign(m *nats.Msg) {
	if s.logKey == nil {
		return
	}
	m.Header.Set(HeaderSignature, domain.SignLogEvent(s.logKey, m.Subject, m.Header.Get(hdrMsgID), m.Data))
	m.Header.Set(HeaderKey, s.logKeyID)
}

// LogSigning returns what the Store knows of the log's signing: whether it
// verifies, the adoption point, the trusted keys and how many messages its
// readers refused. Safe for concurrent use.
func (s *Store) LogSigning() LogSigning { return s.verify.state() }

// adopt makes sure the log announces the Store's LogKey, as Open
// documents. It learns the announcement; when there is none it appends one
// with adopted_at = the stream's last sequence, expecting the announcement
// subject to be empty, so that of two instances adopting at once one
// wins and the other learns its announcement.
func (s *Store) adopt(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		msg, err := lastAnnouncement(ctx, s.stream, s.archive)
		switch {
		case err == nil:
			if kid := msg.Header.Get(HeaderKey); kid != s.logKeyID {
				return fmt.Errorf("%w: announced key %q, this instance holds %s (instances of one log share the log-signing key)", ErrLogKeyMismatch, kid, s.logKeyID)
			}
			return s.verify.learn(ctx, s.stream, s.archive)
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return fmt.Errorf("eventstore: log signing: read announcement: %w", err)
		case attempt > 0:
			return errors.New("eventstore: log signing: adopt: conflict, but no announcement found")
		}
		last, err := s.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("eventstore: log signing: adopt: %w", err)
		}
		pub := s.logKey.Public().(ed25519.PublicKey)
		ann := domain.LogSigningKeyAnnounced{KeyID: s.logKeyID, PublicKey: domain.EncodeLogPublicKey(pub), AdoptedAt: last}
		env, err := domain.NewEnvelope("logkey-"+rand.Text(), ann, time.Now(), domain.Actor{Kind: domain.ActorSystem, ID: "log-signing"})
		if err != nil {
			return fmt.Errorf("eventstore: log signing: adopt: %w", err)
		}
		_, err = s.Append(ctx, domain.LogKeyAggregate, domain.ExpectSeq(0), env)
		switch {
		case err == nil:
			s.verify.learnFrom(mustJSON(env))
			return nil
		case !errors.Is(err, domain.ErrConflict): // on conflict another instance adopted: learn its announcement
			return fmt.Errorf("eventstore: log signing: adopt at sequence %s: %w", strconv.FormatUint(last, 10), err)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
