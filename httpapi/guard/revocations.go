package guard

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Sink is what a Feed tells the guard: domain.RevocationSink, which
// eventstore.RevocationFeed's Run takes too, so that it satisfies Feed
// without either package importing the other. The guard forgets a revoked
// jti after its until, and answers 503 while the feed is not Current.
type Sink = domain.RevocationSink

// Feed streams revocations into a Sink. Run tells sink about every
// revocation still relevant, then every new one, until ctx ends or it
// fails; it reports Current as it goes. The guard runs it for its whole
// life and starts it again, after a pause, when it returns early. The
// methods of the sink it is given are safe for concurrent use.
// *eventstore.RevocationFeed implements it.
type Feed interface {
	Run(ctx context.Context, sink Sink) error
}

// sink is the guard's Sink.
type sink struct{ g *Guard }

func (s sink) Revoked(jti string, until time.Time) { s.g.revs.revoke(jti, until) }
func (s sink) ClientDeleted(id string)             { s.g.revs.deleteClient(id) }
func (s sink) UserDeleted(id string)               { s.g.revs.deleteUser(id) }
func (s sink) Current(current bool)                { s.g.setCurrent(current) }

// revocations is the set of revoked tokens (until their expiry), deleted
// clients and deleted users. Lookups take a read lock: they are three map
// reads, and writes are rare.
type revocations struct {
	mu      sync.RWMutex
	tokens  map[string]int64 // jti → until, Unix seconds
	expiry  expiryHeap       // the same, soonest first, for pruning
	clients map[string]struct{}
	users   map[string]struct{}
}

func newRevocations() revocations {
	return revocations{tokens: map[string]int64{}, clients: map[string]struct{}{}, users: map[string]struct{}{}}
}

func (r *revocations) revoke(jti string, until time.Time) {
	u := until.Unix()
	if until.Nanosecond() > 0 {
		u++ // round up: keep it a little longer, never shorter
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.tokens[jti]; ok && old >= u {
		return
	}
	r.tokens[jti] = u
	heap.Push(&r.expiry, expiring{until: u, jti: jti})
}

func (r *revocations) deleteClient(id string) {
	r.mu.Lock()
	r.clients[id] = struct{}{}
	r.mu.Unlock()
}

func (r *revocations) deleteUser(id string) {
	r.mu.Lock()
	r.users[id] = struct{}{}
	r.mu.Unlock()
}

// rejects reports whether a token with this jti, client and user (""
// for none) stopped validating.
func (r *revocations) rejects(jti, clientID, userID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.tokens[jti]; ok {
		return true
	}
	if _, ok := r.clients[clientID]; ok {
		return true
	}
	if userID == "" {
		return false
	}
	_, ok := r.users[userID]
	return ok
}

// pruneBatch bounds how long prune holds the write lock at a time.
const pruneBatch = 4096

// prune forgets the revoked tokens that expired before now, and returns
// how many.
func (r *revocations) prune(now time.Time) int {
	cut := now.Unix()
	n := 0
	for {
		r.mu.Lock()
		i := 0
		for ; i < pruneBatch && len(r.expiry) > 0 && r.expiry[0].until < cut; i++ {
			e := heap.Pop(&r.expiry).(expiring)
			// A later revocation of the same jti may have moved it on.
			if r.tokens[e.jti] == e.until {
				delete(r.tokens, e.jti)
				n++
			}
		}
		more := i == pruneBatch
		r.mu.Unlock()
		if !more {
			return n
		}
	}
}

// size returns how many tokens, clients and users are held.
func (r *revocations) size() (tokens, clients, users int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tokens), len(r.clients), len(r.users)
}

type expiring struct {
	until int64
	jti   string
}

// expiryHeap is a container/heap of expiring, soonest first.
type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
