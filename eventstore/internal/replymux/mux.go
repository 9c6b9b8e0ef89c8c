// Package replymux receives the answers to many concurrent NATS requests
// on one wildcard subscription and hands each answer to the inbox that
// sent its request. The event store reads aggregates with JetStream direct
// get (ADR-31), whose requests are each answered by several messages.
//
// Contract: a Mux is made once per connection and lives as long as it (it
// never unsubscribes). Each Inbox of a Mux has its own subject under the
// Mux's prefix, and each request an Inbox sends has its own reply subject
// under the Inbox's, which Request returns: answers to pipelined requests
// may interleave (different replicas may answer them), and the caller
// tells them apart by their Subject. Answers reach the Inbox in the order
// the connection receives them; none is dropped while the Inbox is open,
// however slow its reader (the subscription queues without limit).
// Answers to an Inbox that has been closed are discarded.
//
// Concurrency: a Mux is safe for concurrent use; an Inbox belongs to one
// goroutine, which must Close it when done.
//
// Cost model: one subscription per connection, where a subscription per
// read would cost more than the read itself (the server rebuilds its
// subscription cache on every subscribe and unsubscribe). The price is
// head-of-line blocking: the subscription's one goroutine hands answers
// over one at a time, so an open Inbox whose buffer (inboxBuffer answers)
// is full holds up the answers of every other Inbox until its reader takes
// one or closes it.
package replymux

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// inboxBuffer is how many answers an Inbox holds before its reader takes
// them.
const inboxBuffer = 64

// Mux receives the answers to every Inbox made from it. See the package
// comment for its contract.
type Mux struct {
	nc     *nats.Conn
	prefix string // prefix.<inbox>.<request>

	mu      sync.Mutex
	inboxes map[string]*Inbox
	next    uint64
}

// New subscribes to the answers of nc's requests through the Mux, under a
// new inbox subject of nc (nats.Conn.NewInbox, so the connection's custom
// inbox prefix and the permissions granted to it apply). It fails when the
// subscription fails.
func New(nc *nats.Conn) (*Mux, error) {
	m := &Mux{nc: nc, prefix: nc.NewInbox(), inboxes: map[string]*Inbox{}}
	// An asynchronous subscription queues answers instead of dropping them
	// when an inbox is slow to take them.
	sub, err := nc.Subscribe(m.prefix+".>", m.deliver)
	if err != nil {
		return nil, fmt.Errorf("replymux: subscribe: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("replymux: pending limits: %w", err)
	}
	return m, nil
}

// deliver hands msg to its inbox, waiting while the inbox is open and
// full; it drops msg when the inbox is unknown or closed.
func (m *Mux) deliver(msg *nats.Msg) {
	rest, ok := strings.CutPrefix(msg.Subject, m.prefix+".")
	if !ok {
		return
	}
	id, _, _ := strings.Cut(rest, ".")
	m.mu.Lock()
	in := m.inboxes[id]
	m.mu.Unlock()
	if in == nil {
		return // closed
	}
	select {
	case in.msgs <- msg:
	case <-in.done:
	}
}

// Inbox sends requests and receives their answers through its Mux. It is
// not safe for concurrent use.
type Inbox struct {
	mux     *Mux
	id      string
	subject string
	msgs    chan *nats.Msg
	done    chan struct{}
	n       int // requests sent
}

// Open returns a new Inbox; the caller must Close it.
func (m *Mux) Open() *Inbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	id := strconv.FormatUint(m.next, 36)
	in := &Inbox{mux: m, id: id, subject: m.prefix + "." + id, msgs: make(chan *nats.Msg, inboxBuffer), done: make(chan struct{})}
	m.inboxes[id] = in
	return in
}

// Close stops the Inbox's deliveries: later answers are discarded. It must
// be called exactly once.
func (in *Inbox) Close() {
	in.mux.mu.Lock()
	delete(in.mux.inboxes, in.id)
	in.mux.mu.Unlock()
	close(in.done)
}

// Request publishes body on subject with a reply subject of its own, and
// returns that reply subject: the Subject of every answer to it. It fails
// as nats.Conn.PublishRequest does.
func (in *Inbox) Request(subject string, body []byte) (reply string, err error) {
	in.n++
	reply = in.subject + "." + strconv.Itoa(in.n)
	if err := in.mux.nc.PublishRequest(subject, reply, body); err != nil {
		return "", fmt.Errorf("replymux: request on %s: %w", subject, err)
	}
	return reply, nil
}

// Recv returns the next answer to any of the Inbox's requests, or ctx's
// error when ctx ends first.
func (in *Inbox) Recv(ctx context.Context) (*nats.Msg, error) {
	select {
	case msg := <-in.msgs:
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
