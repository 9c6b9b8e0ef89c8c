package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
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
}

// replyMux receives the answers to every direct get of a Store on one
// wildcard subscription and hands each to the getter that sent the request.
// A subscription per Load would cost more than the Load: the server updates
// its subscription cache on every subscribe and unsubscribe.
type replyMux struct {
	nc     *nats.Conn
	prefix string // prefix.<getter>.<request>

	mu      sync.Mutex
	getters map[string]*getter
	next    uint64
}

func newReplyMux(nc *nats.Conn) (*replyMux, error) {
	r := &replyMux{nc: nc, prefix: nc.NewInbox(), getters: map[string]*getter{}}
	// An asynchronous subscription queues answers instead of dropping them
	// when a getter is slow to take them.
	sub, err := nc.Subscribe(r.prefix+".>", r.deliver)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *replyMux) deliver(m *nats.Msg) {
	rest, ok := strings.CutPrefix(m.Subject, r.prefix+".")
	if !ok {
		return
	}
	id, _, _ := strings.Cut(rest, ".")
	r.mu.Lock()
	g := r.getters[id]
	r.mu.Unlock()
	if g == nil {
		return // its Load has returned
	}
	select {
	case g.msgs <- m:
	case <-g.done:
	}
}

// getter sends direct get requests and receives their answers, each request
// on its own reply subject (pipelined requests may be answered by different
// replicas, so answers can interleave).
type getter struct {
	mux   *replyMux
	v     *verifier
	id    string
	inbox string
	msgs  chan *nats.Msg
	done  chan struct{}
	n     int // requests sent
}

func (r *replyMux) newGetter(v *verifier) *getter {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	id := strconv.FormatUint(r.next, 36)
	g := &getter{mux: r, v: v, id: id, inbox: r.prefix + "." + id, msgs: make(chan *nats.Msg, 64), done: make(chan struct{})}
	r.getters[id] = g
	return g
}

func (g *getter) close() {
	g.mux.mu.Lock()
	delete(g.mux.getters, g.id)
	g.mux.mu.Unlock()
	close(g.done)
}

// send sends req and returns its reply subject.
func (g *getter) send(req directGetRequest) (string, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	g.n++
	reply := g.inbox + "." + strconv.Itoa(g.n)
	return reply, g.mux.nc.PublishRequest(directGetSubject, reply, body)
}

// recv returns the next answer to any request.
func (g *getter) recv(ctx context.Context) (*nats.Msg, error) {
	select {
	case m := <-g.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

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
