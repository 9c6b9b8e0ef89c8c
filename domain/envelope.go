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

// Aggregate names one event-sourced entity.
//
// Subjects. Every event is published on stamp.<kind>.<key>.<EventType>, four
// tokens, so a plain NATS client filters by aggregate kind (stamp.token.>),
// by event type across kinds (stamp.*.*.AccessTokenCreated) or both
// (stamp.token.*.AccessTokenRevoked). The key depends on the kind:
//
//   - Low-cardinality kinds (client, user, key, server, logkey, purge,
//     email, authorization) keep a subject per aggregate: the key is the
//     id, and stamp.client.<id>.> is everything about one client.
//   - High-cardinality, short-lived kinds (Sharded: token, refresh, code,
//     device) publish on a bounded set of subjects: the key is the shard
//     of the id ("_" and two hex digits, one of Shards), so the stream
//     holds at most Shards subjects per event type of such a kind, however
//     many tokens were ever issued (NATS keeps ~0.4 KB of index per subject
//     for as long as it holds a message on it). The id travels in the
//     event's data (token_id, family_id, code_id, device_code_id) and in
//     the Stamp-Aggregate header (kind/id); one aggregate's history is
//     found through the read models' event index, never by subject.
//
// The shard is a hash of the id, so a subscriber may split a kind's events
// among up to Shards workers by subject (stamp.token._03.>), and every
// event of one aggregate stays on one shard, in order.
//
// Logs written before the shards keep their per-id subjects
// (stamp.token.<jti>.<Type>); they stay readable as they are (upcast on
// read: OnSubject accepts both forms, ParseSubject splits both), and
// nothing rewrites them.
type Aggregate struct {
	Kind string
	ID   string
}

// Shards is the number of subjects per event type of a sharded kind.
const Shards = 16

// Sharded reports whether kind publishes on shard subjects instead of one
// subject per aggregate.
func Sharded(kind string) bool {
	switch kind {
	case KindToken, KindRefresh, KindCode, KindDevice:
		return true
	}
	return false
}

// Sharded reports whether a's kind publishes on shard subjects.
func (a Aggregate) Sharded() bool { return Sharded(a.Kind) }

// Key returns the third token of a's subjects: its shard for a sharded kind
// (ShardKey), else its id.
func (a Aggregate) Key() string {
	if a.Sharded() {
		return ShardKey(a.ID)
	}
	return a.ID
}

// ShardKey returns the subject token of the shard of id: "_" and two hex
// digits (FNV-1a of id, modulo Shards). No id stamp generates starts with
// "_", so a shard key is never mistaken for a per-id subject of an old log.
func ShardKey(id string) string {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	const digits = "0123456789abcdef"
	n := h % Shards
	return string([]byte{'_', digits[n>>4], digits[n&15]})
}

// IsShardKey reports whether key, the third token of a subject, is a shard
// key rather than an aggregate id.
func IsShardKey(key string) bool {
	return len(key) == 3 && key[0] == '_' && isHex(key[1]) && isHex(key[2])
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// Subject returns the subject an event of type eventType on a is published on.
func (a Aggregate) Subject(eventType string) string {
	return SubjectRoot + "." + a.Kind + "." + a.Key() + "." + eventType
}

// Filter returns the subject filter of a's subjects: every event of a low-
// cardinality aggregate; for a sharded kind, every event of a's shard, which
// holds other aggregates' events too (see LegacyFilter for old logs).
func (a Aggregate) Filter() string {
	return SubjectRoot + "." + a.Kind + "." + a.Key() + ".>"
}

// LegacyFilter returns the filter of a's per-id subjects, the only form
// before the shards: for a low-cardinality kind the same as Filter; for a
// sharded kind the events an old log holds of a.
func (a Aggregate) LegacyFilter() string {
	return SubjectRoot + "." + a.Kind + "." + a.ID + ".>"
}

// OnSubject reports whether an event of type eventType on a may be stored
// on subject: a's subject, or for a sharded kind also its old per-id
// subject (logs written before the shards).
func (a Aggregate) OnSubject(subject, eventType string) bool {
	if subject == a.Subject(eventType) {
		return true
	}
	return a.Sharded() && subject == SubjectRoot+"."+a.Kind+"."+a.ID+"."+eventType
}

func (a Aggregate) String() string { return a.Kind + "/" + a.ID }

// ParseAggregate reads the form String writes (the Stamp-Aggregate header).
func ParseAggregate(s string) (Aggregate, bool) {
	kind, id, ok := strings.Cut(s, "/")
	if !ok || !ValidID(kind) || !ValidID(id) {
		return Aggregate{}, false
	}
	return Aggregate{Kind: kind, ID: id}, true
}

// ParseSubject splits an event subject into its aggregate and event type. It
// returns false when subject does not follow the scheme. On a shard subject
// the aggregate's ID is the shard key (IsShardKey), not an aggregate id: the
// id is in the event's data; compare with Aggregate.OnSubject.
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

// SlotID returns the message id that checks an expectation on a sharded
// aggregate agg (Aggregate.Sharded) at sequence seq (ExpectSeq; ExpectNew is
// 0). A shard subject holds many aggregates, so its last sequence says
// nothing of agg's: instead every append made on agg as of seq is
// published under this one Nats-Msg-Id, whatever its events, and JetStream
// stores an id once within its duplicate window. Of two concurrent
// decisions on the same state exactly one is stored; the other append
// finds a different message under the id and fails with ErrConflict, so
// its caller reloads and decides again. Past the window the read models
// show the state the stored decision made, so no decision is taken on seq
// again.
func SlotID(agg Aggregate, seq uint64) string {
	return DerivedID("slot", fmt.Sprintf("%s@%d", agg, seq))
}

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
