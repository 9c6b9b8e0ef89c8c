package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/replymux"
)

// Direct get (JetStream ADR-31): a request on $JS.API.DIRECT.GET.<stream>
// for a batch or for the last message of each subject matching filters is
// answered by the messages, each with its stream headers, then a status
// message: 204 (end of batch, with how many matching messages remain) or
// 404 (none), among others.
const (
	directGetSubject = "$JS.API.DIRECT.GET." + domain.StreamName
	loadBatch        = 512

	hdrStatus      = "Status"
	hdrDescription = "Description"
	hdrSubject     = "Nats-Subject"
	hdrSequence    = "Nats-Sequence"
	hdrNumPending  = "Nats-Num-Pending"
	hdrUpToSeq     = "Nats-UpTo-Sequence"

	statusEndOfBatch   = "204"
	statusNotFound     = "404"
	statusTooMany      = "413"
	statusNoResponders = "503"
)

type directGetRequest struct {
	Seq       uint64   `json:"seq,omitempty"`
	NextFor   string   `json:"next_by_subj,omitempty"`
	Batch     int      `json:"batch,omitempty"`
	MultiLast []string `json:"multi_last,omitempty"`
	// StartTime starts a NextFor batch at the first message at or after it.
	StartTime *time.Time `json:"start_time,omitempty"`
}

// getter sends the direct get requests of one read through the Store's
// reply mux and receives their answers; v reads each message. Close it
// when done.
type getter struct {
	in *replymux.Inbox
	v  *verifier
	// subject is where requests go: directGetSubject if empty. With
	// archive, the archive's answers are checked against offset (see
	// archivedSeq) and verified with their STAMP sequence, but keep their
	// archive sequence in Seq.
	subject string
	archive bool
	offset  uint64
}

func newGetter(mux *replymux.Mux, v *verifier) getter {
	return getter{in: mux.Open(), v: v}
}

func (g getter) close() { g.in.Close() }

// send sends req and returns its reply subject.
func (g getter) send(req directGetRequest) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if g.subject != "" {
		return g.in.Request(g.subject, body)
	}
	return g.in.Request(directGetSubject, body)
}

// recv returns the next answer to any request.
func (g getter) recv(ctx context.Context) (*nats.Msg, error) { return g.in.Recv(ctx) }

// decodeDirect decodes a message answering a direct get, through v: a
// refused message comes back with Refused set and no error.
func decodeDirect(v *verifier, m *nats.Msg) (domain.Recorded, error) {
	seq, err := parseHeader(m, hdrSequence)
	if err != nil {
		return domain.Recorded{}, err
	}
	rec, _ := v.read(seq, m.Header.Get(hdrSubject), m.Header, m.Data)
	return rec, nil
}

// decode is decodeDirect for g's stream.
func (g getter) decode(m *nats.Msg) (domain.Recorded, error) {
	if !g.archive {
		return decodeDirect(g.v, m)
	}
	aseq, err := parseHeader(m, hdrSequence)
	if err != nil {
		return domain.Recorded{}, err
	}
	seq, err := archivedSeq(aseq, g.offset, m.Header)
	if err != nil {
		return domain.Recorded{}, err
	}
	rec, _ := g.v.read(seq, m.Header.Get(hdrSubject), m.Header, m.Data)
	rec.Seq = aseq
	return rec, nil
}

func parseHeader(m *nats.Msg, name string) (uint64, error) {
	n, err := strconv.ParseUint(m.Header.Get(name), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("direct get: bad %s header %q", name, m.Header.Get(name))
	}
	return n, nil
}

func statusError(m *nats.Msg) error {
	if m.Header.Get(hdrStatus) == statusNoResponders {
		return jetstream.ErrNoStreamResponse
	}
	return fmt.Errorf("direct get: status %s %s", m.Header.Get(hdrStatus), m.Header.Get(hdrDescription))
}
