package guardtest

import (
	"context"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// revokedFor is how long Feed.Revoke keeps a jti revoked: longer than any
// token a test mints lives.
const revokedFor = 100 * 365 * 24 * time.Hour

// Feed is an in-memory guard.Feed: what a test tells it reaches every
// guard running it before the call returns, so a request made next sees
// it. It replays everything told so far to a guard that starts running it
// later, and reports the guard current until SetCurrent(false). The zero
// value is not usable; call NewFeed. It is safe for concurrent use.
type Feed struct {
	mu      sync.Mutex
	sinks   map[*guard.Sink]struct{}
	tokens  map[string]time.Time
	clients map[string]struct{}
	users   map[string]struct{}
	current bool
}

// NewFeed returns a current Feed that has revoked nothing.
func NewFeed() *Feed {
	return &Feed{
		sinks: map[*guard.Sink]struct{}{}, tokens: map[string]time.Time{},
		clients: map[string]struct{}{}, users: map[string]struct{}{}, current: true,
	}
}

var _ guard.Feed = (*Feed)(nil)

// Run tells sink everything told so far, then every later call, until ctx
// ends; it returns ctx.Err().
func (f *Feed) Run(ctx context.Context, sink guard.Sink) error {
	f.mu.Lock()
	for jti, until := range f.tokens {
		sink.Revoked(jti, until)
	}
	for id := range f.clients {
		sink.ClientDeleted(id)
	}
	for id := range f.users {
		sink.UserDeleted(id)
	}
	sink.Current(f.current)
	key := &sink
	f.sinks[key] = struct{}{}
	f.mu.Unlock()

	<-ctx.Done()
	f.mu.Lock()
	delete(f.sinks, key)
	f.mu.Unlock()
	return ctx.Err()
}

// Revoke makes the access token jti stop validating (stamp's
// AccessTokenRevoked).
func (f *Feed) Revoke(jti string) {
	until := time.Now().Add(revokedFor)
	f.each(func(s guard.Sink) { s.Revoked(jti, until) }, func() { f.tokens[jti] = until })
}

// DeleteClient makes every token of the client stop validating (stamp's
// ClientDeleted).
func (f *Feed) DeleteClient(id string) {
	f.each(func(s guard.Sink) { s.ClientDeleted(id) }, func() { f.clients[id] = struct{}{} })
}

// DeleteUser makes every token of the user stop validating (stamp's
// UserDeleted).
func (f *Feed) DeleteUser(id string) {
	f.each(func(s guard.Sink) { s.UserDeleted(id) }, func() { f.users[id] = struct{}{} })
}

// SetCurrent reports the feed current or not: a guard that is not current
// answers every request 503, as when it loses NATS.
func (f *Feed) SetCurrent(current bool) {
	f.each(func(s guard.Sink) { s.Current(current) }, func() { f.current = current })
}

// each records a change with remember and tells it to every running sink,
// under the lock so that a Run starting meanwhile misses nothing.
func (f *Feed) each(tell func(guard.Sink), remember func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	remember()
	for s := range f.sinks {
		tell(*s)
	}
}
