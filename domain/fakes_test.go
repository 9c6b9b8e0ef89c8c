package domain

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// memLog is a hand-written in-memory event log with the EventLog contract
// (expected sequences per aggregate, message-id dedupe) that also folds
// every append into an in-memory World at once, as the real runner would,
// and serves the read ports from it.
type memLog struct {
	mu    sync.Mutex
	recs  []Recorded
	aggs  []Aggregate // the aggregate of each of recs
	ids   map[string]uint64
	world World
	// keys, when set, reveals the sealed personal fields of users as they
	// are appended, as the read models do.
	keys *memKeys
	// beforeAppend, when set, runs once inside the next append before its
	// check: tests use it to slip in a concurrent change.
	beforeAppend func()
	// readGate, when set, holds every append until it has seen its number
	// of refresh family reads: a race test uses it so that every racer
	// reads before anyone commits. Set it before the racers start.
	readGate *gate
}

// gate opens once n callers have arrived.
type gate struct {
	mu   sync.Mutex
	n    int
	open chan struct{}
}

func newGate(n int) *gate { return &gate{n: n, open: make(chan struct{})} }

func (g *gate) arrive() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 {
		close(g.open)
	}
}

// wait blocks until the gate opens; a gate that stays shut fails the
// append rather than hang the test.
func (g *gate) wait() error {
	select {
	case <-g.open:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the read gate never opened")
	}
}

func newMemLog() *memLog { return &memLog{ids: map[string]uint64{}, world: NewWorld()} }

func (m *memLog) hook() {
	if h := m.beforeAppend; h != nil {
		m.beforeAppend = nil
		h()
	}
}

func (m *memLog) Append(ctx context.Context, agg Aggregate, expect Expect, envs ...Envelope) (uint64, error) {
	ps := make([]Pending, len(envs))
	for i, env := range envs {
		ps[i] = Pending{Aggregate: agg, Envelope: env}
	}
	return m.AppendAll(ctx, expect, ps...)
}

func (m *memLog) AppendAll(ctx context.Context, expect Expect, ps ...Pending) (uint64, error) {
	if g := m.readGate; g != nil {
		if err := g.wait(); err != nil {
			return 0, err
		}
	}
	m.hook()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(ps) == 0 {
		return 0, fmt.Errorf("no events")
	}
	if seq, dup := m.ids[ps[len(ps)-1].Envelope.ID]; dup {
		// A retry of a stored append, or (a sharded aggregate's slot id,
		// see SlotID) another decision on the same state: JetStream
		// answers the first with the stored sequence, and the eventstore
		// tells the second by its different body.
		if stored := m.recs[seq-1].Envelope; string(stored.Data) != string(ps[len(ps)-1].Envelope.Data) {
			return 0, fmt.Errorf("append %s: %w", ps[0].Aggregate, ErrConflict)
		}
		return seq, nil
	}
	if want, ok := expect.Check(); ok && m.lastLocked(ps[0].Aggregate) != want {
		return 0, fmt.Errorf("append %s: %w", ps[0].Aggregate, ErrConflict)
	}
	for _, p := range ps {
		r := Recorded{Seq: uint64(len(m.recs) + 1), Subject: p.Aggregate.Subject(p.Envelope.Type), Envelope: p.Envelope}
		e, err := Decode(p.Envelope)
		if err != nil {
			return 0, err
		}
		if e.AggregateOf() != p.Aggregate {
			return 0, fmt.Errorf("event %s belongs to %s, not %s", p.Envelope.Type, e.AggregateOf(), p.Aggregate)
		}
		m.recs = append(m.recs, r)
		m.aggs = append(m.aggs, p.Aggregate)
		m.ids[p.Envelope.ID] = r.Seq
		if u, ok := e.(UserRegistered); ok && m.keys != nil {
			if key, err := m.keys.UserKey(ctx, u.UserID); err == nil {
				e, _ = u.Reveal(key)
			}
		}
		m.world.Apply(e, r.Seq, p.Envelope.Time)
	}
	return uint64(len(m.recs)), nil
}

func (m *memLog) lastLocked(agg Aggregate) uint64 {
	var last uint64
	for i, r := range m.recs {
		if m.aggs[i] == agg {
			last = r.Seq
		}
	}
	return last
}

func (m *memLog) Load(ctx context.Context, agg Aggregate) ([]Recorded, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Recorded
	for i, r := range m.recs {
		if m.aggs[i] == agg {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memLog) WaitFor(ctx context.Context, seq uint64) error { return nil }

func get[T any](m *memLog, table map[string]T, id string) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := table[id]
	if !ok {
		var zero T
		return zero, ErrNotFound
	}
	return v, nil
}

func (m *memLog) Client(ctx context.Context, id string) (Client, error) {
	return get(m, m.world.Clients, id)
}

func (m *memLog) AccessToken(ctx context.Context, id string) (AccessToken, error) {
	return get(m, m.world.Tokens, id)
}

func (m *memLog) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SigningKey
	for _, k := range m.world.Keys {
		out = append(out, k)
	}
	return out, nil
}

// events returns the decoded events of the log, in order.
func (m *memLog) events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, r := range m.recs {
		e, _ := Decode(r.Envelope)
		out = append(out, e)
	}
	return out
}

func (m *memLog) Clients(ctx context.Context) ([]Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Client
	for _, c := range m.world.Clients {
		out = append(out, c)
	}
	return out, nil
}

func (m *memLog) User(ctx context.Context, id string) (User, error) { return get(m, m.world.Users, id) }

func (m *memLog) UserByEmail(ctx context.Context, email string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.world.Users {
		if u.Email == NormalizeEmail(email) && u.Exists() {
			return u, nil
		}
	}
	return User{}, ErrNotFound
}

// find returns the first value of table that ok accepts.
func find[T any](m *memLog, table map[string]T, ok func(T) bool) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range table {
		if ok(v) {
			return v, nil
		}
	}
	var zero T
	return zero, ErrNotFound
}

func (m *memLog) AuthCodeByHash(ctx context.Context, hash string) (AuthCode, error) {
	return find(m, m.world.Codes, func(c AuthCode) bool { return c.Hash == hash })
}

func (m *memLog) RefreshFamilyByTokenHash(ctx context.Context, hash string) (RefreshFamily, error) {
	if g := m.readGate; g != nil {
		defer g.arrive()
	}
	return find(m, m.world.Families, func(f RefreshFamily) bool {
		if f.TokenHash == hash {
			return true
		}
		for _, r := range f.Rotated {
			if r.Hash == hash {
				return true
			}
		}
		return false
	})
}

func (m *memLog) DeviceCodeByHash(ctx context.Context, hash string) (DeviceCode, error) {
	return find(m, m.world.Devices, func(d DeviceCode) bool { return d.DeviceCodeHash == hash })
}

func (m *memLog) DeviceCodeByUserCodeHash(ctx context.Context, hash string) (DeviceCode, error) {
	return find(m, m.world.Devices, func(d DeviceCode) bool { return d.UserCodeHash == hash })
}

func (m *memLog) Authorization(ctx context.Context, userID, clientID string) (Authorization, error) {
	return get(m, m.world.Authorizations, AuthorizationID(userID, clientID))
}

func (m *memLog) AccessTokensByUser(ctx context.Context, userID string) ([]AccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AccessToken
	for _, t := range m.world.Tokens {
		if t.UserID == userID {
			out = append(out, t)
		}
	}
	return out, nil
}

func (m *memLog) RefreshFamiliesByUser(ctx context.Context, userID string) ([]RefreshFamily, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RefreshFamily
	for _, f := range m.world.Families {
		if f.UserID == userID {
			out = append(out, f)
		}
	}
	return out, nil
}
