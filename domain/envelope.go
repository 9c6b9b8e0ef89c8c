package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SubjectRoot is the first token of every event subject, and StreamName the
// JetStream stream that holds them.
const (
	SubjectRoot = "stamp"
	StreamName  = "STAMP"
)

// Aggregate kinds: the second token of an event's subject.
const (
	KindClient  = "client"
	KindToken   = "token"
	KindKey     = "key"
	KindUser    = "user"
	KindRefresh = "refresh"
	KindPurge   = "purge"
	KindCode    = "code"
	KindDevice  = "device"
	KindEmail   = "email"
	// KindAuthorization is a user's consent to a client.
	KindAuthorization = "authorization"
)

// Aggregate names one event-sourced entity. Its events are published on
// subjects stamp.<kind>.<id>.<EventType>, so a plain NATS client can filter by
// aggregate kind (stamp.token.>), by one instance (stamp.token.<id>.>) and by
// event type (stamp.*.*.AccessTokenCreated).
type Aggregate struct {
	Kind string
	ID   string
}

// Subject returns the subject an event of type eventType on a is published on.
func (a Aggregate) Subject(eventType string) string {
	return SubjectRoot + "." + a.Kind + "." + a.ID + "." + eventType
}

// Filter returns the subject filter matching every event of a.
func (a Aggregate) Filter() string {
	return SubjectRoot + "." + a.Kind + "." + a.ID + ".>"
}

func (a Aggregate) String() string { return a.Kind + "/" + a.ID }

// ParseSubject splits an event subject into its aggregate and event type. It
// returns false when subject does not follow the scheme.
func ParseSubject(subject string) (Aggregate, string, bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != SubjectRoot || !ValidID(parts[2]) {
		return Aggregate{}, "", false
	}
	return Aggregate{Kind: parts[1], ID: parts[2]}, parts[3], true
}

// ValidID reports whether id can stand in a subject: 1 to 128 characters of
// ASCII letters, digits, '-' and '_'. Every id stamp generates is of this form;
// ids that arrive in requests are checked with it before they reach a subject.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Actor kinds.
const (
	ActorSystem = "system"
	ActorClient = "client"
	ActorUser   = "user"
	ActorCLI    = "cli"
)

// Actor says who caused an event.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// Envelope is the JSON document every stream message carries. Its field
// names never change; Data is the event's own JSON, decoded by Decode.
type Envelope struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Version int             `json:"version"`
	Time    time.Time       `json:"time"`
	Actor   Actor           `json:"actor"`
	Data    json.RawMessage `json:"data"`
}

// Event is one past-tense fact. EventType is its wire name and EventVersion
// its schema version; both are constant per Go type.
type Event interface {
	EventType() string
	EventVersion() int
	// AggregateOf names the aggregate whose subject the event goes on.
	AggregateOf() Aggregate
}

// NewEnvelope wraps e for the log. id becomes the message id JetStream
// deduplicates on, so a retried append of the same decision is stored once.
func NewEnvelope(id string, e Event, at time.Time, actor Actor) (Envelope, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Envelope{}, fmt.Errorf("domain: encode %s: %w", e.EventType(), err)
	}
	return Envelope{ID: id, Type: e.EventType(), Version: e.EventVersion(), Time: at.UTC(), Actor: actor, Data: data}, nil
}

// Recorded is an envelope as the log stored it: its stream sequence and
// subject beside it.
//
// Refused, when not empty, says why the message stored at Seq must not be
// applied: it is not an event envelope, or its log signature is missing
// (after signing was adopted) or invalid. Envelope is then the zero value,
// so a reader that does not look at Refused skips it as an event of unknown
// type; a reader that does parks or reports it.
type Recorded struct {
	Seq      uint64
	Subject  string
	Envelope Envelope
	Refused  string
}

// Expect states what an append expects of its aggregate's history, for
// optimistic concurrency. The zero value expects nothing.
type Expect struct {
	check bool
	seq   uint64
}

// ExpectAny appends whatever the aggregate holds.
var ExpectAny = Expect{}

// ExpectNew appends only if the aggregate has no event yet.
var ExpectNew = Expect{check: true}

// ExpectSeq appends only if the last event of the aggregate is at stream
// sequence seq (0 means: no event yet).
func ExpectSeq(seq uint64) Expect { return Expect{check: true, seq: seq} }

// Check reports whether the append must check the aggregate's last sequence,
// and which sequence it must find.
func (e Expect) Check() (uint64, bool) { return e.seq, e.check }

// Errors of the ports, shared by their implementations so the Service can
// branch on them without importing any adapter.
var (
	// ErrConflict: an append found the aggregate at another sequence than
	// expected. The caller reloads and decides again.
	ErrConflict = errors.New("domain: concurrent change to the same aggregate")
	// ErrNotFound: a view has no such record.
	ErrNotFound = errors.New("domain: not found")
)
